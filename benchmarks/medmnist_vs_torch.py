#!/usr/bin/env python
"""The article's CNN on MedMNIST, trained by tinydl and by PyTorch in one process; and tinydl's best small model.

    python benchmarks/medmnist_vs_torch.py                       # PneumoniaMNIST, BreastMNIST, RetinaMNIST, OrganAMNIST
    python benchmarks/medmnist_vs_torch.py --datasets pneumoniamnist --seeds 0,1,2
    python benchmarks/medmnist_vs_torch.py --no-best             # only the tinydl-vs-PyTorch table
    python benchmarks/medmnist_vs_torch.py --quick               # 1 seed, 1 epoch, PneumoniaMNIST (a smoke test)

Part 1, "as the article trains it": SmallCNN (Conv 32@3×3 + ReLU → MaxPool 2 → Dense 64 +
ReLU → Dense), inputs rescaled to [0, 1], Adam (lr 1e-3), batch 32, 10 epochs, the model
of the last epoch evaluated on the official test split. For each seed both frameworks
start from the *same* initial weights (tinydl's, copied into the PyTorch model) and see
the *same* batches in the same order, so the table isolates the frameworks themselves:
their arithmetic and their speed. Both use as many threads as Numba (the machine's cores).

Part 2, tinydl's best small model (td.models.ConvNet: two conv blocks with BatchNorm,
dropout): augmentation (small rotations, shifts, exposure/contrast, noise; no flips), L2 weight decay,
balanced class weights, cosine learning rate, the epoch with the best validation AUC kept,
and the probabilities of the seeds' models averaged (an ensemble). Its time is the
whole training of all members.

Data come from TINYDL_DATA_DIR (or --data-dir). Results: a Markdown table on stdout and
results/medmnist.md + .json beside this script (or --out).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

try:  # PyTorch first, as in bench.py: its OpenMP runtime starts with its own defaults
    import torch
except ImportError:
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tinydl as td  # noqa: E402
from tinydl.kernels._numba import numba  # noqa: E402  (tinydl's Numba settings, before any Numba thread starts)

DEFAULT_DATASETS = ("pneumoniamnist", "breastmnist", "retinamnist", "organamnist")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
# Part 2's recipe; the large OrganAMNIST (34 561 training images) gets fewer epochs and one seed.
BEST = dict(
    model="convnet",
    epochs=15,
    batch_size=64,
    lr=1e-3,
    weight_decay=1e-4,
    class_weights="balanced",
    schedule="cosine",
    seeds=(0, 1, 2),
    brightness=0.1,
    contrast=0.15,
)
BEST_OVERRIDES = {"organamnist": dict(epochs=4, seeds=(0,))}


def load_splits(name, data_dir):
    """The three splits of a data set, read (and MD5-checked) once, with their arrays."""
    sets = {s: td.data.MedMNIST(name, s, root=data_dir) for s in ("train", "val", "test")}
    return sets, {s: d.arrays() for s, d in sets.items()}


def scores(task, y, probs):
    report = td.metrics.evaluate(y, probs, task=task)
    return report["accuracy"], report["auc"]


# ------------------------------------------------------------------------------ part 1
def torch_small_cnn(in_channels, num_classes):
    nn = torch.nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(in_channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2))
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Linear(32 * 13 * 13, 64), nn.ReLU(), nn.Linear(64, num_classes)
            )

        def forward(self, x):
            return self.classifier(self.features(x))

    return SmallCNN()


def train_torch(model, x, y, epochs, batch_size, seed, lr):
    """The loop of td.train.Trainer (normalize=False): each epoch a new permutation from default_rng(seed), as td.data.DataLoader draws it."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    model.train()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = loss_fn(model(xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def torch_probs(model, x):
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()


def part1(sets, arrays, seeds, epochs, batch_size, lr):
    name = sets["train"].name
    (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
    task, channels, classes = sets["train"].task, sets["train"].n_channels, sets["train"].n_classes
    rows = []
    for seed in seeds:
        td.manual_seed(seed)
        model = td.models.SmallCNN(channels, classes)
        initial = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
        trainer = td.train.Trainer(
            model,
            task=task,
            lr=lr,
            batch_size=batch_size,
            epochs=epochs,
            normalize=False,
            restore_best=False,
            monitor="train_loss",
            seed=seed,
            progress=False,
        )
        start = time.perf_counter()
        trainer.fit((x_train, y_train))
        td_seconds = time.perf_counter() - start
        row = {"dataset": name, "seed": seed, "tinydl_seconds": td_seconds}
        row["tinydl_acc"], row["tinydl_auc"] = scores(task, y_test, trainer.predict_proba(x_test))
        if torch is not None:
            torch.manual_seed(seed)
            tmodel = torch_small_cnn(channels, classes)
            tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in initial.items()})
            start = time.perf_counter()
            train_torch(tmodel, x_train, y_train, epochs, batch_size, seed, lr)
            row["torch_seconds"] = time.perf_counter() - start
            row["torch_acc"], row["torch_auc"] = scores(task, y_test, torch_probs(tmodel, x_test))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


# ------------------------------------------------------------------------------ part 2
def part2(sets, arrays, recipe):
    train, val, name = sets["train"], arrays["val"], sets["train"].name
    x_test, y_test = arrays["test"]
    trainers, members = [], []
    start = time.perf_counter()
    for seed in recipe["seeds"]:
        td.manual_seed(seed)
        model = td.models.create(recipe["model"], in_channels=train.n_channels, num_classes=train.n_classes)
        trainer = td.train.Trainer(
            model,
            task=train.task,
            lr=recipe["lr"],
            batch_size=recipe["batch_size"],
            epochs=recipe["epochs"],
            weight_decay=recipe["weight_decay"],
            class_weights=recipe["class_weights"],
            schedule=recipe["schedule"],
            augment=td.data.default_augmentation(
                brightness=recipe["brightness"], contrast=recipe["contrast"], seed=seed
            ),
            monitor="val_auc",
            seed=seed,
            progress=False,
        )
        trainer.fit(arrays["train"], val)
        trainers.append(trainer)
        acc, auc = scores(train.task, y_test, trainer.predict_proba(x_test))
        members.append({"seed": seed, "acc": acc, "auc": auc, "best_epoch": trainer.best_epoch})
    seconds = time.perf_counter() - start
    acc, auc = scores(train.task, y_test, td.train.Ensemble(trainers).predict_proba(x_test))
    row = {
        "dataset": name,
        "acc": acc,
        "auc": auc,
        "seconds": seconds,
        "members": members,
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()},
    }
    print(json.dumps(row), flush=True)
    return row


# ------------------------------------------------------------------------------ report
def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def markdown(rows1, rows2, args):
    lines = [
        f"## The article's CNN: tinydl vs PyTorch ({args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr}; "
        f"seeds {args.seeds}; mean ± std over seeds)",
        "",
        "| data set | tinydl ACC | PyTorch ACC | tinydl AUC | PyTorch AUC | tinydl s | PyTorch s | time tinydl / PyTorch |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in rows1):
        rs = [r for r in rows1 if r["dataset"] == name]
        td_s, pt_s = np.mean([r["tinydl_seconds"] for r in rs]), [r.get("torch_seconds") for r in rs]
        pt_mean = np.mean(pt_s) if None not in pt_s else None
        lines.append(
            f"| {name} | {mean_std([r['tinydl_acc'] for r in rs])} | {mean_std([r.get('torch_acc') for r in rs])} "
            f"| {mean_std([r['tinydl_auc'] for r in rs])} | {mean_std([r.get('torch_auc') for r in rs])} "
            f"| {td_s:.1f} | {'n/a' if pt_mean is None else f'{pt_mean:.1f}'} "
            f"| {'n/a' if pt_mean is None else f'{td_s / pt_mean:.2f}'} |"
        )
    if rows2:
        lines += [
            "",
            "## tinydl's best small model (ConvNet, augmentation, L2, class weights, cosine lr, "
            "best epoch by validation AUC, ensemble of the seeds)",
            "",
            "| data set | members (ACC / AUC each) | ensemble ACC | ensemble AUC | epochs | training s (all members) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for r in rows2:
            members = ", ".join(f"{m['acc']:.3f} / {m['auc']:.3f}" for m in r["members"])
            lines.append(
                f"| {r['dataset']} | {members} | {r['acc']:.3f} | {r['auc']:.3f} | {r['recipe']['epochs']} "
                f"| {r['seconds']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-best", action="store_true", help="skip part 2")
    p.add_argument("--only-best", action="store_true", help="skip part 1")
    p.add_argument("--quick", action="store_true", help="PneumoniaMNIST, seed 0, 1 epoch; part 2 with 1 epoch")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    if args.quick:
        args.datasets, args.seeds, args.epochs = "pneumoniamnist", "0", 1
    args.seeds = [int(s) for s in args.seeds.split(",")]
    return args


def main(argv=None):
    args = parse_args(argv)
    if torch is not None:
        torch.set_num_threads(numba.get_num_threads())
    else:
        print("PyTorch is not installed: its columns read n/a", file=sys.stderr)
    rows1, rows2 = [], []
    for name in args.datasets.split(","):
        sets, arrays = load_splits(name, args.data_dir)
        if not args.only_best:
            rows1 += part1(sets, arrays, args.seeds, args.epochs, args.batch_size, args.lr)
        if not args.no_best:
            recipe = dict(BEST, **BEST_OVERRIDES.get(name, {}))
            if args.quick:
                recipe.update(epochs=1, seeds=(0,))
            rows2.append(part2(sets, arrays, recipe))
    text = markdown(rows1, rows2, args)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "medmnist.md").write_text(text)
    (out / "medmnist.json").write_text(
        json.dumps(
            {
                "article_cnn": rows1,
                "best": rows2,
                "threads": numba.get_num_threads(),
                "torch": getattr(torch, "__version__", None),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
