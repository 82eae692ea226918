"""Arithmetic: + - * / ** @ and negation.

Every binary op broadcasts like NumPy; its backward sums the gradient back
down to each input's shape with :func:`unbroadcast`.
"""

import numpy as np

from .. import kernels
from ..backend import array_module
from ..function import Function
from ..tensor import as_tensor
from ._util import float_input, pair, unbroadcast


class Add(Function):
    """z = a + b.   ∂z/∂a = 1,  ∂z/∂b = 1."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.shapes
        return unbroadcast(grad, a_shape), unbroadcast(grad, b_shape)


class Sub(Function):
    """z = a − b.   ∂z/∂a = 1,  ∂z/∂b = −1."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.shapes
        return unbroadcast(grad, a_shape), unbroadcast(-grad, b_shape)


class Mul(Function):
    """z = a · b (elementwise).   ∂z/∂a = b,  ∂z/∂b = a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        # BEGIN SOLUTION assignment=1 task=mul_backward hint="dz/da = b and dz/db = a; unbroadcast(g, shape) sums the broadcast axes back"
        grad_a = unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None
        # END SOLUTION
        return grad_a, grad_b


class Div(Function):
    """z = a / b.   ∂z/∂a = 1/b,  ∂z/∂b = −a/b²."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        # BEGIN SOLUTION assignment=1 task=div_backward hint="dz/da = 1/b and dz/db = -a/b^2, then unbroadcast to each input's shape"
        grad_a = unbroadcast(grad / b, a.shape) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(-grad * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        # END SOLUTION
        return grad_a, grad_b


class Neg(Function):
    """z = −a.   ∂z/∂a = −1."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """z = a ** b.   ∂z/∂a = b·a^(b−1),  ∂z/∂b = a^b · ln a  (needs a > 0).

    At a = 0 the formulas give 0·0^(−1) = NaN and 0·ln 0 = NaN; PyTorch's convention,
    followed here, is that those points pass 0:
      ∂z/∂a = 0 where b = 0      (a⁰ = 1 is constant in a, also at a = 0),
      ∂z/∂b = 0 where a = 0 and b ≥ 0   (0^b is 0 or 1 there: no slope to follow).
    Elsewhere the formulas stand, infinities and NaNs included (0^(−1) has ∂z/∂a = −∞,
    a negative base has ∂z/∂b = NaN), as in PyTorch.
    """

    @staticmethod
    def forward(ctx, a, b):
        out = (a**b).astype(a.dtype, copy=False)  # NumPy makes bool ** bool int8; PyTorch keeps bool
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved
        xp = array_module(a)
        zero = xp.zeros((), dtype=grad.dtype)
        grad_a = grad_b = None
        # The masked points compute inf·0 or log(0) on the way; the where() replaces them.
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                grad_a = unbroadcast(xp.where(b == 0, zero, grad * b * a ** (b - 1)), a.shape)
            if ctx.needs_input_grad[1]:
                flat = (a == 0) & (b >= 0)
                grad_b = unbroadcast(xp.where(flat, zero, grad * out * xp.log(a)), b.shape)
        return grad_a, grad_b


def matmul_arrays(a, b):
    """a @ b on arrays (no graph); 2-D float matrices go through the kernel registry of their device.

    Every matrix product of the ops (matmul, linear) comes here, so ``td.kernels.use("matmul", ...)``
    swaps the kernel under all of them.
    """
    # The BLAS call can leave the CPU's "invalid" flag set even for all-zero inputs (seen once in
    # CI as "invalid value encountered in matmul" on (1, 2) @ (2, 5) zeros, not reproducible alone);
    # a real NaN or inf still shows in the result, so the flag is ignored here.
    with np.errstate(invalid="ignore"):
        if a.ndim == 2 and b.ndim == 2 and isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return kernels.get("matmul").matmul(a, b)
        if a.ndim == 2 and b.ndim == 2 and kernels.device_of_array(a) == "cuda" and a.dtype.kind == b.dtype.kind == "f":
            return kernels.get("matmul", device="cuda").matmul(a, b)
        return a @ b


class MatMul(Function):
    """Z = A @ B, with NumPy's rules for 1-D and batched (≥3-D) operands.

    For matrices, Z_ij = Σ_k A_ik B_kj, so
        ∂L/∂A = ∂L/∂Z · Bᵀ      ∂L/∂B = Aᵀ · ∂L/∂Z.
    A 1-D operand is treated as a row (A) or column (B) vector; batch axes
    broadcast and are summed back by :func:`unbroadcast`.
    """

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul needs tensors with at least 1 dimension, got shapes {a.shape} and {b.shape}; use * for scalars"
            )
        k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} do not match: the last dimension of the first "
                f"({k_a}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} dimension of the second ({k_b})"
            )
        ctx.save_for_backward(a, b)
        return matmul_arrays(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        xp = array_module(a)
        # Promote vectors to matrices so that one formula covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # The output lost B's column axis (last) and A's row axis (before it):
        # put them back in that order, so that vector @ vector (a 0-d grad) works too.
        g2 = grad
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        grad_a = grad_b = None
        # BEGIN SOLUTION assignment=1 task=matmul_backward hint="dL/dA = dL/dZ @ B^T and dL/dB = A^T @ dL/dZ (swapaxes(-1, -2) transposes); unbroadcast to a2/b2 shapes, then reshape to a/b"
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(matmul_arrays(g2, xp.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(matmul_arrays(xp.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        # END SOLUTION
        return grad_a, grad_b


def add(a, b):
    return Add.apply(*pair(a, b))


def sub(a, b):
    return Sub.apply(*pair(a, b))


def mul(a, b):
    return Mul.apply(*pair(a, b))


def div(a, b):
    """a / b, true division: integer operands give the default float dtype (float32), as in PyTorch."""
    a, b = pair(a, b)
    if a.dtype.kind != "f":
        a, b = float_input(a), float_input(b)
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(as_tensor(a))


def pow(a, b):
    """a ** b (types promoted as PyTorch does: an integer base with a float exponent gives float32)."""
    return Pow.apply(*pair(a, b))


def matmul(a, b):
    return MatMul.apply(*pair(a, b))
