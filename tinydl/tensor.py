"""The Tensor: an n-dimensional array that remembers how it was computed.

A Tensor wraps a NumPy array (``.data``) and adds three things for autograd:
``requires_grad`` (do we want dL/d(this tensor)?), ``grad`` (where that
gradient lands after ``backward()``) and ``_ctx`` (the :class:`Context` of the
operation that produced it, i.e. its edge in the computational graph).

All arithmetic lives in ``tinydl/ops/``, one family of operations per file,
each op's forward and backward side by side; the methods here only forward to
those functions so that ``a @ b + c`` reads like maths.
"""
import numpy as np

from . import autograd
from .backend import array_module
from .device import device_of, move

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")
DEFAULT_DTYPE = float32


def _to_array(data, dtype=None, copy=True):
    """Turn ``data`` (a list, scalar, NumPy/CuPy array or Tensor) into an array.

    Python floats become float32 (the default dtype, as in PyTorch) unless
    ``dtype`` says otherwise; NumPy arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = array_module(data)
    if xp is np and not isinstance(data, np.ndarray):
        arr = np.array(data, dtype=dtype)
        if dtype is None and arr.dtype == np.float64 and not isinstance(data, np.generic):
            arr = arr.astype(DEFAULT_DTYPE)  # Python floats -> float32
        if arr.dtype == object:
            raise TypeError(f"cannot make a tensor from {type(data).__name__} of mixed or ragged content")
        return arr
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
        self._data = _to_array(data, dtype=dtype)
        if device is not None:
            self._data = move(self._data, device)
        self.grad = None
        self._ctx = None
        self._retains_grad = False
        self._graph_freed = False
        self.name = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _from_array(cls, array, requires_grad=False):
        """Wrap an array without copying it (used by Function.apply)."""
        if isinstance(array, np.generic):  # NumPy scalars (0-d arithmetic, argmax) become 0-d arrays
            array = np.asarray(array)
        t = cls.__new__(cls)
        t._data = array
        t.grad = None
        t._ctx = None
        t._retains_grad = False
        t._graph_freed = False
        t.name = None
        t._requires_grad = requires_grad
        return t

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

    def to(self, target):
        """This tensor on another device (``'cpu'``, ``'cuda'``, ``'cuda:N'``) or as another dtype.

        Like PyTorch: the result is a new tensor connected to the graph (gradients
        flow back to this one's device), or ``self`` when nothing changes.
        """
        if _is_device_spec(target):
            return ops.to_device(self, target)
        return ops.astype(self, target)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

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

    def _accumulate_grad(self, g, owned=False):
        # .grad must be an array of its own: g may be a read-only broadcast view, or the
        # very array the engine hands to another tensor (a + b passes one grad to both).
        # The engine says when g is already ours (``owned``), which saves a copy.
        if self.grad is None:
            self.grad = Tensor._from_array(g if owned else array_module(g).array(g, copy=True))
        else:
            self.grad = Tensor._from_array(self.grad._data + g)

    def retain_grad(self):
        """Ask for ``.grad`` to be kept on this intermediate (non-leaf) tensor too."""
        self._retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    # ----------------------------------------------------------- operators
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # Comparisons are not differentiable: they return boolean tensors.
    def __lt__(self, other):
        return Tensor._from_array(self._data < _raw(other))

    def __le__(self, other):
        return Tensor._from_array(self._data <= _raw(other))

    def __gt__(self, other):
        return Tensor._from_array(self._data > _raw(other))

    def __ge__(self, other):
        return Tensor._from_array(self._data >= _raw(other))

    def __eq__(self, other):
        return Tensor._from_array(self._data == _raw(other))

    def __ne__(self, other):
        return Tensor._from_array(self._data != _raw(other))

    __hash__ = object.__hash__  # tensors are hashed by identity, as in PyTorch

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self._data)

    def any(self):
        return bool(self._data.any())

    def all(self):
        return bool(self._data.all())

    # --------------------------------------------------------------- methods
    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def clip(self, min=None, max=None):
        return ops.clip(self, min, max)

    clamp = clip

    def sum(self, axis=None, keepdims=False):
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return ops.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None):
        """Indices of the largest values (not differentiable)."""
        return Tensor._from_array(self._data.argmax(axis=axis))

    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def flatten(self, start_axis=0, end_axis=-1):
        return ops.flatten(self, start_axis, end_axis)

    def transpose(self, axis0=-2, axis1=-1):
        return ops.transpose(self, axis0, axis1)

    def permute(self, *axes):
        return ops.permute(self, *axes)

    @property
    def T(self):
        """All axes reversed (the matrix transpose for 2-D tensors)."""
        return ops.permute(self, *reversed(range(self.ndim)))

    def astype(self, dtype):
        return ops.astype(self, dtype)

    def float(self):
        return ops.astype(self, float32)

    def double(self):
        return ops.astype(self, float64)

    def relu(self):
        return ops.relu(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def tanh(self):
        return ops.tanh(self)

    def softmax(self, axis=-1):
        return ops.softmax(self, axis=axis)

    def log_softmax(self, axis=-1):
        return ops.log_softmax(self, axis=axis)


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


def _is_device_spec(x):
    from .device import Device

    return isinstance(x, Device) or (isinstance(x, str) and x.strip().lower().split(":")[0] in ("cpu", "cuda"))


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
    return Tensor._from_array(array_module(_raw(t)).zeros_like(_raw(t)), requires_grad)


def ones_like(t, requires_grad=False):
    return Tensor._from_array(array_module(_raw(t)).ones_like(_raw(t)), requires_grad)


def arange(*args, dtype=None):
    return Tensor._from_array(np.arange(*args, dtype=dtype))


autograd._Tensor = Tensor
from . import ops  # noqa: E402  (ops need Tensor defined first)
