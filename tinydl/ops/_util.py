"""Small helpers shared by the op families."""

from ..tensor import Tensor, as_tensor


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the backward of NumPy broadcasting.

    If ``a`` of shape (3, 1) was broadcast to (2, 3, 4) in the forward pass,
    each of its elements was used 2·4 times, so its gradient is the sum of the
    gradients of all those uses: sum over the new leading axis and over the
    axis where ``a`` had size 1.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def pair(a, b):
    """Make both operands of a binary op Tensors; a Python number takes the other's dtype."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def normalize_axis(axis, ndim):
    """Return ``axis`` as a tuple of non-negative ints (None means every axis).

    A 0-d tensor accepts axis 0 or -1, as in PyTorch; there is nothing to reduce, so it gives ().
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    n = max(ndim, 1)
    out = []
    for a in axes:
        if not -n <= a < n:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % n)
    return tuple(out) if ndim else ()
