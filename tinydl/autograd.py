"""Reverse-mode automatic differentiation: Function, Context, no_grad, backward.

How it works, in four sentences.

1. Every differentiable operation is a :class:`Function` subclass with two
   static methods side by side: ``forward(ctx, *arrays)`` computes the result
   from raw arrays and may stash what the backward pass needs on ``ctx``;
   ``backward(ctx, grad)`` receives dL/d(output) and returns dL/d(input) for
   each input (the chain rule, one link at a time).
2. ``Function.apply`` runs ``forward`` and, when gradients are wanted, records
   a :class:`Context` on the output tensor that remembers the inputs (its
   *parents*).  This builds the computational graph on the fly, once per
   forward pass (a "dynamic graph", as in PyTorch and Chainer).
3. ``Tensor.backward()`` orders the graph topologically — every node after all
   the nodes that use it — with an explicit stack, so deep graphs cannot hit
   Python's recursion limit.
4. It then walks that order once, calling each ``backward`` and *adding* the
   gradients that reach a tensor along different paths (a tensor used twice,
   as in ``x * x``, receives both contributions).

``backward`` works on arrays, not tensors: gradients are not themselves
differentiable (no second derivatives), which keeps the engine small.
"""
import contextlib
import threading

import numpy as np

_state = threading.local()
_Tensor = None  # set by tinydl.tensor once the Tensor class exists (avoids a circular import)


def is_grad_enabled():
    """True unless we are inside a ``with td.no_grad():`` block."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context manager that switches graph recording off (evaluation, optimiser steps).

    Inside it, operations compute their results but remember nothing for the
    backward pass, so they use less memory and time.
    """
    previous = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Context manager that switches graph recording back on inside ``no_grad``."""
    previous = is_grad_enabled()
    _state.grad_enabled = True
    try:
        yield
    finally:
        _state.grad_enabled = previous


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
            if not isinstance(t, _Tensor):
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
        out = _Tensor._from_array(data, requires_grad=record)
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


def topological_order(root):
    """All tensors that ``root`` depends on and that need a gradient, inputs first.

    Iterative depth-first search: a node is appended only after all of its
    parents, so reversing the list visits every node after every node that
    uses it — the order the chain rule needs.
    """
    # BEGIN SOLUTION assignment=1 hint="depth-first search from root over node._ctx.parents that require grad; append a node after all its parents"
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            for parent in node._ctx.parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order
    # END SOLUTION


def _fresh(array, input_grads, ctx):
    """Whether ``array``, returned by a backward, is a new array that nothing else refers to."""
    return (
        getattr(array, "base", 0) is None  # not a view (NumPy and CuPy arrays both have .base)
        and getattr(array.flags, "writeable", True)  # CuPy's flags have no 'writeable': its arrays always are
        and sum(q is array for q in input_grads) == 1  # not handed to two inputs (a + a)
        and not any(s is array for s in ctx.saved)  # not an array the op keeps
    )


def backward(root, grad, retain_graph=False):
    """Back-propagate ``grad`` (dL/d root) to every leaf tensor that requires a gradient.

    Leaves (tensors the user created, such as parameters) get their gradient
    *added* to ``.grad``, as in PyTorch, so call ``zero_grad()`` between steps.
    Intermediate tensors get ``.grad`` only if ``retain_grad()`` was called.
    Unless ``retain_graph`` is True the graph is freed as we go, so the
    activations it holds can be released before the next forward pass.
    """
    # grads[id(node)] = (dL/d node, owned): ``owned`` means no one else holds that array
    # (a Function's backward made it afresh), so a leaf may keep it as its .grad
    # without a copy — for a conv layer's input that copy alone is a 16 MiB memcpy.
    grads = {id(root): (grad, False)}
    for node in reversed(topological_order(root)):
        g, owned = grads.pop(id(node), (None, False))
        if g is None:
            continue
        ctx = node._ctx
        if ctx is None:
            if node._graph_freed:
                raise RuntimeError(
                    "backward() through a graph that was already freed; call the first "
                    "backward with retain_graph=True to back-propagate through it twice"
                )
            node._accumulate_grad(g, owned)  # a leaf: parameters and user inputs
            continue
        if node._retains_grad:
            node._accumulate_grad(g)
        input_grads = ctx.function.backward(ctx, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(ctx.parents):
            raise RuntimeError(
                f"{ctx.function.__name__}.backward returned {len(input_grads)} gradients "
                f"for {len(ctx.parents)} inputs"
            )
        for parent, pg in zip(ctx.parents, input_grads):
            if pg is None or not parent.requires_grad:
                continue
            if pg.shape != parent.shape:
                raise RuntimeError(
                    f"{ctx.function.__name__}.backward returned a gradient of shape "
                    f"{tuple(pg.shape)} for an input of shape {parent.shape}"
                )
            if pg.dtype != parent.dtype:
                pg, pg_owned = pg.astype(parent.dtype), True
            elif pg is g:  # passed straight through (e.g. by a reshape-free identity)
                pg_owned = owned and sum(q is pg for q in input_grads) == 1
            else:
                pg_owned = _fresh(pg, input_grads, ctx)
            key = id(parent)
            # ``+`` (not ``+=``): pg may be a view of another node's gradient.
            grads[key] = (grads[key][0] + pg, True) if key in grads else (pg, pg_owned)
        if not retain_graph:
            node._ctx = None
            node._graph_freed = True
