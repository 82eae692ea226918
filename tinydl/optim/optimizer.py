"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and step.

An optimiser turns gradients into weight updates. Every concrete one here
(GD, SGD, Adam, AdamW) only defines how *one* parameter is updated from its
gradient — ``_update(param, grad, group, state)``; the base class loops over
parameters, skips those without a gradient and switches graph recording off.

As in PyTorch, ``params`` is either an iterable of Tensors or a list of
dicts ("parameter groups") that override hyper-parameters per group::

    SGD([{"params": model[0].parameters(), "lr": 0.1},
         {"params": model[2].parameters()}], lr=0.01, momentum=0.9)
"""

from collections import defaultdict

from ..autograd import enable_grad, no_grad
from ..backend import array_module
from ..tensor import Tensor


class Optimizer:
    """Base class. ``param_groups`` is a list of dicts, each with 'params' (a list of
    Tensors) and that group's hyper-parameters; ``state[param]`` is a dict of
    whatever the algorithm remembers between steps for that parameter
    (momentum buffers, moment estimates, a step count).
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)  # keyed by the parameter object itself (tensors hash by identity)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or of dicts, got a single Tensor; pass [tensor]")
        if callable(params) and not hasattr(params, "__iter__"):
            raise TypeError(
                "params must be an iterable of Tensors or of dicts, got a function; "
                "did you mean model.parameters() (with the parentheses)?"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list: there is nothing to optimise")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict with 'params' and optional hyper-parameters (missing ones take the defaults)."""
        if not isinstance(group, dict):
            raise TypeError(f"a parameter group must be a dict with a 'params' key, got {type(group).__name__}")
        if "params" not in group:
            raise KeyError("a parameter group needs a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got a parameter group with no parameters")
        name = type(self).__name__
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimise Tensors, but parameter {i} is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name} can only optimise leaf tensors; parameter {i} is the result of an operation")
        known = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in known for p in params):
            raise ValueError("a parameter appears twice (within or across parameter groups); each may appear once")

        filled = {**self.defaults, **group, "params": params}
        self._check_hyperparameters(filled)
        self.param_groups.append(filled)

    def _check_hyperparameters(self, group):
        """Raise ValueError for an invalid setting; subclasses extend it."""
        if group["lr"] < 0:
            raise ValueError(f"invalid learning rate {group['lr']}: it must be >= 0")

    def zero_grad(self):
        """Forget the gradients of every parameter (``.grad = None``), before the next backward."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure=None):
        """Update every parameter that has a gradient; parameters whose ``.grad`` is None are skipped.

        ``closure`` (optional) recomputes and returns the loss (calling
        backward itself); its value is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():  # an update is not part of the model: record no graph
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    self._update(p, p.grad.data, group, self.state[p])
        return loss

    def _update(self, param, grad, group, state):
        """Change ``param.data`` in place given its gradient array ``grad``.

        ``grad`` must not be modified: it may be shared with another tensor
        or be a read-only view, so build new arrays from it.
        """
        raise NotImplementedError

    # ------------------------------------------------------------- checkpoints
    def state_dict(self):
        """What the optimiser remembers, for a checkpoint: {"state": {i: {...}}, "param_groups": [...]}.

        As in PyTorch, parameters are named by their position across the groups
        (0, 1, …), so the dict holds arrays and numbers only, never tensors.
        Scratch arrays (reusable temporaries) are left out: they hold nothing.
        """
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = {k: v for k, v in self.state[p].items() if k != "scratch"}
        groups = [
            {**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
            for g in self.param_groups
        ]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned (for the same parameters, in the same order)."""
        params = [p for g in self.param_groups for p in g["params"]]
        groups = state_dict["param_groups"]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved state has parameter groups of sizes "
                f"{[len(g['params']) for g in groups]}, this optimiser {[len(g['params']) for g in self.param_groups]}"
            )
        for group, saved in zip(self.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state.clear()
        for i, saved in state_dict["state"].items():
            p = params[int(i)]
            restored = {}
            for key, value in saved.items():
                if hasattr(value, "shape") and value.shape == p.shape:  # moment estimates, momentum buffers
                    restored[key] = array_module(p.data).asarray(value, dtype=p.data.dtype).copy()
                else:
                    restored[key] = value.item() if hasattr(value, "item") else value
            self.state[p] = restored

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines) + "\n)"
