"""The functional forms of the layers and losses, under PyTorch's names (``torch.nn.functional``).

A Module such as ``nn.Linear`` owns its weights and calls one of these; the
functions themselves keep no state, so you pass the weights in:

    import tinydl.nn.functional as F
    y = F.relu(F.linear(x, weight, bias))

All but ``linear`` are the ops of ``tinydl/ops`` (where their formulas and
backward passes live), re-exported here so that the familiar spelling works.
"""
from ..ops import (
    avg_pool2d, batch_norm, binary_cross_entropy_with_logits, conv2d, conv2d_relu_maxpool2d, cross_entropy, dropout, max_pool2d, flatten, log_softmax, matmul, mse_loss, relu,
    sigmoid, softmax, tanh, transpose,
)
from ..tensor import as_tensor

__all__ = [
    "avg_pool2d", "batch_norm", "binary_cross_entropy_with_logits", "conv2d", "conv2d_relu_maxpool2d", "cross_entropy", "dropout", "max_pool2d", "flatten", "linear", "log_softmax", "mse_loss",
    "relu", "sigmoid", "softmax", "tanh",
]


def linear(x, weight, bias=None):
    """y = x Wᵀ + b  for x of shape (..., in), W of shape (out, in), b of shape (out,).

    Row i of W holds the weights of output unit i, so output i is the neuron
    yᵢ = wᵢ · x + bᵢ. Gradients come from the matmul and add ops:
    ∂L/∂x = (∂L/∂y) W,  ∂L/∂W = (∂L/∂y)ᵀ x,  ∂L/∂b = Σ_batch ∂L/∂y.
    """
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must have shape (out_features, in_features), got {weight.shape}")
    y = matmul(x, transpose(weight))
    return y if bias is None else y + bias
