"""The Tensor: an n-dimensional array that remembers how it was computed.

A Tensor wraps a NumPy array (``.data``) and adds three things for autograd:
``requires_grad`` (do we want dL/d(this tensor)?), ``grad`` (where that
gradient lands after ``backward()``) and ``_ctx`` (the :class:`Context` of the
operation that produced it, i.e. its edge in the computational graph).

A Tensor is also a *node* of the graph the engine walks: ``parents``,
``chain_rule``, ``accumulate_grad`` and ``free_graph`` below are the whole of
what :mod:`tinydl.autograd` asks of it.

All arithmetic lives in ``tinydl/ops/``, one family of operations per file,
each op's forward and backward side by side. The operators (``a @ b + c``)
and methods (``x.sum()``, ``x.relu()``, ``x.to("cuda")``) are attached to
Tensor by the table in ``tinydl/ops/tensor_methods.py``: ops import tensor,
never the reverse, so this file depends only on NumPy, the engine and the
device helpers.
"""

import numpy as np

from . import autograd
from .backend import array_module
from .device import device_of, move

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")
DEFAULT_DTYPE = float32


# What a tensor may hold: booleans, integers and floats (NumPy dtype kinds b, i, u, f). Anything else
# would only fail later, far from where it came in, or compute nonsense (strings, bytes, objects).
_REFUSED_KINDS = {
    "U": "strings",
    "S": "bytes",
    "O": "Python objects",
    "c": "complex numbers, which tinydl does not support",
    "M": "dates",
    "m": "time spans",
    "V": "raw or structured records",
}


def _check_kind(arr, data):
    if arr.dtype.kind not in "biuf":
        what = _REFUSED_KINDS.get(arr.dtype.kind, "not numbers")
        hint = "; convert with .astype(np.float32) first" if arr.dtype.kind == "O" else ""
        raise TypeError(
            f"cannot make a tensor from {type(data).__name__} of dtype {arr.dtype.str} ({what}); "
            f"tensors hold numbers or booleans (bool, int, float){hint}"
        )


def _to_array(data, dtype=None, copy=True):
    """Turn ``data`` (a list, scalar, NumPy/CuPy array or Tensor) into an array.

    Python floats become float32 (the default dtype, as in PyTorch) unless
    ``dtype`` says otherwise; NumPy arrays keep their dtype. Strings, bytes,
    Python objects and complex numbers are refused with a TypeError naming the
    dtype — checked before any ``dtype`` conversion, so ``["1.5"]`` is refused too.
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = array_module(data)
    if xp is np and not isinstance(data, np.ndarray):
        arr = np.array(data)
        if arr.dtype == object and not isinstance(data, np.generic):
            raise TypeError(f"cannot make a tensor from {type(data).__name__} of mixed or ragged content")
        _check_kind(arr, data)
        if dtype is not None:
            return arr.astype(dtype, copy=False)
        if arr.dtype == np.float64 and not isinstance(data, np.generic):
            arr = arr.astype(DEFAULT_DTYPE)  # Python floats -> float32
        return arr
    _check_kind(data, data)
    if dtype is not None:
        return data.astype(dtype, copy=copy)
    return data.copy() if copy else data


class Tensor:
    """An array with an optional gradient. Create one with :func:`tinydl.tensor`.

    >>> import tinydl as td
    >>> x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()          # y = Σ x_i²
    >>> y.backward()               # dy/dx_i = 2 x_i
    >>> x.grad.numpy()
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = ("_data", "grad", "_requires_grad", "_ctx", "_retains_grad", "_graph_freed", "name", "__weakref__")
    __array_priority__ = 1000  # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        array = _to_array(data, dtype=dtype)
        self._set_fields(array if device is None else move(array, device), requires_grad=False)
        self.requires_grad = requires_grad  # through the setter, which checks the dtype

    @classmethod
    def _from_array(cls, array, requires_grad=False):
        """Wrap an array without copying it (used by Function.apply)."""
        if isinstance(array, np.generic):  # NumPy scalars (0-d arithmetic, argmax) become 0-d arrays
            array = np.asarray(array)
        t = cls.__new__(cls)
        t._set_fields(array, requires_grad)
        return t

    def _set_fields(self, array, requires_grad):
        self._data = array
        self.grad = None
        self._ctx = None  # the Context of the op that made this tensor: its edge in the graph
        self._retains_grad = False
        self._graph_freed = False
        self.name = None
        self._requires_grad = requires_grad

    # ----------------------------------------------------------------- data
    @property
    def data(self):
        """The underlying array. Assigning to it replaces the values without touching the graph."""
        return self._data

    @data.setter
    def data(self, value):
        self._data = _to_array(value, copy=False)

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if flag and self._data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients; this tensor has dtype {self._data.dtype}"
            )
        if not flag and not self.is_leaf:
            raise RuntimeError("requires_grad can only be switched off on a leaf tensor; use .detach()")
        self._requires_grad = flag

    @property
    def is_leaf(self):
        """True for tensors made by the user (parameters, inputs), False for results of ops
        (also after backward() has freed the graph behind them)."""
        return self._ctx is None and not self._graph_freed

    @property
    def shape(self):
        return tuple(self._data.shape)

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self):
        """Where the data lives: ``device('cpu')`` or ``device('cuda:N')``."""
        return device_of(self._data)

    @property
    def size(self):
        return self._data.size

    def __len__(self):
        return len(self._data)

    def numpy(self):
        """The data as a NumPy array (shared memory on the CPU, a copy from the GPU)."""
        return self._data if isinstance(self._data, np.ndarray) else self._data.get()

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self._data.item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """A new tensor sharing this one's data, cut off from the graph (no gradient flows through it)."""
        return Tensor._from_array(self._data, requires_grad=False)

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", precision=4, prefix="tensor(")
        extras = []
        if self.dtype != DEFAULT_DTYPE:
            extras.append(f"dtype={self.dtype}")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx.function.__name__}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph=False):
        """Compute d(self)/d(leaf) for every leaf that requires a gradient; add it to ``leaf.grad``.

        ``grad`` is dL/d(self); it may be omitted only when ``self`` holds one
        element (a loss), in which case it is 1.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True (or it ran inside td.no_grad())"
            )
        if grad is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient works only on a one-element tensor (a loss); "
                    f"this tensor has shape {self.shape}. Pass grad=<array of that shape> or reduce it first, e.g. .sum()"
                )
            grad = array_module(self._data).ones_like(self._data)
        else:
            grad = _to_array(grad, dtype=self.dtype, copy=False)  # the engine never writes into it
            if grad.shape != self._data.shape:
                raise ValueError(f"backward(grad): grad has shape {tuple(grad.shape)}, tensor has shape {self.shape}")
        autograd.backward(self, grad, retain_graph=retain_graph)

    # --------------------------------------- the node protocol of tinydl.autograd
    @property
    def parents(self):
        """The tensors this one was computed from (() for a leaf, or once the graph is freed)."""
        return self._ctx.parents if self._ctx is not None else ()

    @property
    def retains_grad(self):
        """True when ``retain_grad()`` asked to keep ``.grad`` on this non-leaf tensor."""
        return self._retains_grad

    def chain_rule(self, grad):
        """One link of the chain rule: dL/d(self) → [(parent, dL/d(parent)), ...] via the op's backward."""
        if self._ctx is None:
            raise RuntimeError(
                "backward() through a graph that was already freed; call the first "
                "backward with retain_graph=True to back-propagate through it twice"
            )
        return self._ctx.chain_rule(grad)

    def accumulate_grad(self, grad):
        """Add ``grad`` to ``.grad`` (a copy the first time, so ``.grad`` is always an array of its own).

        Own, because the engine may hand one array to several tensors (``a + b``
        passes the same gradient to both) or pass a read-only broadcast view.
        """
        if self.grad is None:
            self.grad = Tensor._from_array(array_module(grad).array(grad, copy=True))
        else:
            self.grad = Tensor._from_array(self.grad._data + grad)

    def free_graph(self):
        """Forget the operation that made this tensor (after backward, unless retain_graph=True)."""
        if self._ctx is not None:
            self._ctx = None
            self._graph_freed = True

    def retain_grad(self):
        """Ask for ``.grad`` to be kept on this intermediate (non-leaf) tensor too."""
        self._retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    # ------------------------------------------- comparisons (not differentiable)
    # Comparisons are not differentiable: they return boolean tensors.
    def __lt__(self, other):
        return Tensor._from_array(self._data < array_of(other))

    def __le__(self, other):
        return Tensor._from_array(self._data <= array_of(other))

    def __gt__(self, other):
        return Tensor._from_array(self._data > array_of(other))

    def __ge__(self, other):
        return Tensor._from_array(self._data >= array_of(other))

    def __eq__(self, other):
        return Tensor._from_array(self._data == array_of(other))

    def __ne__(self, other):
        return Tensor._from_array(self._data != array_of(other))

    __hash__ = object.__hash__  # tensors are hashed by identity, as in PyTorch

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self._data)

    # any, all, argmax (and the other reductions and selections) are ops: see tinydl/ops/tensor_methods.py.


def array_of(x):
    """The array inside ``x`` if it is a Tensor; anything else (an array, a number) unchanged."""
    return x._data if isinstance(x, Tensor) else x


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a tensor from a list, number or array (always copies, like ``torch.tensor``).

    Floats become float32 unless ``dtype`` is given or ``data`` is a float64
    NumPy array; integers stay integers (use them for class labels).
    ``device='cuda'`` puts it on the GPU (needs CuPy: ``pip install "tinydl[gpu]"``).
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def to_numpy(x):
    """A Tensor, CuPy array, NumPy array or (nested) list, as a NumPy array (GPU data copied to the host)."""
    if isinstance(x, Tensor):
        return x.numpy()
    if array_module(x) is not np:  # a CuPy array
        return x.get()
    return np.asarray(x)


def as_tensor(x, like=None):
    """Return ``x`` if it is a Tensor, else wrap it (a Python number takes ``like``'s dtype)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and like.dtype.kind == "f":
        return Tensor._from_array(array_module(like._data).asarray(x, dtype=like.dtype))
    return Tensor._from_array(_to_array(x, copy=False))


def zeros(*shape, dtype=None, requires_grad=False):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor._from_array(np.zeros(shape, dtype=dtype or DEFAULT_DTYPE), requires_grad)


def ones(*shape, dtype=None, requires_grad=False):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor._from_array(np.ones(shape, dtype=dtype or DEFAULT_DTYPE), requires_grad)


def zeros_like(t, requires_grad=False):
    return Tensor._from_array(array_module(array_of(t)).zeros_like(array_of(t)), requires_grad)


def ones_like(t, requires_grad=False):
    return Tensor._from_array(array_module(array_of(t)).ones_like(array_of(t)), requires_grad)


def arange(*args, dtype=None, requires_grad=False):
    """``arange(end)``, ``arange(start, end)``, ``arange(start, end, step)``: like ``torch.arange``.

    dtype: int64 when every argument is an integer, else the default float dtype (float32), as
    in PyTorch (NumPy would give float64 for float arguments).
    """
    if not 1 <= len(args) <= 3:
        raise TypeError(f"arange takes 1 to 3 positional arguments (start, end, step), got {len(args)}")
    if dtype is None:
        floats = any(isinstance(a, (float, np.floating)) for a in args)
        dtype = DEFAULT_DTYPE if floats else int64
    if len(args) == 3 and args[2] == 0:
        raise ValueError("arange: step must be nonzero")
    return Tensor._from_array(
        np.arange(*args, dtype=np.float64 if np.dtype(dtype).kind == "f" else dtype).astype(dtype, copy=False),
        requires_grad,
    )


def _shape_args(name, shape):
    """``f(2, 3)`` or ``f((2, 3))`` → (2, 3), with a clear error for anything but non-negative ints."""
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{name}: a size must be a non-negative int, got {n!r} in {shape}")
    return shape


def _fill_dtype(value, name="full"):
    """The dtype PyTorch gives a tensor filled with a Python ``value``: bool, int64, or the default float."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, (int, np.integer)):
        return int64
    if isinstance(value, (float, np.floating)):
        return DEFAULT_DTYPE
    raise TypeError(f"{name}: fill_value must be a number or bool, got {type(value).__name__}")


def full(size, fill_value, dtype=None, requires_grad=False):
    """A tensor of shape ``size`` (a tuple) filled with ``fill_value``, like ``torch.full``.

    dtype by default from the value, as in PyTorch: ``full((2,), 3)`` is int64, ``3.0`` float32, ``True`` bool.
    """
    if isinstance(size, (int, np.integer)):
        size = (size,)
    shape = _shape_args("full", (size,))
    dtype = np.dtype(dtype) if dtype is not None else _fill_dtype(fill_value)
    return Tensor._from_array(np.full(shape, fill_value, dtype=dtype), requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    """A tensor shaped like ``t``, on its device, filled with ``fill_value``; in ``t``'s dtype unless ``dtype`` is given.

    As ``torch.full_like``: the value is converted to that dtype (``full_like(int tensor, 2.5)`` holds 2).
    """
    data = array_of(t)
    if not hasattr(data, "shape"):
        raise TypeError(f"full_like: expects a tensor or array, got {type(t).__name__}")
    _fill_dtype(fill_value, "full_like")  # the same check of the value as full's
    return Tensor._from_array(array_module(data).full_like(data, fill_value, dtype=dtype), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    """The n × m identity matrix (m = n by default), float32 unless ``dtype`` says otherwise, like ``torch.eye``."""
    _shape_args("eye", (n,) if m is None else (n, m))
    return Tensor._from_array(np.eye(n, n if m is None else m, dtype=dtype or DEFAULT_DTYPE), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False):
    """``steps`` values evenly spaced from ``start`` to ``end`` (both included), float32 by default, like ``torch.linspace``.

    As PyTorch computes it: step = (end − start)/(steps − 1); the first half counts up from
    ``start``, the second half down from ``end`` (so both ends are exact), in the result's
    float dtype. For an integer ``dtype``, start and end are first truncated to integers,
    the values computed in float64 and truncated.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    dtype = np.dtype(dtype or DEFAULT_DTYPE)
    calc = dtype if dtype.kind == "f" else float64
    if dtype.kind != "f":
        start, end = int(start), int(end)
    first, last = calc.type(start), calc.type(end)
    index = np.arange(steps)
    if steps <= 1:
        values = np.full(steps, first, dtype=calc)
    else:
        step = (last - first) / calc.type(steps - 1)
        up, down = first + step * index.astype(calc), last - step * (steps - 1 - index).astype(calc)
        values = np.where(index < steps // 2, up, down)
    return Tensor._from_array(values.astype(dtype), requires_grad)
