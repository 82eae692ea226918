"""Function and Context: how one operation joins the graph and takes part in the chain rule.

1. Every differentiable operation is a :class:`Function` subclass with two
   static methods side by side: ``forward(ctx, *arrays)`` computes the result
   from raw arrays and may stash what the backward pass needs on ``ctx``;
   ``backward(ctx, grad)`` receives dL/d(output) and returns dL/d(input) for
   each input (the chain rule, one link at a time).
2. ``Function.apply`` runs ``forward`` and, when gradients are wanted, records
   a :class:`Context` on the output tensor that remembers the inputs (its
   *parents*). This builds the computational graph on the fly, once per
   forward pass (a "dynamic graph", as in PyTorch and Chainer).
3. During ``backward()`` the engine (:mod:`tinydl.autograd`) asks each tensor
   for its link of the chain rule; the tensor asks its Context, which calls the
   Function's ``backward`` and checks what comes back (one gradient per input,
   of the input's shape and dtype), so that a mistake in a new op is reported
   by name instead of surfacing as a wrong number far away.
"""

import numpy as np

from .autograd import is_grad_enabled
from .tensor import Tensor


class Context:
    """What one application of a Function remembers for its backward pass.

    Attributes set by the engine:
      ``function``  the Function subclass that was applied,
      ``parents``   the input tensors, in order,
      ``needs_input_grad``  a tuple of bools, one per input: does it want a gradient?
    A Function's ``forward`` adds whatever else it needs (``ctx.axis = axis``)
    and saves arrays with :meth:`save_for_backward`.
    """

    def __init__(self, function, parents):
        self.function = function
        self.parents = parents
        self.needs_input_grad = tuple(p.requires_grad for p in parents)
        self.saved = ()

    def save_for_backward(self, *arrays):
        """Keep arrays (inputs or outputs of forward) for use in backward."""
        self.saved = arrays

    def chain_rule(self, grad):
        """Call the Function's backward with dL/d(output); return (parent, dL/d(parent)) pairs.

        Parents that need no gradient (or got None) are left out; a gradient
        in another dtype than its input (mixed precision) is cast to the input's.
        """
        name = self.function.__name__
        input_grads = self.function.backward(self, grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(self.parents):
            raise RuntimeError(f"{name}.backward returned {len(input_grads)} gradients for {len(self.parents)} inputs")
        pairs = []
        for parent, parent_grad in zip(self.parents, input_grads):
            if parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.shape != parent.shape:
                raise RuntimeError(
                    f"{name}.backward returned a gradient of shape {tuple(parent_grad.shape)} "
                    f"for an input of shape {parent.shape}"
                )
            if parent_grad.dtype != parent.dtype:
                parent_grad = parent_grad.astype(parent.dtype)
            pairs.append((parent, parent_grad))
        return pairs


class _DiscardingContext:
    """Stands in for a Context when no graph is recorded: saving is a no-op.

    A fresh one per call, thrown away after ``forward``: attributes set on it
    still work (a forward may read back ``ctx.axes`` it just set), but no
    arrays are kept alive.
    """

    def __init__(self, n_inputs):
        self.needs_input_grad = (False,) * n_inputs

    def save_for_backward(self, *arrays):
        pass


class Function:
    """Base class of every differentiable operation.

    Subclasses define::

        @staticmethod
        def forward(ctx, *arrays, **options):   # -> one array
            ...
        @staticmethod
        def backward(ctx, grad):                # -> one array per input (or None)
            ...

    and are called with ``MyFunction.apply(tensor_a, tensor_b, option=...)``.
    Positional arguments must be Tensors; everything else (axes, shapes,
    flags) goes in keyword arguments and is passed to ``forward`` unchanged.
    """

    @staticmethod
    def forward(ctx, *arrays, **options):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"{cls.__name__}.apply: positional argument {i} must be a Tensor, "
                    f"got {type(t).__name__}; pass non-tensor options as keyword arguments"
                )
        if len(inputs) > 1:
            _check_same_device(cls, inputs)
        record = is_grad_enabled() and any(t.requires_grad for t in inputs)
        ctx = Context(cls, inputs) if record else _DiscardingContext(len(inputs))
        data = cls.forward(ctx, *(t.data for t in inputs), **options)
        if isinstance(data, np.generic):  # NumPy reductions return scalars; keep 0-d arrays
            data = np.asarray(data)
        out = Tensor._from_array(data, requires_grad=record)
        if record:
            out._ctx = ctx
        return out


def _check_same_device(cls, inputs):
    """Raise a clear error when an op's inputs live on different devices (NumPy and CuPy arrays, or two GPUs)."""
    first = type(inputs[0].data)
    if all(type(t.data) is first for t in inputs) and first is np.ndarray:
        return  # the common case, checked cheaply: all on the CPU
    devices = [t.device for t in inputs]
    if any(d != devices[0] for d in devices):
        shown = ", ".join(f"{d} {t.shape}" for d, t in zip(devices, inputs))
        raise RuntimeError(
            f"{cls.__name__}: inputs are on different devices ({shown}); "
            f"move them to one device first, e.g. x.to('{devices[0]}') or model.to('{devices[0]}')"
        )
