"""Parameter and Module: how a network keeps track of its weights.

A :class:`Module` is a piece of a network (a layer, a block, the whole model).
Assigning a :class:`Parameter` or another Module to one of its attributes
*registers* it, so that ``model.parameters()`` can find every weight of every
sub-module without the user listing them::

    class TwoLayer(td.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = td.nn.Linear(3, 4)    # registered as a sub-module
            self.out = td.nn.Linear(4, 1)

        def forward(self, x):
            return self.out(td.relu(self.hidden(x)))

    model = TwoLayer()
    [name for name, _ in model.named_parameters()]
    # ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']

The design is PyTorch's, so code written for ``torch.nn.Module`` reads the same here.
"""

import contextlib
from collections import OrderedDict, namedtuple

import numpy as np

from ..backend import array_module
from ..tensor import Tensor, to_numpy


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module: ``requires_grad=True`` by default.

    Being a Parameter (rather than a plain Tensor) is what makes a Module
    register it on assignment, so optimisers receive it from ``parameters()``.
    The values are copied from ``data``.
    """

    __slots__ = ()  # Tensor uses __slots__; a Parameter adds no fields of its own

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


# What load_state_dict returns when strict=False lets missing or unexpected keys pass.
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``remove()`` unregisters the hook (twice is harmless)."""

    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _as_float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"modules can only be cast to a floating-point dtype, got {dtype}")
    return dtype


class Module:
    """Base class of every layer and model. Subclasses define ``__init__`` and ``forward``.

    Calling ``module(x)`` runs ``forward(x)``. Attributes that are Parameters,
    Modules or buffers are kept in three ordered dicts — ``_parameters``,
    ``_modules`` and ``_buffers`` — in the order they were assigned, which fixes
    the order of ``parameters()`` and the keys of ``state_dict()``.

    ``training`` is True after construction; ``eval()`` switches it off for the
    module and all its children (layers such as Dropout and BatchNorm read it).
    """

    # Names of the boolean attributes that switch on a fused shortcut in ``forward``: one op
    # doing the work of several child layers (SmallCNN's ``fused``: conv → ReLU → max-pool).
    # A module with such a shortcut lists its flags here, so that ``unfused()`` finds them.
    fusable_flags = ()

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist already.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__} has no forward(); define forward(self, ...) to say what the module computes"
        )

    def __call__(self, *args, **kwargs):
        output = self.forward(*args, **kwargs)
        hooks = self.__dict__.get("_forward_hooks")
        if hooks:
            for hook in tuple(hooks.values()):
                result = hook(self, args, output)
                if result is not None:
                    output = result
        return output

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every ``forward`` of this module (as in PyTorch).

        ``inputs`` is the tuple of positional arguments. A hook that returns
        something other than None replaces the output. Useful to look at
        intermediate activations (see :mod:`tinydl.explain`). Returns a handle;
        ``handle.remove()`` takes the hook off again (or use it in a ``with`` block).
        """
        if not callable(hook):
            raise TypeError(f"register_forward_hook expects a callable, got {type(hook).__name__}")
        hooks = self.__dict__.get("_forward_hooks")
        if hooks is None:  # created on first use, so modules without hooks carry nothing extra
            hooks = OrderedDict()
            object.__setattr__(self, "_forward_hooks", hooks)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------ registration
    def _check_initialised(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {what} before Module.__init__() has run; "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._check_initialised("parameters")
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._check_initialised("sub-modules")
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to parameter '{name}' of {type(self).__name__}: "
                    f"wrap it in td.nn.Parameter(...) (or assign None)"
                )
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            self._buffers[name] = self._as_buffer(name, value)
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to sub-module '{name}' of {type(self).__name__}: "
                    f"expected a Module or None"
                )
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep=None):
        """Remove ``name`` from everywhere but ``keep``, so that each name lives in one place only.

        The registry about to receive the name keeps its entry, so a replaced
        weight keeps its place in the order of ``parameters()``.
        """
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)

    def __getattr__(self, name):
        # Only called when ordinary lookup fails, i.e. for registered names.
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent optional weight) under ``name``."""
        self._check_initialised("parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}'): expected a Parameter or None, got {type(param).__name__}")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def add_module(self, name, module):
        """Register ``module`` (or None) as a child called ``name``; same as ``self.<name> = module``."""
        self._check_initialised("sub-modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module('{name}'): expected a Module or None, got {type(module).__name__}")
        if "." in name or name == "":
            raise KeyError(f"module name must be non-empty and contain no '.', got {name!r}")
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    def register_buffer(self, name, value):
        """Register non-trainable state (e.g. BatchNorm's running mean) under ``name``.

        ``value`` is an array or a Tensor (stored as a Tensor that does not
        require grad), or None. Buffers are saved in ``state_dict()`` and cast
        by ``to(dtype)``, but optimisers never see them.
        """
        self._check_initialised("buffers")
        if "." in name or name == "":
            raise KeyError(f"buffer name must be non-empty and contain no '.', got {name!r}")
        if isinstance(value, Parameter):
            raise TypeError(f"register_buffer('{name}'): got a Parameter; use register_parameter for trainable weights")
        self._forget(name, keep=self._buffers)
        self._buffers[name] = self._as_buffer(name, value)

    @staticmethod
    def _as_buffer(name, value):
        if value is None:
            return None
        if isinstance(value, Tensor):
            return value.detach()
        try:
            return Tensor(value)
        except TypeError as e:
            raise TypeError(f"buffer '{name}' must be an array, a Tensor or None, got {type(value).__name__}") from e

    # ------------------------------------------------------------- traversal
    def named_modules(self, prefix="", remove_duplicate=True, _seen=None):
        """Yield ``(dotted_name, module)`` for this module (named ``prefix``) and every descendant.

        Pre-order: a module before its children, children in assignment order.
        A module that is reachable twice is yielded once unless ``remove_duplicate=False``.
        """
        seen = set() if _seen is None else _seen
        if remove_duplicate:
            if id(self) in seen:
                return
            seen.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, remove_duplicate, seen)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry_name, recurse):
        # A weight shared by two layers is yielded once, under its first name (as in PyTorch).
        modules = self.named_modules() if recurse else [("", self)]
        seen = set()
        for module_name, module in modules:
            for name, value in getattr(module, registry_name).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, recurse=True):
        """Yield ``(dotted_name, parameter)``: own parameters first, then each child's, in assignment order.

        With ``recurse=False``, only this module's own parameters.
        """
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse=True):
        """Every Parameter of this module and its descendants (what an optimiser needs)."""
        for _, param in self.named_parameters(recurse):
            yield param

    def named_buffers(self, recurse=True):
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse):
            yield buf

    def num_parameters(self, trainable_only=False):
        """How many numbers the model learns: Σ over parameters of their element counts."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant and on self (children first, as PyTorch); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    @contextlib.contextmanager
    def unfused(self):
        """Inside the block every layer runs as its own module: fused shortcuts off, then back on::

            with model.unfused():
                logits = model(x)     # a hook on model.features[0] fires now

        Same weights, same numbers, only slower; what it is for is looking inside
        (hooks, Grad-CAM). Switches off every flag in ``fusable_flags`` that is on,
        in this module and all its descendants, and switches exactly those back on
        afterwards, even on error.
        """
        switched_off = []
        try:
            for module in self.modules():
                for flag in module.fusable_flags:
                    if getattr(module, flag) is True:
                        setattr(module, flag, False)
                        switched_off.append((module, flag))
            yield self
        finally:
            for module, flag in switched_off:
                setattr(module, flag, True)

    # ------------------------------------------------------------- mode & grads
    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on this module and all descendants."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode) expects a bool, got {type(mode).__name__}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        """Evaluation mode: same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self):
        """Forget every parameter's gradient (sets ``.grad`` to None; the next backward starts afresh)."""
        for param in self.parameters():
            param.grad = None

    def requires_grad_(self, requires_grad=True):
        """Switch gradient tracking of every parameter on or off (off = freeze the weights); returns self."""
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    # ------------------------------------------------------------- dtype
    def to(self, target):
        """Move every parameter, gradient and buffer to a device (``'cpu'``, ``'cuda'``, ``'cuda:N'``)
        or cast the floating-point ones to a dtype, in place; returns self.

        The Parameter objects stay the same (only their ``.data`` changes), so
        an optimiser created before the move or cast still updates them. Integer
        buffers (counters) keep their dtype.
        """
        from ..device import is_device_spec, move

        if is_device_spec(target):
            for tensor in list(self.parameters()) + list(self.buffers()):
                tensor.data = move(tensor.data, target)
                if tensor.grad is not None:
                    tensor.grad.data = move(tensor.grad.data, target)
            return self
        dtype = _as_float_dtype(target)
        for tensor in list(self.parameters()) + list(self.buffers()):
            if tensor.dtype.kind == "f":
                tensor.data = tensor.data.astype(dtype, copy=False)
                if tensor.grad is not None:
                    tensor.grad.data = tensor.grad.data.astype(dtype, copy=False)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # ------------------------------------------------------------- saving
    def state_dict(self):
        """An OrderedDict ``dotted_name -> NumPy array`` (a copy) of every parameter and buffer.

        For each module, its parameters come before its buffers, then its
        children follow — the order PyTorch uses. A shared weight appears
        under each name it has.
        """
        return OrderedDict((name, tensor.numpy().copy()) for name, tensor in self._state_tensors().items())

    def _state_tensors(self):
        """``dotted_name -> the live Tensor`` for every entry state_dict() saves."""
        tensors = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            for registry in (module._parameters, module._buffers):
                for name, tensor in registry.items():
                    if tensor is not None:
                        tensors[prefix + name] = tensor
        return tensors

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` (name -> NumPy array or Tensor) into the parameters and buffers.

        Everything is checked before anything is written, so a failed load
        changes nothing. It fails (RuntimeError listing every problem) when a
        value has the wrong shape, and — if ``strict`` — when a key is missing
        or unexpected. Values are cast to each parameter's dtype. Returns
        ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict expects a dict of name -> array, got {type(state_dict).__name__}")
        targets = self._state_tensors()
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))

        new_values = {}
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = to_numpy(state_dict[key])
            if value.shape != target.shape:
                problems.append(f"wrong shape for {key!r}: expected {target.shape}, got {value.shape}")
                continue
            try:
                new_values[key] = value.astype(target.dtype)  # a copy: later edits of the dict don't leak in
            except (TypeError, ValueError):
                problems.append(f"cannot convert {key!r} from {value.dtype} to {target.dtype}")

        if problems:
            raise RuntimeError(
                f"error(s) loading state_dict into {type(self).__name__}; nothing was loaded:\n  "
                + "\n  ".join(problems)
            )
        # Only now, with every value checked, write them all.
        for key, value in new_values.items():
            target = targets[key]
            target.data = array_module(target.data).asarray(value)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------- printing
    def extra_repr(self):
        """The text inside the parentheses of this module's repr, e.g. ``in_features=4, out_features=3``."""
        return ""

    def __repr__(self):
        children = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
