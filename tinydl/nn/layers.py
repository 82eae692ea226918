"""Layers: Linear, the activation functions as modules, Identity, Flatten; containers Sequential, ModuleList, ModuleDict."""

from collections import OrderedDict

import numpy as np

from ..tensor import DEFAULT_DTYPE, as_tensor
from . import functional as F
from . import init
from .module import Module, Parameter


def add_weight_and_bias(module, weight_shape, bias_size, bias=True, dtype=None, where=None):
    """Give ``module`` a ``weight`` Parameter of ``weight_shape`` and a ``bias`` of ``bias_size`` (or None),
    in ``dtype`` (float32 by default), then call its ``reset_parameters()`` to fill them."""
    dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
    if dtype.kind != "f":
        raise TypeError(f"{where or type(module).__name__}: dtype must be a floating-point type, got {dtype}")
    module.weight = Parameter(np.empty(weight_shape, dtype=dtype))
    if bias:
        module.bias = Parameter(np.empty(bias_size, dtype=dtype))
    else:
        module.register_parameter("bias", None)
    module.reset_parameters()


def checked_input(module, x, shape_ok, expected):
    """``x`` as a Tensor, after checking its shape (``shape_ok(shape)``; ``expected`` says what it should be)
    and that its dtype is the weights' — as in PyTorch: float32 weights silently meeting float64 data
    would run the whole layer in float64."""
    x = as_tensor(x)
    if not shape_ok(x.shape):
        raise ValueError(f"{module!r} expects input {expected}, got shape {x.shape}")
    if x.dtype != module.weight.dtype:
        raise TypeError(
            f"{module!r} has {module.weight.dtype} weights but got a {x.dtype} input; "
            f"convert the input (x.astype(td.{module.weight.dtype})) or the model (model.to(td.{x.dtype}))"
        )
    return x


class Linear(Module):
    """A fully connected layer:  y = x Wᵀ + b.

    ``weight`` W has shape (out_features, in_features) — row i holds the
    weights of output unit i, the neuron yᵢ = f(wᵢ · x + bᵢ) before its
    activation f — and ``bias`` b has shape (out_features,). x may have any
    number of leading (batch) axes; its last axis must be in_features.

    Initialised as PyTorch does: W, b ~ U(−1/√in_features, 1/√in_features)
    (see :mod:`tinydl.nn.init`), in ``dtype`` (float32 by default).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"Linear: {name} must be a positive integer, got {n!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        add_weight_and_bias(self, (self.out_features, self.in_features), self.out_features, bias, dtype, "Linear")

    def reset_parameters(self):
        """Draw fresh weights: kaiming_uniform_(a=√5) ⇒ U(−1/√fan_in, 1/√fan_in), and the same bound for b."""
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        x = checked_input(
            self,
            x,
            lambda shape: len(shape) > 0 and shape[-1] == self.in_features,
            f"with last dimension {self.in_features}",
        )
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    """y = max(0, x), elementwise."""

    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e⁻ˣ), elementwise."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh(x), elementwise."""

    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    """y_i = e^{x_i} / Σ_j e^{x_j} along ``axis`` (default: the last): scores → probabilities."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return F.softmax(x, axis=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class LogSoftmax(Module):
    """y_i = log softmax(x)_i = x_i − log Σ_j e^{x_j} along ``axis``, computed stably."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return F.log_softmax(x, axis=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class Identity(Module):
    """y = x. A placeholder, e.g. to switch a layer off without changing the code around it."""

    def __init__(self, *args, **kwargs):  # accepts and ignores arguments, like PyTorch's
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge axes ``start_axis..end_axis`` into one: (N, C, H, W) → (N, C·H·W) with the defaults.

    The batch axis 0 is kept, which is what a Linear layer after a convolution needs.
    """

    def __init__(self, start_axis=1, end_axis=-1):
        super().__init__()
        self.start_axis, self.end_axis = start_axis, end_axis

    def forward(self, x):
        return F.flatten(x, self.start_axis, self.end_axis)

    def extra_repr(self):
        return f"start_axis={self.start_axis}, end_axis={self.end_axis}"


class Sequential(Module):
    """A chain of modules:  Sequential(f₁, f₂, …, f_k)(x) = f_k(…f₂(f₁(x))).

    Children are named "0", "1", … (so parameters are "0.weight", "0.bias", …),
    or take the names of an OrderedDict passed as the only argument. A
    Sequential can be indexed (``model[0]``, ``model[-1]``, ``model[1:]``),
    iterated and measured with ``len``.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            named = list(modules[0].items())
        elif len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            raise TypeError(
                "Sequential takes modules as separate arguments: write Sequential(*layers), not Sequential(layers)"
            )
        else:
            named = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in named:
            self._check_is_module(name, module)
            self.add_module(name, module)

    @staticmethod
    def _check_is_module(name, module):
        if not isinstance(module, Module):
            hint = " (use the module form, e.g. td.nn.ReLU() rather than td.relu)" if callable(module) else ""
            raise TypeError(f"Sequential: entry {name!r} is a {type(module).__name__}, not a Module{hint}")

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        name = str(len(self))
        self._check_is_module(name, module)
        self.add_module(name, module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        if not -len(items) <= index < len(items):
            raise IndexError(f"index {index} is out of range for a Sequential of {len(items)} modules")
        return items[index][1]

    def forward(self, x):
        for module in self:
            x = module(x)
        return x


def _check_module(container, name, module):
    if not isinstance(module, Module):
        hint = " (use the module form, e.g. td.nn.ReLU() rather than td.relu)" if callable(module) else ""
        raise TypeError(f"{container}: entry {name!r} is a {type(module).__name__}, not a Module{hint}")


class ModuleList(Module):
    """A list of modules, registered as children "0", "1", … (parameters "0.weight", as in PyTorch).

    A plain Python list of layers would hide them from ``parameters()``, ``state_dict()``,
    ``to()`` and ``train()``; a ModuleList registers them. It has no ``forward``: the owner
    decides how to call them, e.g. ``for block in self.blocks: x = block(x)``.
    Indexing (``blocks[0]``, ``blocks[-1]``, ``blocks[1:]`` → a ModuleList), ``len``,
    iteration, ``append``, ``extend``, ``insert``, ``+=`` and ``del`` work as on a list.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ModuleList indices must be integers or slices, got {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a ModuleList of {n} modules")
        return str(int(index) % n)

    def _renumber(self, modules):
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[self._index(index)]

    def __setitem__(self, index, module):
        name = self._index(index)
        _check_module("ModuleList", name, module)
        self.add_module(name, module)

    def __delitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[int(self._index(index))]
        self._renumber(modules)  # PyTorch renumbers too: the keys stay "0", "1", …

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        name = str(len(self))
        _check_module("ModuleList", name, module)
        self.add_module(name, module)
        return self

    def extend(self, modules):
        """Append every module of an iterable; returns self."""
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError("ModuleList.extend expects an iterable of modules, got a single Module; use append")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        """Insert ``module`` before position ``index`` (the later ones are renumbered)."""
        _check_module("ModuleList", str(index), module)
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            "ModuleList has no forward(): iterate over it in the owner's forward, e.g. for m in self.layers: x = m(x)"
        )


class ModuleDict(Module):
    """A dict of modules, registered as children under their keys (parameters "encoder.weight", …).

    Keeps insertion order (that of an OrderedDict or dict passed in, or of a list of
    ``(key, module)`` pairs). ``d[key]``, ``d[key] = m``, ``del d[key]``, ``key in d``, ``len``,
    iteration over the keys, ``keys()``, ``values()``, ``items()``, ``update()``, ``pop()`` and
    ``clear()`` work as on a dict. Keys are strings without '.'. No ``forward``.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no module {key!r}; keys: {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key, module):
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict keys must be strings, got {type(key).__name__}")
        _check_module("ModuleDict", key, module)
        self.add_module(key, module)

    def __delitem__(self, key):
        self[key]  # noqa: B018  (a KeyError naming the keys)
        del self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        """Add (or replace) the modules of a dict, ModuleDict or iterable of ``(key, module)`` pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"ModuleDict.update expects (key, module) pairs, got {pair!r}")
            self[pair[0]] = pair[1]

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def clear(self):
        self._modules.clear()

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(): call its modules in the owner's forward")
