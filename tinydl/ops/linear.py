"""The fully connected layer as one op: y = x Wᵀ + b.

It could be built from ``matmul``, ``transpose`` and ``+`` (three graph nodes),
and that is how to think of it; as one op its backward pass can hand back ∂L/∂W
in W's own (out, in) layout — no transposed gradient to copy before the
optimiser reads it — and the graph is three times smaller.
"""

from ..function import Function
from ..tensor import as_tensor
from .arithmetic import matmul_arrays


class Linear(Function):
    """y = x Wᵀ + b  for x (..., in), W (out, in), b (out,); batch axes flattened into rows.

    With X the rows of x, shape (N, in), and G = ∂L/∂y, shape (N, out):
        ∂L/∂X = G W          (N, out) · (out, in)
        ∂L/∂W = Gᵀ X         (out, N) · (N, in): each weight gathers input × output-gradient over the batch
        ∂L/∂b = Σ_rows G     every row used the same b
    """

    @staticmethod
    def forward(ctx, x, w, *bias):  # the bias is optional: Linear.apply(x, w) or Linear.apply(x, w, b)
        ctx.save_for_backward(x, w)
        ctx.has_bias = bool(bias)
        rows = x.reshape(-1, x.shape[-1])
        y = matmul_arrays(rows, w.T)
        if bias:
            b = bias[0]
            if b.dtype == y.dtype:
                y += b  # y is a fresh array: add in place
            else:  # mixed precision: promote as NumPy does
                y = y + b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        g = grad.reshape(-1, w.shape[0])
        grad_x = matmul_arrays(g, w).reshape(x.shape) if ctx.needs_input_grad[0] else None
        grad_w = matmul_arrays(g.T, x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
        if not ctx.has_bias:
            return grad_x, grad_w
        grad_b = g.sum(axis=0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def linear(x, weight, bias=None):
    """y = x Wᵀ + b  for x of shape (..., in), W of shape (out, in), b of shape (out,).

    Row i of W holds the weights of output unit i, so output i is the neuron
    yᵢ = wᵢ · x + bᵢ (see :class:`Linear` for the backward pass).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must have shape (out_features, in_features), got {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not match the weight {weight.shape}: "
            f"its last axis must be in_features = {weight.shape[1]}"
        )
    if bias is None:
        return Linear.apply(x, weight)
    bias = as_tensor(bias)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return Linear.apply(x, weight, bias)
