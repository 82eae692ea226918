#!/usr/bin/env python
"""tinydl's segmentation recipe and a PyTorch U-Net of the same shape trained the same way, side by side.

    python benchmarks/bench_segmentation.py                          # liverct117 and colin27_brain, the full recipe
    python benchmarks/bench_segmentation.py --datasets liverct117 --epochs 5
    python benchmarks/bench_segmentation.py --quick                  # 2 epochs, a few slices, width 4 (a test)

For each data set, tinydl runs its recipe exactly as ``tinydl train --task segmentation --data NAME``
does (``td.train_run(td.RunConfig(task="segmentation", ...))``: SEGMENTATION_RECIPE, the U-Net
computing at ``working_size``, cross-entropy + soft Dice, Adam, cosine schedule, the epoch with the
best validation Dice kept) in one process; then the PyTorch twin trains in ANOTHER process (so the
two thread pools never share the cores), matched as follows:

* the same initial weights: the tinydl process saves its U-Net's state_dict as training starts
  (the ``state_dict`` of ``Trainer.fit``'s model) and the PyTorch process loads it;
* the same images: the splits come from ``td.segmentation_run.load_segmentation_splits`` with the
  same RunConfig (the same intensity step: CT window, MR normalisation, ...), standardised by
  ``td.train.Normalizer`` fitted on the training images, as the Trainer does;
* the same batches in the same order with the same augmentation: PyTorch iterates a
  ``td.data.DataLoader`` built as the Trainer builds it (shuffled from the run's seed, with the
  run's paired transform from the same seed when the recipe augments);
* the same network: ``torch_unet`` (attribute for attribute ``td.models.UNet``, with its bilinear
  resizing to the working size and back, ``align_corners=False``);
* the same loss: ``F.cross_entropy`` + dice_weight · soft Dice written as ``td.ops.dice_loss``
  (softmax, per image and class, smooth 1, background included, mean);
* the same optimiser (Adam, the recipe's lr and weight decay), schedule (cosine over the epochs,
  stepped after each epoch), epochs, batch size;
* the same best-epoch choice: after each epoch, the validation Dice pooled over the split
  (``td.metrics.dice_score``, mean over the foreground classes) in eval mode; the best (strictly
  better) epoch's weights are put back before the test split is scored;
* the same test figures: ``td.segmentation_run.report_for`` (``td.metrics.segmentation_report``).

Both processes use as many threads as the machine has cores (Numba's pool; ``torch.set_num_threads``).
Times: "training s" is the whole ``fit`` (every epoch's training and validation; tinydl's also writes
its per-epoch checkpoint, as ``tinydl train`` does); "s / epoch" is the mean of the per-epoch times
(training + validation), and the ratio tinydl / PyTorch is taken from those. The first-step losses
of the two show that they start from the same weights and batches (they agree to rounding).

Data: the ``.npz`` files from --data-dir, else TINYDL_SEGMENTATION_DIR (then TINYDL_DATA_DIR, the cache).
Results: a Markdown table on stdout, and ``--out`` (default ``benchmarks/results/segmentation-<date>``)
``.md`` + ``.json``, numbered (``-2``, ``-3``, ...) rather than overwriting; a folder for --out gets
``segmentation-<date>.md/.json`` inside it.
"""

import argparse
import datetime
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py, also when imported from elsewhere
from machine import cores, cpu_name, vector_isa  # noqa: E402
from machine import numba_vector_width as vector_width  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ("liverct117", "colin27_brain")
DEFAULT_OUT_DIR = ROOT / "benchmarks" / "results"
FRAMEWORKS = ("tinydl", "torch")
# --quick: a few slices from the middle of each split, a narrow U-Net, two epochs.
QUICK = dict(epochs=2, base_width=4, slices={"train": 16, "val": 4, "test": 4})


# ------------------------------------------------------------------------------ the machine
def torch_version():
    """PyTorch's version without importing it here (the parent process runs neither framework)."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


# ------------------------------------------------------------------------------ the shared setup
def run_config(spec, out=None):
    """The RunConfig both processes read: tinydl's recipe, with the benchmark's few overrides."""
    import tinydl as td

    options = {k: spec[k] for k in ("epochs", "base_width") if spec.get(k) is not None}
    return td.RunConfig(
        task="segmentation",
        data=spec["data"],
        data_dir=spec["data_dir"],
        out=out,
        no_plots=True,
        quiet=True,
        no_download=True,
        seed=spec["seed"],
        **options,
    )


def quick_file(name, data_dir, folder):
    """A small copy of data set ``name`` (QUICK's slices from the middle of each split) in ``folder``."""
    from tinydl.data import segmentation

    info = segmentation.get_segmentation_info(name)
    path, _ = segmentation.find_segmentation_file(info.file_name, data_dir)
    if path is None:
        raise FileNotFoundError(f"{info.file_name} is in none of {segmentation.segmentation_search_dirs(data_dir)}")
    arrays = {}
    with np.load(path, allow_pickle=False) as archive:
        for split, n in QUICK["slices"].items():
            for key in (f"{split}_images", f"{split}_label"):
                values = archive[key]
                start = max(0, (len(values) - n) // 2)
                arrays[key] = values[start : start + n]
    target = Path(folder) / f"{name}-quick.npz"
    np.savez(target, **arrays)
    return str(target)


# ------------------------------------------------------------------------------ the tinydl process
def worker_tinydl(spec, work):
    """td.train_run of the recipe; saves the initial weights for the PyTorch process."""
    import tinydl as td
    from tinydl.kernels._numba import numba

    trainer_class = td.train.Trainer
    original_fit, original_loss = trainer_class.fit, trainer_class._loss
    step_losses = []

    def fit(self, train, val=None, **options):
        # What this run trains with, as train_segmentation built it, for the PyTorch process to copy.
        np.savez(work / "initial.npz", **{k: np.asarray(v) for k, v in self.model.state_dict().items()})
        (work / "augment.pkl").write_bytes(pickle.dumps(self.augment))  # its generator's state included
        settings = {name: getattr(self, attr) for name, attr in TRAINER_SETTINGS.items()}
        settings["model"] = dict(self.model.config, resample_to=getattr(self.model, "resample_to", None))
        settings["data_md5"] = {"train": data_md5(train), "val": data_md5(val)}
        (work / "trainer.json").write_text(json.dumps(settings))
        return original_fit(self, train, val, **options)

    def loss(self, logits, y):  # called once per training step (validation computes its own figures)
        value = original_loss(self, logits, y)
        step_losses.append(float(value.item()))
        return value

    trainer_class.fit, trainer_class._loss = fit, loss
    config = run_config(spec, out=str(work / "run"))
    result = td.train_run(config, log=None)
    history = result.history
    return {
        "threads": numba.get_num_threads(),
        "train_seconds": result.seconds,
        "epoch_seconds": history["seconds"],
        "val_dice": history["val_dice"],
        "train_loss": history["train_loss"],
        "best_epoch": result.trainer.best_epoch,
        "best_validation_dice": result.trainer.best_score,
        "steps_per_epoch": len(step_losses) // max(1, len(history)),
        "step_losses": step_losses,
        "dice": result.report["dice"],
        "mean_dice": result.report["mean_dice"],
        "dice_regions": result.report.get("dice_regions"),
        "recipe": {k: v for k, v in config.as_metadata().items() if k in RECIPE_FIELDS},
    }


# The Trainer's settings the PyTorch twin copies: {name in trainer.json: Trainer attribute}.
TRAINER_SETTINGS = {
    "optimizer": "optimizer_spec",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "batch_size": "batch_size",
    "epochs": "epochs",
    "normalize": "normalize",
    "class_weights": "class_weights_spec",
    "schedule": "schedule",
    "monitor": "monitor",
    "early_stopping": "early_stopping",
    "min_delta": "min_delta",
    "restore_best": "restore_best",
    "seed": "seed",
    "dice_weight": "dice_weight",
}


def data_md5(dataset):
    """MD5 of a split's images and masks as the Trainer reads them (float32 images), to check both sides agree."""
    import hashlib

    from tinydl.data.loader import as_arrays

    x, y = as_arrays(dataset, "data", model_inputs=True)
    digest = hashlib.md5(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return digest.hexdigest()


RECIPE_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "schedule",
    "monitor",
    "augment",
    "flip",
    "brightness",
    "contrast",
    "class_weights",
    "base_width",
    "depth",
    "dice_weight",
    "image_size",
    "intensity",
    "seed",
)


# ------------------------------------------------------------------------------ the PyTorch process
def soft_dice_loss(torch, logits, target, smooth=1.0):
    """td.ops.dice_loss in torch: p = softmax over classes, per image n and class c
    Dice_nc = (2 Σ p g + s) / (Σ p + Σ g + s), loss = mean over n and c of 1 − Dice_nc (background included)."""
    p = torch.softmax(logits, dim=1)
    g = torch.nn.functional.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(p.dtype)
    overlap = (p * g).sum(dim=(2, 3))
    total = p.sum(dim=(2, 3)) + g.sum(dim=(2, 3))
    return (1.0 - (2.0 * overlap + smooth) / (total + smooth)).mean()


def worker_torch(spec, work):
    """The PyTorch twin on the same data, weights, batches, loss, optimiser, schedule and selection."""
    import torch  # before tinydl, as in the other benchmarks: its OpenMP runtime starts with its own defaults

    import tinydl as td
    from tinydl import segmentation_run
    from tinydl.data.checks import check_images_and_masks
    from tinydl.data.loader import as_arrays
    from tinydl.testing.torch_models import torch_unet

    torch.set_num_threads(cores())
    config = run_config(spec)
    settings = json.loads((work / "trainer.json").read_text())  # what tinydl's Trainer trained with
    unsupported = {
        "optimizer": settings["optimizer"] != "adam",
        "class_weights": settings["class_weights"] is not None,
        "schedule": settings["schedule"] not in ("cosine", None),
        "monitor": settings["monitor"] not in ("val_dice", None),
        "early_stopping": settings["early_stopping"] is not None,
        "normalize": not settings["normalize"],
        "restore_best": not settings["restore_best"],
    }
    if any(unsupported.values()):
        raise NotImplementedError(
            f"the PyTorch twin follows Adam, no class weights, a cosine or no schedule, the best validation Dice "
            f"kept, no early stopping, standardised inputs; this run differs in {[k for k, v in unsupported.items() if v]}"
        )
    splits = segmentation_run.load_segmentation_splits(config, log=lambda message: None)
    train, val, test = splits["train"], splits["val"], splits["test"]
    for split, dataset in (("train", train), ("val", val)):
        if data_md5(dataset) != settings["data_md5"][split]:
            raise RuntimeError(f"the {split} images differ from those tinydl trained on")
    classes = list(train.classes)
    k = len(classes)
    # As Trainer._prepare and train_segmentation read and check the splits.
    x_train, y_train = check_images_and_masks(*as_arrays(train, "training data", model_inputs=True), "training data", k)
    x_val, y_val = check_images_and_masks(*as_arrays(val, "validation data", model_inputs=True), "validation data", k)
    x_test, y_test = check_images_and_masks(*test.arrays(), "test data", k)
    normalizer = td.train.Normalizer.fit(x_train)
    shape = settings["model"]
    side = shape["resample_to"]
    epochs, dice_weight = settings["epochs"], settings["dice_weight"]

    model = torch_unet(
        torch, shape["in_channels"], shape["num_classes"], shape["base_width"], shape["depth"], resample_to=side
    )
    with np.load(work / "initial.npz", allow_pickle=False) as initial:  # tinydl's initial weights
        model.load_state_dict({name: torch.from_numpy(np.array(initial[name])) for name in initial.files})
    # tinydl's own augmentation object, as it was before its first batch (same steps, same generator state).
    augment = pickle.loads((work / "augment.pkl").read_bytes())
    loader = td.data.DataLoader(
        (x_train, y_train), batch_size=settings["batch_size"], shuffle=True, seed=settings["seed"], transform=augment
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        if settings["schedule"] == "cosine"
        else None
    )
    min_delta = settings["min_delta"]

    def predict(x, batch_size=512):
        model.eval()
        with torch.no_grad():
            return np.concatenate(
                [
                    torch.softmax(model(torch.from_numpy(normalizer(x[i : i + batch_size]))), dim=1).numpy()
                    for i in range(0, len(x), batch_size)
                ]
            )

    step_losses, epoch_seconds, val_dice, train_loss = [], [], [], []
    best_score, best_epoch, best_state = None, None, None
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        loss_sum, seen = 0.0, 0
        for xb, yb in loader:
            logits = model(torch.from_numpy(np.ascontiguousarray(normalizer(xb), dtype=np.float32)))
            target = torch.from_numpy(np.asarray(yb, dtype=np.int64))
            loss = torch.nn.functional.cross_entropy(logits, target)
            if dice_weight > 0:
                loss = loss + dice_weight * soft_dice_loss(torch, logits, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = float(loss.item())
            step_losses.append(value)
            loss_sum, seen = loss_sum + value * len(yb), seen + len(yb)
        predicted = predict(x_val).argmax(axis=1)
        dice = td.metrics.dice_score(y_val, predicted, k, average=None)
        foreground = dice[1:] if len(dice) > 1 else dice
        score = None if np.all(np.isnan(foreground)) else float(np.nanmean(foreground))
        epoch_seconds.append(time.perf_counter() - epoch_start)
        val_dice.append(score)
        train_loss.append(loss_sum / seen)
        if scheduler is not None:
            scheduler.step()
        if score is not None and (best_score is None or score - best_score > min_delta):
            best_score, best_epoch = score, epoch
            best_state = {name: v.detach().clone() for name, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    seconds = time.perf_counter() - started
    predicted = predict(x_test, batch_size=16).argmax(axis=1)
    report = segmentation_run.report_for(y_test, predicted, classes, train, "test")
    return {
        "threads": torch.get_num_threads(),
        "train_seconds": seconds,
        "epoch_seconds": epoch_seconds,
        "val_dice": val_dice,
        "train_loss": train_loss,
        "best_epoch": best_epoch,
        "best_validation_dice": best_score,
        "steps_per_epoch": len(loader),
        "step_losses": step_losses,
        "dice": report["dice"],
        "mean_dice": report["mean_dice"],
        "dice_regions": report.get("dice_regions"),
        "working_size": side,
        "n_images": {"train": len(x_train), "val": len(x_val), "test": len(x_test)},
    }


WORKERS = {"tinydl": worker_tinydl, "torch": worker_torch}


def worker_main(framework, spec_path, result_path):
    spec = json.loads(Path(spec_path).read_text())
    result = WORKERS[framework](spec, Path(spec["work"]))
    Path(result_path).write_text(json.dumps(result))
    return 0


def run_worker(framework, spec, work):
    """One framework's training in a fresh Python process; its result dict."""
    spec_path, result_path = work / "spec.json", work / f"{framework}.json"
    spec_path.write_text(json.dumps(dict(spec, work=str(work))))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", framework, str(spec_path), str(result_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {framework} process failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(result_path.read_text())


# ------------------------------------------------------------------------------ one data set
def compare(name, args, work):
    data = quick_file(name, args.data_dir, work) if args.quick else name
    spec = {
        "data": data,
        "data_dir": args.data_dir,
        "seed": args.seed,
        "epochs": QUICK["epochs"] if args.quick else args.epochs,
        "base_width": QUICK["base_width"] if args.quick else None,
    }
    row = {"dataset": name, "data": data}
    for framework in FRAMEWORKS:
        if framework == "torch" and torch_version() is None:
            row["torch"] = None
            continue
        row[framework] = run_worker(framework, spec, work)
    tiny, twin = row["tinydl"], row["torch"]
    row["tinydl_seconds_per_epoch"] = float(np.mean(tiny["epoch_seconds"]))
    if twin is not None:
        row["torch_seconds_per_epoch"] = float(np.mean(twin["epoch_seconds"]))
        row["time_ratio"] = row["tinydl_seconds_per_epoch"] / row["torch_seconds_per_epoch"]
        row["first_step_losses"] = [tiny["step_losses"][0], twin["step_losses"][0]]
        steps = min(len(tiny["step_losses"]), len(twin["step_losses"]), tiny["steps_per_epoch"])
        row["first_epoch_max_loss_difference"] = float(
            np.max(np.abs(np.subtract(tiny["step_losses"][:steps], twin["step_losses"][:steps])))
        )
    print(json.dumps({k: v for k, v in row.items() if k not in FRAMEWORKS}), flush=True)
    return row


# ------------------------------------------------------------------------------ report
def fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(rows, meta):
    recipe = rows[0]["tinydl"]["recipe"] if rows else {}
    lines = [
        f"## Segmentation: tinydl's recipe vs a PyTorch U-Net of the same shape ({meta['mode']})",
        "",
        f"{meta['cpu']}, {meta['cores']} cores, SIMD {meta['vector_width']}; tinydl {meta['tinydl_threads']} threads "
        f"(Numba), PyTorch {meta['torch'] or 'not installed'}"
        + (f" ({meta['torch_threads']} threads)" if meta.get("torch_threads") else "")
        + ". Same initial weights, images, batches (order and augmentation), loss, Adam, schedule and "
        "best-epoch choice by validation Dice; each framework in its own process.",
        "",
        "Recipe: " + ", ".join(f"{k} {v}" for k, v in recipe.items()) + ".",
        "",
        "| data set | framework | test Dice per class (pooled) | mean Dice (foreground) | best epoch "
        "| training s | s / epoch | time tinydl / PyTorch |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for framework, label in (("tinydl", "tinydl"), ("torch", "PyTorch")):
            r = row[framework]
            if r is None:
                lines.append(f"| {row['dataset']} | {label} | n/a | n/a | n/a | n/a | n/a | |")
                continue
            dice = ", ".join(f"{c} {fmt(v)}" for c, v in r["dice"].items())
            if r.get("dice_regions"):
                dice += "; " + ", ".join(f"{c} {fmt(v)}" for c, v in r["dice_regions"].items())
            ratio = fmt(row.get("time_ratio"), 2) if framework == "tinydl" else ""
            lines.append(
                f"| {row['dataset']} | {label} | {dice} | {fmt(r['mean_dice'])} | {r['best_epoch']} "
                f"| {r['train_seconds']:.1f} | {np.mean(r['epoch_seconds']):.2f} | {ratio} |"
            )
    checks = [
        f"{row['dataset']}: first-step loss tinydl {row['first_step_losses'][0]:.6f}, PyTorch "
        f"{row['first_step_losses'][1]:.6f}; largest difference over the first epoch's steps "
        f"{row['first_epoch_max_loss_difference']:.1e}"
        for row in rows
        if row.get("first_step_losses")
    ]
    if checks:
        lines += ["", "Same start, same batches: " + "; ".join(checks) + "."]
    return "\n".join(lines) + "\n"


def output_paths(out):
    """(markdown, json) paths for --out, numbered rather than overwriting an earlier result."""
    date = datetime.date.today().isoformat()
    folder = not out or str(out).endswith(("/", os.sep))
    out = Path(out) if out else DEFAULT_OUT_DIR
    if folder or out.is_dir():
        stem = out / f"segmentation-{date}"
    else:
        stem = out.with_suffix("") if out.suffix in (".md", ".json") else out
    candidate, n = stem, 1
    while (
        candidate.with_name(candidate.name + ".md").exists() or candidate.with_name(candidate.name + ".json").exists()
    ):
        n += 1
        candidate = stem.with_name(f"{stem.name}-{n}")
    candidate.parent.mkdir(parents=True, exist_ok=True)
    return candidate.with_name(candidate.name + ".md"), candidate.with_name(candidate.name + ".json")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS), help="names (space or comma separated)")
    p.add_argument("--data-dir", default=None, help="folder of the .npz files (default: TINYDL_SEGMENTATION_DIR, …)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (a quick look)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="2 epochs, a few slices, a U-Net of width 4 (a test)")
    p.add_argument("--out", default=None, help="file stem or folder (default benchmarks/results/segmentation-<date>)")
    args = p.parse_args(argv)
    args.datasets = [d for item in args.datasets for d in item.split(",") if d]
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker_main(*argv[1:4])
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tinydl.kernels._numba import numba  # tinydl's Numba settings (threads), without starting its pool

    meta = {
        "mode": "quick" if args.quick else (f"{args.epochs} epochs" if args.epochs else "the full recipe"),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_name(),
        "cores": cores(),
        "vector_isa": vector_isa(),
        "vector_width": vector_width(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tinydl_threads": numba.get_num_threads(),
        "torch": torch_version(),
        "torch_threads": cores() if torch_version() else None,
        "seed": args.seed,
    }
    print(
        f"{meta['cpu']}, {meta['cores']} cores, SIMD {meta['vector_width']}; "
        f"PyTorch {meta['torch'] or 'not installed (its columns read n/a)'}",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-segmentation-") as tmp:
        for name in args.datasets:
            work = Path(tmp) / name
            work.mkdir()
            rows.append(compare(name, args, work))
    text = markdown(rows, meta)
    print(text)
    md_path, json_path = output_paths(args.out)
    md_path.write_text(text, encoding="utf-8")
    json_path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1), encoding="utf-8")
    print(f"Saved {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
