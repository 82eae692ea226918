"""Small helpers shared by the op families: broadcasting's backward, PyTorch's type promotion, axes."""

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import DEFAULT_DTYPE, Tensor, as_tensor


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


class AsType(Function):
    """y = x converted to another floating dtype.   dy/dx = 1 (the gradient is cast back)."""

    @staticmethod
    def forward(ctx, x, dtype=None):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype)


def cast(x, dtype):
    """``x`` (a Tensor) as ``dtype``: itself if it already is, differentiable to a float dtype.

    A cast to an integer or boolean dtype is not differentiable, so it leaves the graph.
    """
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind != "f":
        return Tensor._from_array(x.data.astype(dtype))
    return AsType.apply(x, dtype=dtype)


# ------------------------------------------------------------------ type promotion
def promote_types(a, b):
    """PyTorch's lattice for two dtypes: bool < integers < floats, and within a category the wider one.

    It differs from NumPy's in one place: any float meets any integer as that float
    (int64 with float32 gives float32 in PyTorch, float64 in NumPy).
    """
    a, b = np.dtype(a), np.dtype(b)
    if a == b:
        return a
    if a.kind == "f" and b.kind != "f":
        return a
    if b.kind == "f" and a.kind != "f":
        return b
    return np.promote_types(a, b)  # bool < uint8 < int8 < ... < int64, float16 < float32 < float64


def _category_combined(higher, lower):
    """Result of a higher-priority group (``higher``) and a lower one: the lower counts only if its category is higher."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher  # both integer: the dimensioned / 0-d one keeps its width


def scalar_dtype(x):
    """The dtype a Python (or NumPy) scalar stands for in promotion: its category, at the default width."""
    if isinstance(x, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(x, (int, np.integer)):
        return np.dtype(np.int64)
    return np.dtype(DEFAULT_DTYPE)


def is_scalar(x):
    return isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating))


def result_type(*operands):
    """The dtype of a binary (or n-ary) elementwise op on ``operands``, by PyTorch's promotion rules.

    The operands fall in three groups, in order of priority:

    1. tensors (and arrays) with at least one dimension,
    2. 0-d tensors,
    3. Python (or NumPy) scalars, which stand for their *category* only: a Python
       float counts as the default float dtype (float32), an int as int64, a bool as bool.

    Within each group the dtypes are promoted on the lattice of :func:`promote_types`.
    Then a lower group changes the result only when its category (bool < integer < float)
    is higher than that of the groups above it; it then brings its own dtype in. So

        int64 tensor + 2.5                → float32    (the scalar's category, the default width)
        float16 tensor + 2.5              → float16    (same category: the tensor wins)
        int32 tensor + 5                  → int32
        float32 tensor + float64 0-d      → float32    (0-d tensors do not widen dimensioned ones)
        int64 tensor + float64 0-d        → float64    (a higher category brings its dtype)
        float32 tensor + float64 tensor   → float64    (both dimensioned: the lattice)
        int64 tensor + float32 tensor     → float32    (NumPy would say float64)
    """
    dims = zero = scalars = None
    for x in operands:
        if is_scalar(x):
            scalars = scalar_dtype(x) if scalars is None else promote_types(scalars, scalar_dtype(x))
            continue
        dtype, ndim = (x.dtype, x.ndim) if hasattr(x, "dtype") and hasattr(x, "ndim") else _dtype_ndim(x)
        if ndim:
            dims = dtype if dims is None else promote_types(dims, dtype)
        else:
            zero = dtype if zero is None else promote_types(zero, dtype)
    return _category_combined(dims, _category_combined(zero, scalars))


def _dtype_ndim(x):
    t = as_tensor(x)
    return t.dtype, t.ndim


def _operand(x, dtype, like):
    """``x`` as a Tensor of ``dtype`` (a scalar is made on ``like``'s device)."""
    if is_scalar(x):
        xp = array_module(like.data) if like is not None else np
        return Tensor._from_array(xp.asarray(x, dtype=dtype))
    return cast(as_tensor(x), dtype)


def promoted(*operands):
    """All ``operands`` as Tensors of their common dtype (:func:`result_type`); casts keep the graph."""
    dtype = result_type(*operands)
    like = next((x for x in operands if isinstance(x, Tensor)), None)
    return tuple(_operand(x, dtype, like) for x in operands)


def pair(a, b):
    """Make both operands of a binary op Tensors of one dtype, by PyTorch's promotion (:func:`result_type`)."""
    return promoted(a, b)


def float_input(x):
    """``x`` as a Tensor, an integer or boolean one cast to the default float dtype (float32).

    For ops whose result is never an integer (exp, log, sqrt, sin, true division, ...),
    as PyTorch does: ``torch.exp(torch.tensor([1]))`` is float32.
    """
    x = as_tensor(x)
    return x if x.dtype.kind == "f" else cast(x, DEFAULT_DTYPE)


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
