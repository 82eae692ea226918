"""Neural-network building blocks: Module, Parameter, layers, losses, ``functional`` and ``init``.

import tinydl as td
model = td.nn.Sequential(td.nn.Linear(2, 16), td.nn.ReLU(), td.nn.Linear(16, 1))
loss = td.nn.MSELoss()(model(x), y)
"""

from . import functional, init
from .activations import ELU, GELU, Hardtanh, LeakyReLU, SiLU, Softplus
from .conv import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    AvgPool3d,
    Conv2d,
    Conv3d,
    ConvTranspose2d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool2d,
    Upsample,
)
from .layers import (
    Flatten,
    Identity,
    Linear,
    LogSoftmax,
    ModuleDict,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, MSELoss, NLLLoss
from .module import IncompatibleKeys, Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, Dropout, GroupNorm, LayerNorm

__all__ = [
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "ConvTranspose2d",
    "MaxUnpool2d",
    "AvgPool3d",
    "Conv3d",
    "MaxPool3d",
    "Upsample",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "GroupNorm",
    "LayerNorm",
    "Conv2d",
    "Dropout",
    "MaxPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "Flatten",
    "Identity",
    "IncompatibleKeys",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "NLLLoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "ELU",
    "GELU",
    "Hardtanh",
    "LeakyReLU",
    "SiLU",
    "Softplus",
    "functional",
    "init",
]
