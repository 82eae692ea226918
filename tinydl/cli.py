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

This module only parses: each command turns its flags into one call of
:mod:`tinydl.run` (``train_run``, ``evaluate_run``, ``predict_images``,
``explain_run``), prints what it returns and maps errors to exit codes.
"""

import argparse
import json
import sys

from .run import MAX_EXPLAIN

EXIT_USAGE, EXIT_ERROR = 2, 1


def explain_count(text):
    """argparse type of explain --n: a whole number from 1 to MAX_EXPLAIN (a figure, not a poster)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_EXPLAIN}, got {text!r}") from None
    if not 1 <= n <= MAX_EXPLAIN:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_EXPLAIN} (images in one Grad-CAM figure), got {n}")
    return n


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print(
            "\ninterrupted; files already written are complete, nothing is half-written"
            + ("; continue the training with: tinydl train --resume RUN" if args.command == "train" else ""),
            file=sys.stderr,
        )
        return 130
    except (
        ValueError,
        OSError,
        FloatingPointError,
        NotImplementedError,
        RuntimeError,
    ) as exc:  # OSError: files, downloads
        print(f"tinydl {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tinydl", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model on a data set and evaluate it on the test split")
    p.add_argument(
        "--data",
        default=None,
        help="data set name (see `tinydl datasets`), 'synthetic', or a folder of your own images: "
        "train/ [val/] test/ of class folders, or class folders only (split by --val-fraction, "
        "--test-fraction). Default: pneumoniamnist, or — only when it is missing and --data is not "
        "given — SYNTHETIC images, marked as such in every file of the run",
    )
    p.add_argument("--data-dir", help="folder with the .npz files (default: $TINYDL_DATA_DIR, then the cache)")
    p.add_argument(
        "--no-download", action="store_true", help="do not try to download a data set that is not found locally"
    )
    p.add_argument(
        "--no-synthetic-fallback",
        action="store_true",
        help="fail when the data set is missing instead of training on the built-in synthetic set",
    )
    p.add_argument(
        "--task",
        default=None,
        choices=["classification", "segmentation"],
        help="classification (a class per image) or segmentation (a class per pixel: a U-Net). Default: "
        "segmentation when --data names a segmentation set (liverct117, colin27_brain, the MedSegBench sets), "
        "else classification. Options left out take the task's recipe (shown in brackets: classification, "
        "segmentation)",
    )
    p.add_argument(
        "--recipe",
        default=None,
        choices=["default", "medmnist-paper", "best"],
        help="classifiers: default (the article's CNN, 10 epochs), medmnist-paper (the MedMNIST v2 benchmark's "
        "ResNet-18 protocol: 100 epochs, batch 128, lr × 0.1 at 50 and 75), best (model, augmentation, epochs, "
        "ensemble and test-time flips chosen from the training data's properties; the reasons are printed). "
        "Options given on the command line override the recipe's [default]",
    )
    p.add_argument(
        "--model",
        default=None,
        choices=["small_cnn", "convnet", "resnet", "resnet18", "unet"],
        help="small_cnn (the article's CNN), convnet (two conv blocks, BatchNorm, dropout), resnet (--depth stages "
        "of one basic block, widths --base-width·2^i), resnet18 (the MedMNIST v2 paper's); unet for segmentation "
        "[small_cnn, unet]",
    )
    p.add_argument("--epochs", type=int, default=None, help="[10, 30]")
    p.add_argument("--batch-size", type=int, default=None, help="[32, 8]")
    p.add_argument("--lr", type=float, default=None, help="learning rate [1e-3, 3e-3]")
    p.add_argument("--optimizer", default=None, choices=["adam", "adamw", "sgd"], help="[adam]")
    p.add_argument("--weight-decay", type=float, default=None, help="L2 penalty λ [0]")
    p.add_argument("--dropout", type=float, default=None, help="dropout probability (convnet)")
    p.add_argument(
        "--augment",
        action="store_true",
        default=None,
        help="random rotations (±10°), shifts (±2 px), brightness/contrast and noise while training; segmentation: "
        "the same rotation, scaling and shift of image and mask (nearest neighbour for the mask) [off, on]",
    )
    p.add_argument("--no-augment", dest="augment", action="store_false", help="no augmentation")
    p.add_argument("--brightness", type=float, default=None, help="with --augment: brightness change, ± [0.1, 0]")
    p.add_argument("--contrast", type=float, default=None, help="with --augment: contrast change, ± [0.15, 0]")
    p.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --augment: also random left-right flips (left and right matter in chest X-rays) "
        "[off; --recipe best: on when the mean image is mirror-symmetric]",
    )
    p.add_argument("--class-weights", choices=["none", "balanced"], default=None, help="[none]")
    p.add_argument(
        "--schedule",
        choices=["none", "cosine", "step", "multistep"],
        default=None,
        help="none, cosine, step (× 0.1 half-way) or multistep (× 0.1 at 50 %% and 75 %% of the epochs) [none, cosine]",
    )
    p.add_argument("--early-stopping", type=int, default=None, metavar="EPOCHS")
    p.add_argument(
        "--monitor",
        default=None,
        choices=["val_auc", "val_acc", "val_dice", "val_loss"],
        help="the validation figure that picks the best epoch [val_auc, val_dice]",
    )
    p.add_argument(
        "--normalize",
        choices=["train", "half"],
        default=None,
        help="train: the training set's mean and std per channel; half: (x − 0.5) / 0.5, as the MedMNIST v2 paper [train]",
    )
    p.add_argument("--label-smoothing", type=float, default=None, help="ε of label smoothing, classifiers [0]")
    p.add_argument(
        "--members",
        type=int,
        default=None,
        help="classifiers: train this many seeds and average them (an ensemble) [1]",
    )
    p.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="classifiers: average each prediction with the mirrored image's (test-time augmentation) "
        "[off; --recipe best: as --flip]",
    )
    p.add_argument(
        "--device",
        default="cpu",
        choices=["cpu", "cuda"],
        help="where to train: cpu, or cuda (an NVIDIA GPU, through CuPy and tinydl's CUDA kernels; "
        'needs pip install "tinydl[gpu]")',
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", default=None, help="run folder (default: runs/<data>-<model>-seed<seed>, numbered -2, -3 when taken)"
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="image folders without val/: the share of each class drawn from train for validation (default 0.1)",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.1,
        help="image folders without test/: the share of each class drawn for testing (default 0.1)",
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="N",
        help="image folders: resize every image to N×N (default: the images' own size, if all share one); "
        "segmentation: the size the U-Net computes at (default: the smaller side, at most 64, a multiple of 2**depth)",
    )
    p.add_argument(
        "--base-width",
        type=int,
        default=16,
        help="the U-Net's (and --model resnet's) first width, doubled at each level (default 16)",
    )
    p.add_argument("--depth", type=int, default=3, help="the U-Net's poolings; --model resnet: its stages (default 3)")
    p.add_argument(
        "--dice-weight", type=float, default=1.0, help="segmentation: loss = cross-entropy + w · soft Dice (default 1)"
    )
    p.add_argument(
        "--intensity",
        default="auto",
        choices=["auto", "ct", "mr", "minmax", "none"],
        help="segmentation: how pixel values become the model's input. auto (default): from the values — a CT "
        "window for Hounsfield units, per-image percentile normalisation for MR, /255 for 8-bit images",
    )
    p.add_argument(
        "--ct-window",
        nargs=2,
        type=float,
        metavar=("LEVEL", "WIDTH"),
        default=None,
        help="with --intensity ct: the window in Hounsfield units (default 50 400, soft tissue)",
    )
    p.add_argument("--force", action="store_true", help="replace the finished run already in --out")
    p.add_argument(
        "--resume",
        metavar="RUN",
        default=None,
        help="continue a killed or stopped run from its checkpoint.npz, with its own settings "
        "(only --quiet and --no-plots may be added)",
    )
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="metrics JSON and plots of a saved run on a data split")
    p.add_argument("run_dir", help="a run folder written by `tinydl train` (or its model.npz)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--data-dir")
    p.add_argument("--out", help="folder for the results (default: <run>/eval-<split>)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("predict", help="class and probabilities (or masks, for segmentation) for PNG/JPEG/NPY images")
    p.add_argument("run_dir")
    p.add_argument("images", nargs="+", help="image files (.png, .jpg, .jpeg, .npy)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--out", default=None, help="segmentation: folder for the masks (default <run>/predictions, -2, … when taken)"
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("explain", help="Grad-CAM overlays (PNG) for images or for samples of a split")
    p.add_argument("run_dir")
    p.add_argument("images", nargs="*", help="image files; none: samples from --split")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--n", type=explain_count, default=8, help=f"how many split samples to explain (1 to {MAX_EXPLAIN})")
    p.add_argument("--layer", default=None, help="conv layer name (default: the last conv layer)")
    p.add_argument(
        "--class",
        dest="target",
        default=None,
        help="segmentation: the class explained, by name or index (default: the first foreground class)",
    )
    p.add_argument("--data-dir")
    p.add_argument("--out", default=None, help="PNG path (default: <run>/gradcam-<...>.png)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs")
    p.set_defaults(run=cmd_explain)

    p = sub.add_parser("datasets", help="list the known data sets and the files found locally")
    p.add_argument("--data-dir")
    p.set_defaults(run=cmd_datasets)

    p = sub.add_parser("assignment", help="course assignments: hand-outs, what is left to write, grading")
    p.add_argument(
        "action",
        choices=["list", "make", "todo", "grade", "tutorials"],
        help="list: the assignments and their tasks; make N: write a hand-out; todo DIR: what is left to write; "
        "grade DIR: results.json + results.csv; tutorials: the notebooks without the exercises' solutions",
    )
    p.add_argument("target", nargs="?", help="make: the assignment (1-4); todo/grade: the hand-out folder (default .)")
    p.add_argument("--out", default=None, help="make/tutorials: the new folder to write")
    p.add_argument(
        "--solution",
        action="store_true",
        help="make/tutorials: keep the solutions (the answer key, to check the grader)",
    )
    p.add_argument("--json", action="store_true", help="grade: print only the results.json")
    p.add_argument("--jobs", type=int, default=None, help="grade: tasks tested at once (default: one per CPU core)")
    p.add_argument(
        "--from", dest="source", default=None, help="tutorials: the folder of notebooks (default: tutorials/)"
    )
    p.set_defaults(run=cmd_assignment)
    return parser


# ---------------------------------------------------------------------------- commands
# Each command turns its flags into one call of tinydl.run (where a run is composed) and prints the result.
def cmd_datasets(args):
    from . import data

    print(data.datasets_table(args.data_dir, hints="cli"))
    print()
    print(data.segmentation_table(args.data_dir))


def cmd_train(args):
    from .run import RunConfig, train_run

    if args.resume is not None:
        from .run import resume_run

        result = resume_run(args.resume, quiet=args.quiet or None, no_plots=args.no_plots or None)
    else:
        config = RunConfig(**{k: v for k, v in vars(args).items() if k not in ("run", "command", "resume")})
        result = train_run(config)
    report, best_epoch = result.report, result.trainer.best_epoch
    if "dice" in report:  # segmentation
        print(
            f"Test ({report['n_images']} images): Dice {dice_text(report)}  "
            f"(best epoch {best_epoch}, {result.seconds:.1f} s of training)"
        )
        print(f"Saved {result.run_dir}/: model.npz metadata.json metrics.json history.csv" + plots_text(args))
        return
    auc = report.get("auc")
    print(
        f"Test ({report['n_images']} images): accuracy {report['accuracy']:.4f}  AUC "
        f"{'n/a' if auc is None else f'{auc:.4f}'}  (best epoch {best_epoch}, {result.seconds:.1f} s of training)"
    )
    print(
        f"Saved {result.run_dir}/: model.npz metadata.json metrics.json history.csv"
        + ("" if args.no_plots else " and plots")
    )


def dice_text(report):
    """ "liver 0.951, tumour 0.702 (mean 0.826)": the foreground classes' Dice of a segmentation report."""
    names = list(report["dice"])[1:] or list(report["dice"])
    parts = [f"{n} {'n/a' if report['dice'][n] is None else format(report['dice'][n], '.4f')}" for n in names]
    mean = report.get("mean_dice")
    return ", ".join(parts) + ("" if mean is None else f" (mean {mean:.4f})")


def plots_text(args):
    return "" if args.no_plots else " and plots"


def cmd_evaluate(args):
    from .run import evaluate_run

    result = evaluate_run(args.run_dir, split=args.split, data_dir=args.data_dir, out=args.out, device=args.device)
    report = result.report
    if "dice" in report:
        print(f"{result.dataset} / {args.split} ({report['n_images']} images): Dice {dice_text(report)}")
        print(f"Saved {result.out_dir}/metrics.json and plots")
        return
    auc = report.get("auc")
    print(
        f"{result.dataset} / {args.split} ({report['n_images']} images): accuracy {report['accuracy']:.4f}  "
        f"AUC {'n/a' if auc is None else f'{auc:.4f}'}"
    )
    print(f"Saved {result.out_dir}/metrics.json and plots")


def cmd_predict(args):
    from .run import predict_images

    rows = predict_images(args.run_dir, args.images, device=args.device, out=args.out)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        if "mask_png" in row:  # segmentation
            shares = "  ".join(f"{n}: {v:.1%}" for n, v in row["fraction"].items())
            print(f"{row['image']}: {shares}   -> {row['mask_png']}, {row['mask_npy']}, {row['overlay_png']}")
            continue
        label = row.get("class") or (", ".join(row["findings"]) or "no finding")
        probs_text = "  ".join(f"{n}: {v:.3f}" for n, v in row["probabilities"].items())
        scaling = f"   [{row['scaling']}]" if "scaling" in row else ""
        print(f"{row['image']}: {label}   ({probs_text}){scaling}")


def cmd_explain(args):
    from .run import explain_run

    result = explain_run(
        args.run_dir,
        args.images,
        split=args.split,
        n=args.n,
        layer=args.layer,
        data_dir=args.data_dir,
        out=args.out,
        device=args.device,
        target=args.target,
    )
    for name, label, probability in result.predictions:
        print(f"{name}: {label} ({probability:.3f})")
    print(f"Saved {result.path}")


def cmd_assignment(args):
    from . import assignments

    return assignments.main(args)


if __name__ == "__main__":
    sys.exit(main())
