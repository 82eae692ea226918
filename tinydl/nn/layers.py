"""Layers: Linear, the activation functions as modules, Identity, Flatten and Sequential."""

from collections import OrderedDict

import numpy as np

from ..tensor import DEFAULT_DTYPE, as_tensor
from . import functional as F
from . import init
from .module import Module, Parameter


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
        dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
        if dtype.kind != "f":
            raise TypeError(f"Linear: dtype must be a floating-point type, got {dtype}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Draw fresh weights: kaiming_uniform_(a=√5) ⇒ U(−1/√fan_in, 1/√fan_in), and the same bound for b."""
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r} expects input with last dimension {self.in_features}, got shape {x.shape}")
        if x.dtype != self.weight.dtype:
            # As in PyTorch: silently mixing float32 weights with float64 data would run in float64.
            raise TypeError(
                f"{self!r} has {self.weight.dtype} weights but got a {x.dtype} input; "
                f"convert the input (x.astype(td.{self.weight.dtype})) or the model (model.to(td.{x.dtype}))"
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
