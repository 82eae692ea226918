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
    binary_cross_entropy_with_logits,
    conv2d,
    conv2d_relu_maxpool2d,
    cross_entropy,
    dropout,
    flatten,
    log_softmax,
    matmul,
    max_pool2d,
    mse_loss,
    relu,
    sigmoid,
    softmax,
    tanh,
    transpose,
)
from ..ops.linear import linear

__all__ = [
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "conv2d_relu_maxpool2d",
    "cross_entropy",
    "dropout",
    "max_pool2d",
    "flatten",
    "linear",
    "log_softmax",
    "matmul",
    "mse_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
    "transpose",
]
