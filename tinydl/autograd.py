"""Reverse-mode automatic differentiation: the engine, in two functions.

The engine knows nothing of tensors, arrays or operations. It walks a graph
of *nodes*, and a node is anything that offers these seven names (tinydl's
:class:`~tinydl.tensor.Tensor` does; so could a scalar ``Value`` class, as in
micrograd or minitorch):

    node.requires_grad          does anything want dL/d(node)?
    node.parents                the nodes it was computed from; () for a leaf
    node.is_leaf                made by the user (a parameter, an input), not by an operation
    node.chain_rule(grad)       one link of the chain rule: given dL/d(node), the pairs
                                (parent, dL/d(parent)) for the parents that require a gradient
    node.retains_grad           should a non-leaf keep its gradient too (``retain_grad()``)?
    node.accumulate_grad(grad)  store dL/d(node): leaves always, other nodes if they retain it
    node.free_graph()           forget the parents, so the arrays they hold can be released

How back-propagation works, in three sentences.

1. :func:`topological_order` lists the graph behind the root so that every
   node comes after all the nodes it was computed from (an explicit stack, so
   deep graphs cannot hit Python's recursion limit).
2. :func:`backward` walks that list backwards — from the loss towards the
   inputs — and hands each node's gradient to its ``chain_rule``.
3. The gradients that reach a node along different paths are *added* (a node
   used twice, as in ``x * x``, receives both contributions) before that node
   is visited, which the reverse topological order guarantees.

Which operation produced a node, and how its backward is called, lives in
:mod:`tinydl.function`; grad mode (``no_grad``) lives here because it is the
engine's switch. Gradients are plain arrays, not nodes: they are not
themselves differentiable (no second derivatives), which keeps the engine small.
"""

import contextlib
import threading

_state = threading.local()


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


def topological_order(root):
    """All nodes that ``root`` depends on and that need a gradient, inputs first.

    Iterative depth-first search: a node is appended only after all of its
    parents, so reversing the list visits every node after every node that
    uses it — the order the chain rule needs.
    """
    # BEGIN SOLUTION assignment=1 task=topological_order hint="depth-first search from root over node.parents that require grad; append a node after all its parents"
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
        for parent in node.parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order
    # END SOLUTION


def backward(root, grad, retain_graph=False):
    """Back-propagate ``grad`` (dL/d root) to every node behind ``root`` that requires a gradient.

    Leaves (parameters, inputs) *add* the gradient to ``.grad``, as in
    PyTorch, so call ``zero_grad()`` between steps; other nodes keep theirs
    only if they asked to (``retain_grad()``). Unless ``retain_graph`` is True
    each node forgets its parents once visited, so the activations it holds
    can be released before the next forward pass.
    """
    grads = {id(root): grad}  # dL/d(node) for the nodes reached so far, by id
    for node in reversed(topological_order(root)):
        grad = grads.pop(id(node), None)
        if grad is None:  # no path from root reached it (e.g. a branch that returned None)
            continue
        if node.is_leaf or node.retains_grad:
            node.accumulate_grad(grad)
        if node.is_leaf:
            continue
        for parent, parent_grad in node.chain_rule(grad):
            key = id(parent)
            # ``+``, not ``+=``: the array in grads may be a view of another node's gradient.
            grads[key] = grads[key] + parent_grad if key in grads else parent_grad
        if not retain_graph:
            node.free_graph()
