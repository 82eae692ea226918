"""The ``tinydl`` command line: train, evaluate, predict, explain, datasets.

    tinydl datasets                                   # what is known, what is on disk
    tinydl train --data pneumoniamnist --out runs/pneumonia
    tinydl evaluate runs/pneumonia --split test
    tinydl predict runs/pneumonia xray1.png xray2.jpeg scan.npy
    tinydl explain runs/pneumonia xray1.png --out gradcam.png

A run folder holds everything about one trained model: ``model.npz`` (weights
and metadata), ``metadata.json`` (architecture, classes, normalisation, data
set and MD5, seed, metrics), ``metrics.json`` (test figures), ``history.csv``
(one row per epoch) and PNG plots (training curves, confusion matrix, ROC
curve, calibration, sample predictions, Grad-CAM overlays). Every file is
written through a temporary file and a rename, so an interrupted run never
leaves half a file. Data are found through ``--data-dir``, then the
environment variable TINYDL_DATA_DIR, then the user cache (see ``tinydl datasets``).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

EXIT_USAGE, EXIT_ERROR = 2, 1


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("\ninterrupted; files already written are complete, nothing is half-written", file=sys.stderr)
        return 130
    except (ValueError, OSError, FloatingPointError, NotImplementedError, RuntimeError) as exc:  # OSError: files, downloads
        print(f"tinydl {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def build_parser():
    parser = argparse.ArgumentParser(prog="tinydl", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model on a data set and evaluate it on the test split")
    p.add_argument("--data", default="pneumoniamnist", help="data set name (see `tinydl datasets`), or 'synthetic'")
    p.add_argument("--data-dir", help="folder with the .npz files (default: $TINYDL_DATA_DIR, then the cache)")
    p.add_argument("--no-download", action="store_true",
                   help="do not try to download a data set that is not found locally")
    p.add_argument("--no-synthetic-fallback", action="store_true",
                   help="fail when the data set is missing instead of training on the built-in synthetic set")
    p.add_argument("--model", default="small_cnn", choices=["small_cnn", "convnet"],
                   help="small_cnn (the article's CNN) or convnet (two conv blocks, BatchNorm, dropout)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty λ")
    p.add_argument("--dropout", type=float, default=None, help="dropout probability (convnet)")
    p.add_argument("--augment", action="store_true",
                   help="random rotations (±10°), shifts (±2 px), brightness/contrast and noise while training")
    p.add_argument("--brightness", type=float, default=0.1, help="with --augment: brightness change, ± (default 0.1)")
    p.add_argument("--contrast", type=float, default=0.15, help="with --augment: contrast change, ± (default 0.15)")
    p.add_argument("--flip", action="store_true",
                   help="also random left-right flips (off by default: left and right matter in chest X-rays)")
    p.add_argument("--class-weights", choices=["none", "balanced"], default="none")
    p.add_argument("--schedule", choices=["none", "cosine", "step"], default="none")
    p.add_argument("--early-stopping", type=int, default=None, metavar="EPOCHS")
    p.add_argument("--monitor", default="val_auc", choices=["val_auc", "val_acc", "val_loss"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run folder (default: runs/<data>-<model>-seed<seed>)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="metrics JSON and plots of a saved run on a data split")
    p.add_argument("run_dir", help="a run folder written by `tinydl train` (or its model.npz)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--data-dir")
    p.add_argument("--out", help="folder for the results (default: <run>/eval-<split>)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("predict", help="class and probabilities for PNG/JPEG/NPY images")
    p.add_argument("run_dir")
    p.add_argument("images", nargs="+", help="image files (.png, .jpg, .jpeg, .npy)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("explain", help="Grad-CAM overlays (PNG) for images or for samples of a split")
    p.add_argument("run_dir")
    p.add_argument("images", nargs="*", help="image files; none: samples from --split")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--n", type=int, default=8, help="how many split samples to explain")
    p.add_argument("--layer", default=None, help="conv layer name (default: the last conv layer)")
    p.add_argument("--data-dir")
    p.add_argument("--out", default=None, help="PNG path (default: <run>/gradcam-<...>.png)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs")
    p.set_defaults(run=cmd_explain)

    p = sub.add_parser("datasets", help="list the known data sets and the files found locally")
    p.add_argument("--data-dir")
    p.set_defaults(run=cmd_datasets)

    p = sub.add_parser("assignment", help="course assignments: write a student version")
    p.add_argument("action", choices=["make", "list"], help="make: write a student version; list: what each covers")
    p.add_argument("number", nargs="?", type=int, help="the assignment (1-4)")
    p.add_argument("--out", default=None, help="folder to write (default: assignmentN)")
    p.add_argument("--solution", action="store_true", help="write the same folder with the solutions (to check the autograder)")
    p.set_defaults(run=cmd_assignment)
    return parser


# ---------------------------------------------------------------------------- helpers
def _load_splits(name, data_dir, download=False, fallback=True, splits=("train", "val", "test")):
    """The splits of ``name``: from --data-dir / TINYDL_DATA_DIR / the cache, else downloaded (when
    ``download``), else — when ``fallback`` — the built-in synthetic set; prints which it used."""
    import warnings

    from . import data

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", data.SyntheticFallbackWarning)
        first = data.load_dataset(name, splits[0], root=data_dir, download=download, fallback_synthetic=fallback)
    fell_back = any(issubclass(w.category, data.SyntheticFallbackWarning) for w in caught)
    # The other splits come from the same place: the file found or downloaded, or — after a
    # fallback — the synthetic set at once (no second wait for a network that is not there).
    source = "synthetic" if fell_back else name
    loaded = {splits[0]: first, **{s: data.load_dataset(source, s, root=data_dir) for s in splits[1:]}}
    if fell_back:
        print(f"WARNING: {first.fallback_reason}; training on tinydl's SYNTHETIC images (not medical data). "
              "Set TINYDL_DATA_DIR or pass --data-dir to use real data.", file=sys.stderr)
    print(data.describe_source(loaded[splits[0]]))
    return loaded


def _run_paths(run_dir):
    run_dir = Path(run_dir)
    model_path = run_dir if run_dir.suffix == ".npz" else run_dir / "model.npz"
    if not model_path.is_file():
        raise FileNotFoundError(f"no model file at {model_path}; give a run folder written by `tinydl train`")
    return model_path.parent, model_path


def _load_run(run_dir, device="cpu"):
    from . import cuda, serialization
    from .train import Normalizer

    folder, model_path = _run_paths(run_dir)
    model = serialization.load(model_path)
    meta = model.metadata
    missing = [key for key in ("task", "class_names", "image_shape", "dataset") if key not in meta]
    if missing:
        raise ValueError(f"{model_path} lacks the metadata {missing} that the command line needs; it was saved "
                         "without them (e.g. by td.save alone) — save with the keys that `tinydl train` writes")
    normalizer = Normalizer.from_dict(meta["normalization"]) if meta.get("normalization") else None
    if device != "cpu":
        cuda.require()
        model.to(device)  # saved weights are NumPy arrays: any run loads on the CPU or the GPU
    return folder, model, meta, normalizer


def _write_json(path, obj):
    from .files import write_text

    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def _evaluation_plots(out, x, y, probs, class_names, task, history=None):
    from . import metrics, plots

    if history is not None:
        plots.training_curves(history, out / "training_curves.png")
    if not task.startswith("multi-label"):
        matrix = metrics.confusion_matrix(y, probs.argmax(axis=1), num_classes=probs.shape[1])
        plots.confusion_matrix(matrix, class_names, out / "confusion_matrix.png")
        plots.reliability(y, probs, path=out / "calibration.png")
        plots.sample_predictions(x, y, probs, class_names, path=out / "sample_predictions.png")
    plots.roc_curves(y, probs, class_names, task, out / "roc_curve.png")


def _gradcam_figure(model, x, normalizer, class_names, path, layer=None, titles=None):
    from . import explain

    inputs = normalizer(x) if normalizer is not None else x
    maps, probs = explain.grad_cam(model, inputs, layer=layer, return_probs=True)
    if titles is None:
        names = list(class_names) if class_names else [str(i) for i in range(probs.shape[1])]
        titles = [f"{names[int(p.argmax())]} ({p.max():.2f})" for p in probs]
    explain.plot_explanations(x, maps, titles=titles, path=path)
    return probs


# ---------------------------------------------------------------------------- commands
def cmd_datasets(args):
    from . import data

    print(data.datasets_table(args.data_dir))


def cmd_train(args):
    import tinydl as td

    from .train import Trainer

    if args.device == "cuda":
        td.cuda.require()  # fail before loading the data when there is no usable GPU
    splits = _load_splits(args.data, args.data_dir, not args.no_download, not args.no_synthetic_fallback)
    train, val, test = splits["train"], splits["val"], splits["test"]
    multi_label = train.task.startswith("multi-label")
    num_outputs = train.labels.shape[1] if multi_label else train.n_classes
    model_args = {"in_channels": train.n_channels, "num_classes": int(num_outputs)}
    if args.dropout is not None:
        if args.model != "convnet":
            raise ValueError(f"--dropout: the {args.model} model has no dropout layer; use --model convnet")
        model_args["dropout"] = args.dropout
    td.manual_seed(args.seed)
    model = td.models.create(args.model, **model_args).to(args.device)  # the same seed's weights on either device
    augment = td.data.default_augmentation(flip=args.flip, brightness=args.brightness, contrast=args.contrast,
                                           seed=args.seed) if args.augment else None
    trainer = Trainer(
        model, task=train.task, optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
        batch_size=args.batch_size, epochs=args.epochs, augment=augment,
        class_weights=None if args.class_weights == "none" else args.class_weights,
        schedule=None if args.schedule == "none" else args.schedule, monitor=args.monitor,
        early_stopping=args.early_stopping, seed=args.seed, progress=not args.quiet,
    )
    out = Path(args.out or f"runs/{train.name}-{args.model}-seed{args.seed}")
    print(f"Training {args.model} ({model.num_parameters():,} parameters) for {args.epochs} epochs; run folder {out}")
    started = time.perf_counter()
    history = trainer.fit(train, val)
    seconds = time.perf_counter() - started
    x_test, y_test = test.arrays()
    probs = trainer.predict_proba(x_test)
    report = td.metrics.evaluate(y_test, probs, task=train.task, class_names=list(train.classes))
    report.update({"split": "test", "n_images": int(len(x_test)), "train_seconds": round(seconds, 2),
                   "best_epoch": trainer.best_epoch, "monitor": trainer.monitor,
                   "best_validation_score": trainer.best_score})
    out.mkdir(parents=True, exist_ok=True)
    metadata = {
        "class_names": list(train.classes), "task": train.task,
        "normalization": trainer.normalizer.to_dict() if trainer.normalizer else None,
        "dataset": train.name, "dataset_source": train.source, "dataset_md5": getattr(train, "md5", None),
        "image_shape": list(x_test.shape[1:]), "seed": args.seed,
        "training": {k: v for k, v in vars(args).items() if k not in ("run", "command")},
        "metrics": {k: report[k] for k in ("accuracy", "auc") if k in report},
        "best_epoch": trainer.best_epoch,
    }
    td.save(model, out / "model.npz", write_json=True, **metadata)
    _write_json(out / "metrics.json", report)
    history.to_csv(out / "history.csv")
    if not args.no_plots:
        _evaluation_plots(out, x_test, y_test, probs, list(train.classes), train.task, history)
        if not multi_label:
            _gradcam_figure(model, x_test[:8], trainer.normalizer, list(train.classes), out / "gradcam.png")
    auc = report.get("auc")
    print(f"Test ({len(x_test)} images): accuracy {report['accuracy']:.4f}  AUC "
          f"{'n/a' if auc is None else f'{auc:.4f}'}  (best epoch {trainer.best_epoch}, {seconds:.1f} s of training)")
    print(f"Saved {out}/: model.npz metadata.json metrics.json history.csv" + ("" if args.no_plots else " and plots"))


def cmd_evaluate(args):
    from . import metrics

    folder, model, meta, normalizer = _load_run(args.run_dir, args.device)
    splits = _load_splits(meta["dataset"], args.data_dir, fallback=meta["dataset"].startswith("synthetic"),
                          splits=(args.split,))
    ds = splits[args.split]
    x, y = ds.arrays()
    _check_shape(x.shape[1:], meta)
    from .train import predict_proba

    probs = predict_proba(model, x, normalizer, meta["task"])
    report = metrics.evaluate(y, probs, task=meta["task"], class_names=meta["class_names"])
    report.update({"split": args.split, "n_images": int(len(x))})
    out = Path(args.out or folder / f"eval-{args.split}")
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "metrics.json", report)
    _evaluation_plots(out, x, y, probs, meta["class_names"], meta["task"])
    auc = report.get("auc")
    print(f"{meta['dataset']} / {args.split} ({len(x)} images): accuracy {report['accuracy']:.4f}  "
          f"AUC {'n/a' if auc is None else f'{auc:.4f}'}")
    print(f"Saved {out}/metrics.json and plots")


def _check_shape(shape, meta):
    expected = tuple(meta.get("image_shape") or ())
    if expected and tuple(shape) != expected:
        raise ValueError(f"images have shape {tuple(shape)} (C, H, W) but the model was trained on {expected}")


def _read_images(paths, meta):
    from . import data

    channels, height, width = meta["image_shape"]
    return np.stack([data.load_image(p, channels=channels, size=(height, width)) for p in paths])


def cmd_predict(args):
    from .train import predict_proba

    _, model, meta, normalizer = _load_run(args.run_dir, args.device)
    x = _read_images(args.images, meta)
    probs = predict_proba(model, x, normalizer, meta["task"])
    names = meta["class_names"]
    rows = []
    for path, p in zip(args.images, probs):
        if meta["task"].startswith("multi-label"):
            rows.append({"image": path, "findings": [names[j] for j in np.flatnonzero(p > 0.5)],
                         "probabilities": {n: round(float(v), 4) for n, v in zip(names, p)}})
        else:
            rows.append({"image": path, "class": names[int(p.argmax())],
                         "probabilities": {n: round(float(v), 4) for n, v in zip(names, p)}})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        label = row.get("class") or (", ".join(row["findings"]) or "no finding")
        probs_text = "  ".join(f"{n}: {v:.3f}" for n, v in row["probabilities"].items())
        print(f"{row['image']}: {label}   ({probs_text})")


def cmd_explain(args):
    folder, model, meta, normalizer = _load_run(args.run_dir, args.device)
    if meta["task"].startswith("multi-label"):
        raise ValueError("explain: Grad-CAM of multi-label models is not supported; explain a single-label model")
    if args.images:
        x = _read_images(args.images, meta)
        titles_from = [Path(p).name for p in args.images]
        default = folder / "gradcam-images.png"
    else:
        ds = _load_splits(meta["dataset"], args.data_dir, fallback=meta["dataset"].startswith("synthetic"),
                          splits=(args.split,))[args.split]
        x, _ = ds.arrays()
        x = x[np.random.default_rng(0).choice(len(x), size=min(args.n, len(x)), replace=False)]
        titles_from = None
        default = folder / f"gradcam-{args.split}.png"
    out = Path(args.out) if args.out else default
    probs = _gradcam_figure(model, x, normalizer, meta["class_names"], out, layer=args.layer)
    if titles_from:
        for name, p in zip(titles_from, probs):
            print(f"{name}: {meta['class_names'][int(p.argmax())]} ({p.max():.3f})")
    print(f"Saved {out}")


def cmd_assignment(args):
    from . import assignments

    return assignments.main(args)


if __name__ == "__main__":
    sys.exit(main())
