"""Learning-rate schedules: change each parameter group's ``lr`` as training goes on.

Usage, as in PyTorch — one ``scheduler.step()`` per epoch, after the
optimiser's steps::

    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, optimizer)     # calls optimizer.step() many times
        scheduler.step()

Each schedule computes lr in closed form from the group's initial lr
(``base_lr``) and the epoch count, so calling it many times never
accumulates rounding error. (PyTorch's schedulers update lr recursively,
which lets several schedulers be chained; for a single scheduler the values
are the same.)
"""

import math

from .optimizer import Optimizer


class LRScheduler:
    """Base class: remembers each group's initial lr and sets ``lr = get_lr()`` on every ``step()``.

    On construction it applies epoch 0 (so lr = base_lr for most schedules);
    ``last_epoch`` counts the ``step()`` calls since.
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs a tinydl Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def get_lr(self):
        """The learning rate of each group at epoch ``self.last_epoch``."""
        raise NotImplementedError

    def step(self):
        """Advance one epoch and set every group's lr."""
        self.last_epoch += 1
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def state_dict(self):
        """The schedule's position, for a checkpoint (the optimiser's lr is saved with the optimiser)."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs), "last_lr": list(self._last_lr)}

    def load_state_dict(self, state):
        self.last_epoch, self.base_lrs, self._last_lr = (
            state["last_epoch"],
            list(state["base_lrs"]),
            list(state["last_lr"]),
        )

    def get_last_lr(self):
        """The learning rates set by the latest ``step()``, one per parameter group."""
        return list(self._last_lr)


class StepLR(LRScheduler):
    """Multiply lr by ``gamma`` every ``step_size`` epochs:  lr = base_lr · γ^⌊epoch / step_size⌋."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply lr by ``gamma`` at each epoch in ``milestones``:  lr = base_lr · γ^(number of milestones ≤ epoch).

    The MedMNIST v2 paper's schedule is ``MultiStepLR(optimizer, milestones=[50, 75], gamma=0.1)``
    over 100 epochs: lr 1e-3 for 50 epochs, then 1e-4 for 25, then 1e-5 (counting epochs from 1, as
    history.csv does: epochs 1–50, 51–75, 76–100).
    """

    def __init__(self, optimizer, milestones, gamma=0.1):
        milestones = list(milestones)
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in milestones):
            raise ValueError(f"milestones must be positive whole numbers of epochs, got {milestones!r}")
        if milestones != sorted(milestones):
            raise ValueError(f"milestones must be in increasing order, got {milestones!r}")
        self.milestones, self.gamma = milestones, gamma
        super().__init__(optimizer)

    def get_lr(self):
        passed = sum(1 for m in self.milestones if m <= self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply lr by ``gamma`` every epoch:  lr = base_lr · γ^epoch."""

    def __init__(self, optimizer, gamma):
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self):
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from base_lr down to ``eta_min`` over ``T_max`` epochs:

        lr = η_min + (base_lr − η_min) · (1 + cos(π · epoch / T_max)) / 2

    Large steps early, a gentle landing at the end. Past T_max the cosine
    carries on and lr climbs back up (period 2·T_max), as in PyTorch.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"T_max must be a positive integer, got {T_max!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def get_lr(self):
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]
