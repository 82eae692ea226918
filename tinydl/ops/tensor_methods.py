"""What you can do with a Tensor: its operators and methods, each one an op of this package.

``a + b`` calls ``Tensor.__add__``, which is :func:`tinydl.ops.add` — the
table below says so for every operator and method. The table lives here, not
in ``tensor.py``, so that the dependency runs one way: the ops import the
Tensor class, and the Tensor class imports no op (Chainer installs its
Variable's operators the same way, in ``chainer.functions.math.basic_math``).
``tinydl/ops/__init__.py`` calls :func:`install` once, when the package loads.
"""

from ..device import is_device_spec
from ..tensor import Tensor, float32, float64
from . import activation, arithmetic, elementwise, reduction, selection, shape


def _swapped(op):
    """The reflected operator: ``2 - x`` calls ``x.__rsub__(2)``, which is ``sub(2, x)``."""

    def reflected(self, other):
        return op(other, self)

    reflected.__name__ = f"reflected_{op.__name__}"
    return reflected


def to(self, target):
    """This tensor on another device (``'cpu'``, ``'cuda'``, ``'cuda:N'``) or as another dtype.

    Like PyTorch: the result is a new tensor connected to the graph (gradients
    flow back to this one's device), or ``self`` when nothing changes.
    """
    if is_device_spec(target):
        return elementwise.to_device(self, target)
    return elementwise.astype(self, target)


def cpu(self):
    return to(self, "cpu")


def cuda(self, index=0):
    return to(self, f"cuda:{index}")


def to_float32(self):
    return elementwise.astype(self, float32)


def to_float64(self):
    return elementwise.astype(self, float64)


def transposed(self):
    """All axes reversed (the matrix transpose for 2-D tensors)."""
    return shape.permute(self, *reversed(range(self.ndim)))


# A table: related entries share a line (the formatter leaves it alone).
# fmt: off
TENSOR_METHODS = {
    # operators: a + b, 2 * a, a @ b, -a, a[i]
    "__add__": arithmetic.add, "__radd__": _swapped(arithmetic.add),
    "__sub__": arithmetic.sub, "__rsub__": _swapped(arithmetic.sub),
    "__mul__": arithmetic.mul, "__rmul__": _swapped(arithmetic.mul),
    "__truediv__": arithmetic.div, "__rtruediv__": _swapped(arithmetic.div),
    "__pow__": arithmetic.pow, "__rpow__": _swapped(arithmetic.pow),
    "__matmul__": arithmetic.matmul, "__rmatmul__": _swapped(arithmetic.matmul),
    "__neg__": arithmetic.neg,
    "__getitem__": shape.getitem,
    # elementwise and reductions: x.exp(), x.sum(axis=1)
    "exp": elementwise.exp, "log": elementwise.log, "sqrt": elementwise.sqrt, "abs": elementwise.abs,
    "log2": elementwise.log2, "log10": elementwise.log10, "rsqrt": elementwise.rsqrt,
    "sin": elementwise.sin, "cos": elementwise.cos,
    "floor": elementwise.floor, "ceil": elementwise.ceil, "round": elementwise.round, "sign": elementwise.sign,
    "isnan": elementwise.isnan, "isinf": elementwise.isinf, "isfinite": elementwise.isfinite,
    "clip": elementwise.clip, "clamp": elementwise.clip,
    "sum": reduction.sum, "mean": reduction.mean, "max": reduction.max, "min": reduction.min,
    "var": reduction.var, "std": reduction.std, "logsumexp": reduction.logsumexp, "prod": reduction.prod,
    "cumsum": reduction.cumsum, "any": reduction.any, "all": reduction.all,
    # selection: x.argmax(axis=1), x.sort(), x.gather(1, index) (indices pass no gradient)
    "argmax": selection.argmax, "argmin": selection.argmin, "argsort": selection.argsort,
    "sort": selection.sort, "topk": selection.topk, "gather": selection.gather,
    "masked_fill": selection.masked_fill, "nonzero": selection.nonzero,
    # shapes: x.reshape(2, 3), x.T
    "reshape": shape.reshape, "flatten": shape.flatten, "transpose": shape.transpose, "permute": shape.permute,
    "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze, "unflatten": shape.unflatten, "expand": shape.expand,
    "flip": shape.flip, "repeat": shape.repeat, "repeat_interleave": shape.repeat_interleave, "roll": shape.roll,
    "split": shape.split, "chunk": shape.chunk, "tril": shape.tril, "triu": shape.triu,
    "T": property(transposed),
    # activations
    "relu": activation.relu, "sigmoid": activation.sigmoid, "tanh": activation.tanh,
    "softmax": activation.softmax, "log_softmax": activation.log_softmax,
    # dtype and device
    "astype": elementwise.astype,
    "float": to_float32, "double": to_float64,
    "to": to, "cpu": cpu, "cuda": cuda,
}
# fmt: on


def install():
    """Attach every entry of :data:`TENSOR_METHODS` to the Tensor class."""
    for name, method in TENSOR_METHODS.items():
        setattr(Tensor, name, method)
