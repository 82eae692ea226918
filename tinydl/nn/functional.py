"""The functional forms of the layers and losses, under PyTorch's names (``torch.nn.functional``).

A Module such as ``nn.Linear`` owns its weights and calls one of these; the
functions themselves keep no state, so you pass the weights in:

    import tinydl.nn.functional as F
    y = F.relu(F.linear(x, weight, bias))

They are the ops of ``tinydl/ops`` (where their formulas and backward
passes live), re-exported here so that the familiar spelling works.
"""

from ..ops import (
    avg_pool2d,
    batch_norm,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    conv2d,
    conv2d_relu_maxpool2d,
    cross_entropy,
    dice_loss,
    dropout,
    flatten,
    group_norm,
    layer_norm,
    log_softmax,
    matmul,
    max_pool2d,
    mse_loss,
    nll_loss,
    one_hot,
    relu,
    scaled_dot_product_attention,
    sigmoid,
    softmax,
    tanh,
    transpose,
)
from ..ops.activation import elu, gelu, hardtanh, leaky_relu, silu, softplus
from ..ops.conv import conv_transpose2d, max_unpool2d
from ..ops.linear import linear
from ..ops.padding import pad
from ..ops.resize import adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, interpolate
from ..ops.volume import avg_pool3d, conv3d, max_pool3d

__all__ = [
    "avg_pool2d",
    "avg_pool3d",
    "conv3d",
    "max_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "conv_transpose2d",
    "max_unpool2d",
    "interpolate",
    "pad",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "conv2d_relu_maxpool2d",
    "cross_entropy",
    "dice_loss",
    "dropout",
    "max_pool2d",
    "flatten",
    "group_norm",
    "layer_norm",
    "linear",
    "log_softmax",
    "matmul",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "softmax",
    "tanh",
    "transpose",
    "elu",
    "gelu",
    "hardtanh",
    "leaky_relu",
    "silu",
    "softplus",
]
