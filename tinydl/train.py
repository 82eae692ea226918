"""Training a classifier: the loop every course writes, written once, with what a real job needs.

    trainer = td.train.Trainer(model, task="binary-class", lr=1e-3, batch_size=32, epochs=10, seed=0)
    history = trainer.fit(train, val)            # data sets with .arrays(), or (x, y) tuples
    probs = trainer.predict_proba(x_test)        # (N, K) class probabilities
    report = trainer.evaluate(test)              # td.metrics.evaluate: ACC, AUC, F1, ECE, …

One epoch (``Trainer.train_epoch``) is the loop of the article, step by step:

    for x, y in batches:                         # shuffled anew every epoch
        logits = model(normalize(augment(x)))    # forward
        loss = cross_entropy(logits, y)          # how wrong (softmax inside, stable)
        optimizer.zero_grad(); loss.backward()   # back-propagation: ∂loss/∂θ for every θ
        optimizer.step()                         # θ ← θ − lr · (Adam's) update

Around it: a validation pass after each epoch, a history of every figure, the
best weights by a chosen validation figure (AUC by default: it does not depend
on a threshold), early stopping, class weights for imbalanced data, a
learning-rate schedule, L2 weight decay, and a progress line with the time left.
Same seeds, same run: call ``td.manual_seed(seed)`` before building the model
(the initial weights are drawn then), give the augmentation its own seed, and the
Trainer's ``seed`` fixes dropout and the order of the batches.
"""

import math
import sys
import time

import numpy as np

from . import metrics, optim
from .autograd import no_grad
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data.checks import check_images_and_labels, check_images_and_masks, check_labels, check_masks
from .data.loader import DataLoader, as_arrays
from .device import device
from .files import write_text
from .metrics import TASKS  # the task names live in metrics.py; imported here so td.train.TASKS still works
from .ops import binary_cross_entropy_with_logits, cross_entropy, dice_loss, sigmoid, softmax
from .random import get_state as random_state
from .random import manual_seed
from .random import set_state as set_random_state
from .tensor import Tensor, as_tensor

MONITORS = {"val_auc": "max", "val_acc": "max", "val_dice": "max", "val_loss": "min", "train_loss": "min"}
SEGMENTATION = "segmentation"  # the task of models that label every pixel: logits (N, K, H, W), masks (N, H, W)


class TrainingError(FloatingPointError):
    """Training cannot go on: the loss became NaN or infinite."""


# ---------------------------------------------------------------------------- data plumbing
class Normalizer:
    """x ↦ (x − mean) / std per channel (axis 1: image channels, or features of (N, F) data),
    with the statistics of the *training* set.

    Why the training set only: the validation and test images must be treated
    exactly as new patients' images will be, and those are unknown at training
    time. Standardised inputs (mean 0, std 1) keep the first layer's outputs in
    a range where the initial weights and the learning rate make sense.
    """

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape or np.any(self.std <= 0) or not np.all(np.isfinite(self.mean)):
            raise ValueError(f"Normalizer needs finite means and positive stds, one per channel; got {mean!r}, {std!r}")

    @classmethod
    def fit(cls, x):
        """Per-channel mean and std of images x (N, C, H, W) — or per feature of x (N, F)."""
        # BEGIN SOLUTION assignment=4 task=normalizer_fit hint="mean and std over every axis except the channel axis 1 (for images: 0, 2, 3)"
        x = np.asarray(x, dtype=np.float64)
        axes = (0,) + tuple(range(2, x.ndim))
        return cls(x.mean(axis=axes), np.maximum(x.std(axis=axes), 1e-6))
        # END SOLUTION

    def __call__(self, x):
        if x.shape[1] != self.mean.size:
            raise ValueError(f"images have {x.shape[1]} channels, the normaliser was fitted on {self.mean.size}")
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return ((x - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(np.float32, copy=False)

    def to_dict(self):
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d):
        return cls(d["mean"], d["std"])


def balanced_class_weights(labels, num_classes):
    """w_c = N / (K · n_c): every class contributes equally to the loss (a class absent from y gets 0)."""
    # BEGIN SOLUTION assignment=4 task=class_weights hint="weights[c] = N / (K * n_c) with n_c from np.bincount; 0 for a class with no samples"
    counts = np.bincount(np.asarray(labels).reshape(-1), minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    # END SOLUTION
    return weights.astype(np.float32)


# ---------------------------------------------------------------------------- prediction
def model_device(model):
    """Where a model's parameters live (the CPU for a model without any): batches are sent there."""
    for param in model.parameters():
        return param.device
    return device("cpu")


def _batch_tensor(xb, where):
    """A batch of images as a float32 Tensor on device ``where`` (copied to the GPU one batch at a time)."""
    batch = np.ascontiguousarray(xb, dtype=np.float32)
    return as_tensor(batch) if where.type == "cpu" else Tensor(batch, device=where)  # as_tensor: no copy


def predict_proba(model, x, normalizer=None, task="multi-class", batch_size=512):
    """Class probabilities for images x (N, C, H, W): softmax of the logits, or a sigmoid per finding (multi-label).

    The model runs in eval mode (dropout off, BatchNorm's running statistics) without
    recording a graph; its previous mode is restored afterwards.
    """
    x = np.asarray(x, dtype=np.float32)
    where = model_device(model)
    was_training = model.training
    model.eval()
    out = []
    try:
        with no_grad():
            for start in range(0, len(x), batch_size):
                xb = x[start : start + batch_size]
                if normalizer is not None:
                    xb = normalizer(xb)
                logits = model(_batch_tensor(xb, where))
                probs = sigmoid(logits) if task.startswith("multi-label") else softmax(logits, axis=1)
                out.append(probs.numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class Ensemble:
    """Average the predicted probabilities of several models: p(x) = (1/M) Σ_m p_m(x).

    Models trained from different seeds make partly independent mistakes, so
    their average is usually better calibrated and a little more accurate than
    any one of them (the article's "model ensembling"). Each member keeps its
    own normaliser.
    """

    def __init__(self, members, task=None):
        """``members``: a list of (model, normalizer) pairs, or of fitted Trainers (whose task is used)."""
        self.members, tasks = [], set()
        for m in members:
            if isinstance(m, Trainer):
                self.members.append((m.model, m.normalizer))
                tasks.add(m.task_used or m.task)
            else:
                model, normalizer = m
                self.members.append((model, normalizer))
        if not self.members:
            raise ValueError("an Ensemble needs at least one model")
        tasks.discard(None)
        if len(tasks) > 1:
            raise ValueError(f"the members were trained for different tasks: {sorted(tasks)}")
        self.task = task or (tasks.pop() if tasks else "multi-class")

    def predict_proba(self, x, batch_size=512):
        return np.mean([predict_proba(model, x, norm, self.task, batch_size) for model, norm in self.members], axis=0)


# ---------------------------------------------------------------------------- history and progress
class History:
    """One row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, val_auc, lr, seconds."""

    def __init__(self):
        self.rows = []

    def append(self, row):
        self.rows.append(dict(row))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, key):
        """history["val_auc"] → the column as a list (None where not measured)."""
        return [row.get(key) for row in self.rows]

    def columns(self):
        cols = []
        for row in self.rows:
            cols += [k for k in row if k not in cols]
        return cols

    def to_csv(self, path):
        """Write the history as CSV, atomically (a temporary file, then a rename)."""
        cols = self.columns()
        lines = [",".join(cols)]
        for row in self.rows:
            lines.append(
                ",".join(
                    "" if row.get(c) is None else f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c])
                    for c in cols
                )
            )
        write_text(path, "\n".join(lines) + "\n")


class Progress:
    """A one-line progress bar on stderr: epoch, batches, loss, accuracy and the time left.

    In a terminal it redraws in place (at most ~10 times a second); in a log file
    or a notebook it prints one line per epoch instead.
    """

    def __init__(self, epochs, batches, stream=None, enabled=True):
        self.epochs, self.batches = epochs, batches
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def _eta(self, epoch, batch):
        done = (epoch - 1) * self.batches + batch
        total = self.epochs * self.batches
        elapsed = time.perf_counter() - self.start
        return elapsed / done * (total - done) if done else float("nan")

    def update(self, epoch, batch, loss, acc):
        if not self.live or time.perf_counter() - self.last_draw < 0.1 and batch < self.batches:
            return
        self.last_draw = time.perf_counter()
        width = 20
        filled = int(width * batch / self.batches)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(
            f"\repoch {epoch}/{self.epochs} [{bar}] {batch}/{self.batches} "
            f"loss {loss:.4f} acc {acc:.3f} | {_seconds(self._eta(epoch, batch))} left "
        )
        self.stream.flush()

    def end_epoch(self, epoch, row):
        if not self.enabled:
            return
        parts = [f"epoch {epoch}/{self.epochs}", f"loss {row['train_loss']:.4f}", f"acc {row['train_acc']:.3f}"]
        for key in ("val_loss", "val_acc", "val_auc", "val_dice"):
            if row.get(key) is not None:
                parts.append(f"{key} {row[key]:.4f}")
        parts.append(f"{row['seconds']:.1f} s")
        if epoch < self.epochs:
            parts.append(f"~{_seconds(self._eta(epoch, self.batches))} left")
        self.stream.write(("\r" if self.live else "") + " | ".join(parts) + " " * 10 + "\n")
        self.stream.flush()


def _seconds(s):
    if not math.isfinite(s):
        return "?"
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


# ---------------------------------------------------------------------------- the trainer
class Trainer:
    """Fit a classifier with mini-batch gradient descent; see the module docstring.

    Parameters (all keyword):
      task           "binary-class" / "multi-class" / "ordinal-regression" (softmax + cross-entropy)
                     or "multi-label, binary-class" (a sigmoid per finding + binary cross-entropy)
                     or "segmentation" (a class per pixel: logits (N, K, H, W), masks (N, H, W);
                     loss = per-pixel cross-entropy + ``dice_weight`` · soft Dice loss);
                     taken from the training data set's ``task`` when it has one.
      optimizer      "adam" (default), "adamw", "sgd" (momentum 0.9) or a tinydl Optimizer.
      lr, weight_decay   learning rate; L2 penalty λ (adds λθ to each gradient; decoupled for "adamw").
      batch_size, epochs
      augment        a transform applied to each training batch (e.g. td.data.default_augmentation()).
      normalize      True: standardise inputs with the training set's per-channel mean and std;
                     False: feed them as they are; or a fixed Normalizer (e.g. Normalizer(0.5, 0.5), the
                     MedMNIST v2 paper's (x − 0.5) / 0.5).
      class_weights  None, "balanced" (w_c = N / (K·n_c)) or an array of K weights.
      schedule       None, "cosine" (lr → 0 over the epochs), "step" (×0.1 half-way) or "multistep"
                     (×0.1 at 50 % and again at 75 % of the epochs: the MedMNIST v2 paper's 50 and 75 of 100).
      label_smoothing ε: train against (1 − ε)·onehot(y) + ε/K instead of onehot(y) (single-label tasks),
                     so the model is not pushed to ever larger logits on the training images.
      monitor        the validation figure that picks the best epoch: "val_auc", "val_acc", "val_dice"
                     (segmentation: the mean Dice of the foreground classes) or "val_loss"; None (the
                     default): "val_auc" for classifiers, "val_dice" for segmentation ("train_loss" is
                     used without validation data; ``monitor_used`` says which).
      dice_weight    segmentation: the weight of the soft Dice loss added to the cross-entropy (0: CE only).
      class_names    segmentation: names for the per-class columns of the history (val_dice_<name>);
                     default the training data set's ``classes``.
      early_stopping stop after this many epochs without a better ``monitor`` (None: never);
                     better means by more than ``min_delta``.
      restore_best   at the end, put back the weights of the best epoch (needs validation data).
      seed           seeds tinydl's generator (dropout) and the shuffling (give the augmentation its own seed).
      progress       show the progress line (stderr).
    """

    def __init__(
        self,
        model,
        *,
        task=None,
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        batch_size=32,
        epochs=10,
        augment=None,
        normalize=True,
        class_weights=None,
        schedule=None,
        monitor=None,
        early_stopping=None,
        min_delta=0.0,
        restore_best=True,
        seed=0,
        progress=True,
        dice_weight=1.0,
        class_names=None,
        label_smoothing=0.0,
    ):
        if task is not None and task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
        if monitor is not None and monitor not in MONITORS:
            raise ValueError(f"monitor must be None or one of {sorted(MONITORS)}, got {monitor!r}")
        if isinstance(dice_weight, bool) or not isinstance(dice_weight, (int, float)) or not dice_weight >= 0:
            raise ValueError(f"dice_weight must be a number ≥ 0, got {dice_weight!r}")
        if schedule not in (None, "cosine", "step", "multistep"):
            raise ValueError(f"schedule must be None, 'cosine', 'step' or 'multistep', got {schedule!r}")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
        if not isinstance(normalize, (bool, Normalizer)):
            raise ValueError(f"normalize must be True, False or a Normalizer, got {normalize!r}")
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if early_stopping is not None and (not isinstance(early_stopping, int) or early_stopping < 1):
            raise ValueError(f"early_stopping must be None or a positive number of epochs, got {early_stopping!r}")
        self.model, self.task = model, task
        self.optimizer_spec, self.lr, self.weight_decay = optimizer, float(lr), float(weight_decay)
        self.batch_size, self.epochs = int(batch_size), int(epochs)
        self.augment, self.normalize, self.class_weights_spec = augment, normalize, class_weights
        self.schedule, self.monitor, self.early_stopping = schedule, monitor, early_stopping
        self.min_delta = float(min_delta)
        self.restore_best, self.seed, self.progress = restore_best, seed, progress
        self.dice_weight, self.class_names = float(dice_weight), class_names
        self.label_smoothing = float(label_smoothing)
        self.normalizer = None
        self.class_weights = None
        self.history = History()
        self.best_epoch, self.best_score = None, None
        self.stopped_early = False
        # What the last fit() actually used: ``task`` and ``monitor`` stay as you set them, these
        # say what they resolved to (the data set's task for task=None; "train_loss" for a
        # "val_…" monitor when there was no validation data). None before the first fit().
        self.task_used, self.monitor_used = None, None
        self._best_weights, self._epochs_without_improvement = None, 0  # early-stopping bookkeeping
        # After fit(resume=True): the epoch the checkpoint held (None: none usable, and why).
        self.resumed_from, self.resume_problem = None, None

    # -------------------------------------------------------------- pieces
    def _make_optimizer(self):
        spec = self.optimizer_spec
        if isinstance(spec, optim.Optimizer):
            return spec
        params = self.model.parameters()
        if spec == "adam":
            return optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if spec == "adamw":
            return optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if spec == "sgd":
            return optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        raise ValueError(f"unknown optimizer {spec!r}; choose 'adam', 'adamw', 'sgd' or pass a tinydl Optimizer")

    def _make_schedule(self, optimizer):
        if self.schedule == "cosine":
            return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        if self.schedule == "step":
            return optim.lr_scheduler.StepLR(optimizer, step_size=math.ceil(self.epochs / 2), gamma=0.1)
        if self.schedule == "multistep":
            milestones = sorted({max(1, round(self.epochs * 0.5)), max(1, round(self.epochs * 0.75))})
            return optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
        return None

    def _loss(self, logits, y):
        if self.multi_label:
            return binary_cross_entropy_with_logits(logits, y.astype(np.float32))
        # per pixel for segmentation, then the mean
        loss = cross_entropy(logits, y, weight=self.class_weights, label_smoothing=self.label_smoothing)
        if self.segmentation and self.dice_weight > 0:
            # Cross-entropy alone is ruled by the many background pixels; the Dice term scores each
            # class's overlap on its own, so a small organ or lesion counts as much as the background.
            loss = loss + self.dice_weight * dice_loss(logits, y)
        return loss

    def _check_labels(self, y, where):
        """``y`` checked against the task and the model's outputs (td.data.check_labels): a label
        outside 0..K-1 is an error here, not a wrap-around (-1) or a crash an epoch later (7)."""
        if self.segmentation:
            return check_masks(y, where, self._num_classes())
        return check_labels(y, where, self._num_classes(), self._task())

    def _check_split(self, x, y, where):
        """Images and labels (or masks) of one split checked for the task before any step."""
        if self.segmentation:
            return check_images_and_masks(x, y, where, self._num_classes())
        return check_images_and_labels(x, y, where, self._num_classes(), self._task())

    # -------------------------------------------------------------- fit
    def fit(self, train, val=None, checkpoint=None, resume=False):
        """Train for ``epochs`` epochs (fewer with early stopping); returns the History.

        ``checkpoint``: a path; after every epoch the whole state of the run is
        written there atomically (see :mod:`tinydl.checkpoint`). With ``resume=True``
        a checkpoint found there is loaded first and training continues after its
        epoch — to the same final weights as a run never interrupted; a missing or
        unusable one starts from epoch 1 (``resumed_from`` says which happened).
        """
        x_train, y_train, validation = self._prepare(train, val)
        optimizer = self._make_optimizer()
        scheduler = self._make_schedule(optimizer)
        # Shuffled anew every epoch from the seed; the augmentation runs on each batch.
        loader = DataLoader(
            (x_train, y_train), batch_size=self.batch_size, shuffle=True, seed=self.seed, transform=self.augment
        )
        first_epoch = 1
        if resume and checkpoint is not None:
            first_epoch = self._resume(checkpoint, optimizer, scheduler, loader, len(x_train))
        progress = Progress(self.epochs, len(loader), enabled=self.progress)
        for epoch in range(first_epoch, self.epochs + 1):
            started = time.perf_counter()
            row = {
                "epoch": epoch,
                **self.train_epoch(loader, optimizer, epoch, progress),
                "lr": optimizer.param_groups[0]["lr"],
            }
            if validation is not None:
                row.update(self._validate(*validation))
            row["seconds"] = time.perf_counter() - started
            self.history.append(row)
            progress.end_epoch(epoch, row)
            if scheduler is not None:
                scheduler.step()
            stop = self._track_best_epoch(epoch, row, keep_weights=self.restore_best and validation is not None)
            self.stopped_early = stop
            if checkpoint is not None:
                self._write_checkpoint(checkpoint, epoch, optimizer, scheduler, loader, len(x_train))
            if stop:
                break
        if self._best_weights is not None:
            self.model.load_state_dict(self._best_weights)
        self.model.eval()
        return self.history

    # -------------------------------------------------------------- checkpoints
    def _random_generators(self, loader):
        """Every generator the epochs draw from, in a fixed order: tinydl's (dropout), the shuffling,
        and the augmentation's (one per distinct generator of its transforms)."""
        generators, seen = [loader.rng], {id(loader.rng)}
        pending = [self.augment] if self.augment is not None else []
        while pending:
            t = pending.pop(0)
            pending[:0] = list(getattr(t, "transforms", []))
            rng = getattr(t, "rng", None)
            if rng is not None and id(rng) not in seen:
                generators.append(rng)
                seen.add(id(rng))
        return generators

    def _fingerprint(self, n_train):
        """What must match for a checkpoint to continue this training: the parameters and the data size."""
        shapes = {name: list(p.shape) for name, p in self.model.named_parameters()}
        return {"parameters": shapes, "n_train": int(n_train), "batch_size": self.batch_size, "epochs": self.epochs}

    def _write_checkpoint(self, path, epoch, optimizer, scheduler, loader, n_train):
        meta = {
            "epoch": epoch,
            "fingerprint": self._fingerprint(n_train),
            "history": self.history.rows,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "epochs_without_improvement": self._epochs_without_improvement,
            "stopped_early": self.stopped_early,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "random": {
                "tinydl": random_state(),
                "loader_epoch": loader.epoch,
                "generators": [g.bit_generator.state for g in self._random_generators(loader)],
            },
        }
        save_checkpoint(path, self.model.state_dict(), optimizer.state_dict(), meta, self._best_weights)

    def _resume(self, path, optimizer, scheduler, loader, n_train):
        """Load the checkpoint at ``path`` into the run; the first epoch still to train (1 without one)."""
        try:
            model_state, optimizer_state, meta, best_state = load_checkpoint(path)
            if meta["fingerprint"] != self._fingerprint(n_train):
                raise CheckpointError(f"{path} was written for another model, data set or batch size")
        except CheckpointError as e:
            self.resumed_from = None
            self.resume_problem = str(e)
            return 1
        self.model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        if scheduler is not None:
            scheduler.load_state_dict(meta["scheduler"])
        self.history = History()
        for row in meta["history"]:
            self.history.append(row)
        self.best_epoch, self.best_score = meta["best_epoch"], meta["best_score"]
        self._epochs_without_improvement = meta["epochs_without_improvement"]
        self.stopped_early = meta["stopped_early"]
        self._best_weights = best_state
        set_random_state(meta["random"]["tinydl"])
        loader.epoch = meta["random"]["loader_epoch"]
        for generator, state in zip(self._random_generators(loader), meta["random"]["generators"]):
            generator.bit_generator.state = state
        self.resumed_from, self.resume_problem = meta["epoch"], None
        return self.epochs + 1 if self.stopped_early else meta["epoch"] + 1

    def _prepare(self, train, val):
        """Check the data, resolve the task and the monitor, fit the normaliser and the class weights.

        Returns (x_train, y_train, validation), where validation is (x_val, y_val) or None.
        """
        self.task_used = self.task or getattr(train, "task", None) or "multi-class"
        if self.task_used not in TASKS:
            raise ValueError(f"the training data's task {self.task_used!r} is not one of {TASKS}")
        if self.segmentation:
            self.segmentation_classes = self._segmentation_class_names(train)
        self.history = History()  # a second fit() starts afresh
        self.best_epoch, self.best_score, self.stopped_early = None, None, False
        self._best_weights, self._epochs_without_improvement = None, 0
        # Every split passes the same checks (finite images, labels in 0..K-1 or 0/1 per finding)
        # before the first step, so a bad validation set fails now rather than after an epoch.
        x_train, y_train = as_arrays(train, "training data", model_inputs=True)
        x_train, y_train = self._check_split(x_train, y_train, "training data")
        validation = None
        if val is not None:
            x_val, y_val = as_arrays(val, "validation data", model_inputs=True)
            validation = self._check_split(x_val, y_val, "validation data")
        monitor = self.monitor or ("val_dice" if self.segmentation else "val_auc")
        if self.segmentation and monitor == "val_auc":
            raise ValueError("monitor 'val_auc': segmentation has no AUC; monitor val_dice, val_acc or val_loss")
        if not self.segmentation and monitor == "val_dice":
            raise ValueError(f"monitor 'val_dice' is for segmentation; the task is {self.task_used!r}")
        # Without validation data a "val_…" figure cannot pick the best epoch: the training loss does.
        self.monitor_used = "train_loss" if val is None and monitor.startswith("val_") else monitor
        manual_seed(self.seed)
        if self.multi_label and self.label_smoothing:
            raise ValueError(
                "label_smoothing is for single-label tasks; this task is multi-label (a sigmoid per finding)"
            )
        if isinstance(self.normalize, Normalizer):
            self.normalizer = self.normalize  # fixed statistics, given
        else:
            self.normalizer = Normalizer.fit(x_train) if self.normalize else None
        if not self.multi_label:
            classes = self._num_classes()
            if isinstance(self.class_weights_spec, str):
                if self.class_weights_spec != "balanced":
                    raise ValueError(
                        f"class_weights must be None, 'balanced' or an array, got {self.class_weights_spec!r}"
                    )
                self.class_weights = balanced_class_weights(y_train, classes)
            elif self.class_weights_spec is not None:
                self.class_weights = np.asarray(self.class_weights_spec, dtype=np.float32)
        return x_train, y_train, validation

    def train_epoch(self, loader, optimizer, epoch=1, progress=None):
        """One pass over ``loader``'s batches, updating the weights after each; returns
        {"train_loss", "train_acc"}: the mean loss and accuracy over the epoch's samples."""
        where = model_device(self.model)  # batches go to the model's device (the GPU after model.to("cuda"))
        batches = len(loader)
        self.model.train()
        loss_sum, correct, seen, findings = 0.0, 0, 0, 1
        for b, (xb, yb) in enumerate(loader):
            if self.normalizer is not None:
                xb = self.normalizer(xb)
            # BEGIN SOLUTION assignment=4 task=train_step hint="forward: logits = model(Tensor of the batch); loss = self._loss(logits, yb)"
            logits = self.model(_batch_tensor(xb, where))
            loss = self._loss(logits, yb)
            # END SOLUTION
            value = float(loss.item())
            if not math.isfinite(value):
                raise TrainingError(
                    f"the loss became {value} at epoch {epoch}, batch {b + 1}/{batches} (lr {self.lr:g}); "
                    "try a smaller learning rate, check the inputs for NaN, or use normalize=True"
                )
            # BEGIN SOLUTION assignment=4 task=train_step hint="clear the old gradients, back-propagate, update the weights"
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # END SOLUTION
            loss_sum += value * len(yb)
            seen += len(yb)
            correct += self._correct(logits.numpy(), yb)
            findings = self._findings(yb)  # accuracy counts every finding (every pixel) of every image
            if progress is not None:
                progress.update(epoch, b + 1, loss_sum / seen, correct / (seen * findings))
        return {"train_loss": loss_sum / seen, "train_acc": correct / (seen * findings)}

    def _track_best_epoch(self, epoch, row, keep_weights):
        """Note whether ``epoch`` is the best so far by ``monitor_used`` (keeping a copy of its weights
        when ``keep_weights``); returns True when early stopping says to stop now."""
        score = row.get(self.monitor_used)
        if score is None:  # not measurable this epoch (e.g. AUC with one class in the validation set)
            return False
        sign = 1.0 if MONITORS[self.monitor_used] == "max" else -1.0  # compare sign·score: higher is better
        if self.best_score is None or sign * (score - self.best_score) > self.min_delta:
            self.best_score, self.best_epoch, self._epochs_without_improvement = score, epoch, 0
            if keep_weights:
                self._best_weights = {k: np.array(v, copy=True) for k, v in self.model.state_dict().items()}
            return False
        self._epochs_without_improvement += 1
        return self.early_stopping is not None and self._epochs_without_improvement >= self.early_stopping

    def _num_classes(self):
        """The model's number of outputs: from its config (zoo models), else the size of its last parameter."""
        config = getattr(self.model, "config", {})
        if "num_classes" in config:
            return int(config["num_classes"])
        return int(list(self.model.parameters())[-1].shape[0])

    def _correct(self, logits, y):
        if self.multi_label:
            return int(((logits > 0) == (y > 0.5)).sum())
        return int((logits.argmax(axis=1) == y).sum())  # segmentation: correct pixels

    def _findings(self, y):
        """What one image contributes to the accuracy's count: 1, its findings, or its pixels."""
        if self.multi_label:
            return y.shape[1]
        return int(np.prod(y.shape[1:])) if self.segmentation else 1

    def _segmentation_class_names(self, train):
        """One name per class for the history's val_dice_<name> columns (letters, digits and _ only)."""
        k = self._num_classes()
        names = self.class_names or getattr(train, "classes", None) or [f"class_{c}" for c in range(k)]
        names = [str(n) for n in names]
        if len(names) != k:
            raise ValueError(f"class_names names {len(names)} classes {names} but the model has {k} outputs")
        return ["".join(ch if ch.isalnum() else "_" for ch in n) for n in names]

    def _validate_segmentation(self, x, y):
        """Validation figures of a segmentation model: the cross-entropy, pixel accuracy and the Dice
        per class from pooled counts over the whole split (the volume's Dice for slices of one scan)."""
        probs = self.predict_proba(x)  # (N, K, H, W)
        predicted = probs.argmax(axis=1)
        p_true = np.take_along_axis(probs, y[:, None], axis=1)
        loss = float(-np.mean(np.log(np.clip(p_true, 1e-7, 1))))
        dice = metrics.dice_score(y, predicted, probs.shape[1], average=None)
        foreground = dice[1:] if len(dice) > 1 else dice
        row = {
            "val_loss": loss,
            "val_acc": float(np.mean(predicted == y)),
            "val_dice": None if np.all(np.isnan(foreground)) else float(np.nanmean(foreground)),
        }
        for name, value in zip(self.segmentation_classes, dice):
            row[f"val_dice_{name}"] = None if np.isnan(value) else float(value)
        return row

    def _validate(self, x, y):
        if self.segmentation:
            return self._validate_segmentation(x, y)
        probs = self.predict_proba(x)
        eps = 1e-7
        if self.multi_label:
            p = np.clip(probs, eps, 1 - eps)
            loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
            acc = float(np.mean((probs > 0.5) == (y > 0.5)))
        else:
            loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], eps, 1))))
            acc = float(np.mean(probs.argmax(axis=1) == y))
        try:
            auc = float(metrics.roc_auc(y, probs if probs.shape[1] > 2 or self.multi_label else probs[:, 1]))
        except ValueError:  # one class only in this validation set: AUC is undefined
            auc = None
        return {"val_loss": loss, "val_acc": acc, "val_auc": auc}

    # -------------------------------------------------------------- use
    def _task(self):
        """The task predictions are made for: what the last fit() used, else the one given, else multi-class."""
        return self.task_used or self.task or "multi-class"

    @property
    def multi_label(self):
        """True for a multi-label task: a sigmoid and a binary cross-entropy per finding."""
        return self._task().startswith("multi-label")

    @property
    def segmentation(self):
        """True for segmentation: a class per pixel, cross-entropy + Dice."""
        return self._task() == SEGMENTATION

    def predict_proba(self, x, batch_size=512):
        """Probabilities for images x (N, C, H, W) in [0, 1], normalised as in training."""
        return predict_proba(self.model, x, self.normalizer, self._task(), batch_size)

    def evaluate(self, data, class_names=None):
        """td.metrics.evaluate on a data set (or (x, y)): ACC, AUC, per-class figures, confusion matrix, ECE."""
        x, y = as_arrays(data, "evaluation data", model_inputs=True)
        y = self._check_labels(y, "evaluation data")
        class_names = class_names or getattr(data, "classes", None)
        if self.segmentation:
            names = list(class_names) if class_names is not None else self.segmentation_classes
            return metrics.segmentation_report(y, self.predict_proba(x).argmax(axis=1), names)
        return metrics.evaluate(
            y,
            self.predict_proba(x),
            task=self._task(),
            class_names=list(class_names) if class_names is not None else None,
        )


def fit(model, train, val=None, **options):
    """Shortcut: ``Trainer(model, **options).fit(train, val)``; returns the Trainer (with .history)."""
    trainer = Trainer(model, **options)
    trainer.fit(train, val)
    return trainer
