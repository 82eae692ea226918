"""Optimisers (GD, SGD, Adam, AdamW) and learning-rate schedules (``optim.lr_scheduler``).

optimizer = td.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for x, y in batches:
    optimizer.zero_grad()
    loss_fn(model(x), y).backward()
    optimizer.step()
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import GD, SGD

__all__ = ["GD", "SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
