#!/usr/bin/env python
"""tinydl's recipes on every MedMNIST 2-D file found, beside the MedMNIST v2 benchmark table.

    python benchmarks/medmnist_table.py                               # --recipe best, seeds 0 1 2, every file found
    python benchmarks/medmnist_table.py --datasets breastmnist retinamnist
    python benchmarks/medmnist_table.py --recipe medmnist-paper --datasets breastmnist   # the paper's ResNet-18
    python benchmarks/medmnist_table.py --epochs 1 --members 1 --seeds 0                 # a smoke run

For each data set and seed it runs exactly what ``tinydl train --data NAME --recipe R --seed S``
runs (``td.train_run``), scores the test split with the official evaluator's definitions
(``td.metrics.evaluate(..., protocol="medmnist")``: binary ACC = P(class 1) > 0.5, AUC from P(class 1);
multi-class ACC = argmax, AUC = the mean of the one-vs-rest AUCs) and prints, per data set, tinydl's
mean ± standard deviation over the seeds beside the benchmark's ResNet-18 (28) row and the best
entry of the rows below, with the training time. The table is written as ``table.md``,
``table.json`` and ``table.png`` in ``--out`` (default ``benchmarks/results/medmnist-<recipe>``,
numbered -2, -3 … when it exists: earlier results are never overwritten), with every run's folder.

Reference figures: MedMNIST v2, Yang et al., Scientific Data 10, 41 (2023), Table 3 (test AUC / ACC), the
28×28 rows and the AutoML rows, for the four data sets whose rows were checked (PneumoniaMNIST's against
a second public source). The other MedMNIST sets run and are reported without reference figures.
Data: ``--data-dir`` or ``$TINYDL_DATA_DIR`` (never downloaded here).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

# {data set: {method: (AUC, ACC)}}: MedMNIST v2, Table 3, test split.
REFERENCE = {
    "pneumoniamnist": {
        "ResNet-18 (28)": (0.944, 0.854),
        "ResNet-50 (28)": (0.948, 0.854),
        "auto-sklearn": (0.942, 0.855),
        "AutoKeras": (0.947, 0.878),
        "Google AutoML Vision": (0.991, 0.946),
    },
    "breastmnist": {
        "ResNet-18 (28)": (0.901, 0.863),
        "ResNet-50 (28)": (0.857, 0.812),
        "auto-sklearn": (0.836, 0.803),
        "AutoKeras": (0.871, 0.831),
        "Google AutoML Vision": (0.919, 0.861),
    },
    "retinamnist": {
        "ResNet-18 (28)": (0.717, 0.524),
        "ResNet-50 (28)": (0.726, 0.528),
        "auto-sklearn": (0.690, 0.515),
        "AutoKeras": (0.719, 0.503),
        "Google AutoML Vision": (0.750, 0.531),
    },
    "organamnist": {
        "ResNet-18 (28)": (0.997, 0.935),
        "ResNet-50 (28)": (0.997, 0.935),
        "auto-sklearn": (0.963, 0.762),
        "AutoKeras": (0.994, 0.905),
        "Google AutoML Vision": (0.990, 0.886),
    },
}
BASELINE = "ResNet-18 (28)"


def best_entry(rows, column):
    """(value, method) of the highest AUC (column 0) or ACC (column 1) among the reference rows."""
    method = max(rows, key=lambda m: rows[m][column])
    return rows[method][column], method


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=None, help="MedMNIST names (default: every 2-D file found)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--recipe", default="best", choices=["default", "medmnist-paper", "best"])
    p.add_argument("--data-dir", default=None, help="folder of the .npz files (default $TINYDL_DATA_DIR)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (smoke runs)")
    p.add_argument("--members", type=int, default=None, help="override the recipe's ensemble size")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results/medmnist-<recipe>)")
    return p.parse_args(argv)


def fresh_folder(path):
    """``path``, or path-2, path-3, … when it already holds something: results are never overwritten."""
    path, n = Path(path), 2
    candidate = path
    while candidate.exists() and any(candidate.iterdir()):
        candidate, n = path.with_name(f"{path.name}-{n}"), n + 1
    candidate.mkdir(parents=True, exist_ok=True)
    return candidate


def found_datasets(data_dir):
    import tinydl as td

    return [r.name for r in td.data.available(data_dir) if r.found and r.name in td.data.MEDMNIST]


def run_one(name, seed, args, out):
    """One ``tinydl train --recipe``: its test AUC / ACC under the official definitions, and its times."""
    import tinydl as td

    config = td.RunConfig(
        data=name,
        data_dir=args.data_dir,
        recipe=args.recipe,
        seed=seed,
        epochs=args.epochs,
        members=args.members,
        out=str(out / "runs" / f"{name}-seed{seed}"),
        quiet=True,
        no_plots=True,
        no_download=True,
        no_synthetic_fallback=True,
    )
    started = time.perf_counter()
    result = td.train_run(config, log=None)
    wall = time.perf_counter() - started
    x_test, y_test = td.data.MedMNIST(name, split="test", root=args.data_dir).arrays()
    probs = result.trainer.predict_proba(x_test)
    official = td.metrics.evaluate(y_test, probs, task=result.trainer.task_used, protocol="medmnist")
    return {
        "dataset": name,
        "seed": seed,
        "auc": official["auc"],
        "acc": official["accuracy"],
        "train_seconds": result.seconds,
        "wall_seconds": round(wall, 1),
        "n_train": td.data.get_info(name).n_samples["train"],  # from the catalog: no second read of the file
        "settings": {k: getattr(config, k) for k in ("model", "epochs", "members", "flip", "tta", "batch_size")},
    }


def mean_sd(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(rows):
    table = {}
    for name in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == name]
        auc, acc = mean_sd([r["auc"] for r in mine]), mean_sd([r["acc"] for r in mine])
        entry = {
            "auc": auc,
            "acc": acc,
            "seeds": [r["seed"] for r in mine],
            "per_seed": [(r["seed"], r["auc"], r["acc"], r["wall_seconds"]) for r in mine],
            "minutes_per_seed": statistics.fmean(r["wall_seconds"] for r in mine) / 60,
            "settings": mine[0]["settings"],
        }
        ref = REFERENCE.get(name)
        if ref:
            entry["baseline"] = ref[BASELINE]
            entry["best_auc"], entry["best_acc"] = best_entry(ref, 0), best_entry(ref, 1)
            entry["every_seed_beats_baseline"] = all(
                r["auc"] >= ref[BASELINE][0] and r["acc"] >= ref[BASELINE][1] for r in mine
            )
        table[name] = entry
    return table


def markdown(table, args, machine):
    lines = [
        f"# tinydl `--recipe {args.recipe}` on MedMNIST (test split), beside MedMNIST v2 Table 3",
        "",
        f"Machine: {machine}. Seeds: {' '.join(map(str, args.seeds))}. "
        "Figures: test AUC / ACC as the official evaluator defines them; tinydl = mean ± sd over the seeds.",
        "",
        "| data set | tinydl AUC | tinydl ACC | ResNet-18 (28) AUC / ACC | best AUC (method) | best ACC (method) "
        "| every seed ≥ ResNet-18 | minutes per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in table.items():
        auc, acc = e["auc"], e["acc"]
        if "baseline" in e:
            base = f"{e['baseline'][0]:.3f} / {e['baseline'][1]:.3f}"
            best_auc = f"{e['best_auc'][0]:.3f} ({e['best_auc'][1]})"
            best_acc = f"{e['best_acc'][0]:.3f} ({e['best_acc'][1]})"
            beats = "yes" if e["every_seed_beats_baseline"] else "no"
        else:
            base = best_auc = best_acc = beats = "—"
        lines.append(
            f"| {name} | {auc[0]:.3f} ± {auc[1]:.3f} | {acc[0]:.3f} ± {acc[1]:.3f} | {base} | {best_auc} | {best_acc} "
            f"| {beats} | {e['minutes_per_seed']:.1f} |"
        )
    lines += ["", "Per seed (seed: AUC / ACC, wall seconds incl. evaluation):", ""]
    for name, e in table.items():
        seeds = "; ".join(f"{s}: {auc:.3f} / {acc:.3f}, {sec:.0f} s" for s, auc, acc, sec in e["per_seed"])
        lines.append(f"- {name}: {seeds} — {e['settings']}")
    lines += [
        "",
        "Reference: Yang et al., MedMNIST v2, Scientific Data 10, 41 (2023), Table 3; 'best' = the best of its "
        "28×28 ResNet rows, auto-sklearn, AutoKeras and Google AutoML Vision.",
    ]
    return "\n".join(lines) + "\n"


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 2.2 * len(names)), 3.6))
    for ax, metric, column in zip(axes, ("AUC", "ACC"), (0, 1)):
        key = metric.lower()
        xs = range(len(names))
        mine = [table[n][key][0] for n in names]
        sd = [table[n][key][1] for n in names]
        base = [table[n]["baseline"][column] if "baseline" in table[n] else float("nan") for n in names]
        best = [table[n][f"best_{key}"][0] if "baseline" in table[n] else float("nan") for n in names]
        ax.bar([x - 0.27 for x in xs], mine, 0.27, yerr=sd, label="tinydl", color="#1f77b4")
        ax.bar(list(xs), base, 0.27, label="ResNet-18 (28)", color="#aaaaaa")
        ax.bar([x + 0.27 for x in xs], best, 0.27, label="best in Table 3", color="#ff7f0e")
        ax.set_xticks(list(xs), [n.replace("mnist", "") for n in names])
        low = min(v for v in mine + base + best if v == v)
        ax.set_ylim(max(0.0, low - 0.1), 1.0)
        ax.set_title(f"test {metric}")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.data_dir is None:
        args.data_dir = os.environ.get("TINYDL_DATA_DIR")
    names = args.datasets or found_datasets(args.data_dir)
    if not names:
        sys.exit(
            "no MedMNIST file found: set TINYDL_DATA_DIR or --data-dir to a folder with e.g. breastmnist.npz "
            "(`tinydl datasets` lists what is found)"
        )
    out = fresh_folder(args.out or ROOT / "benchmarks" / "results" / f"medmnist-{args.recipe}")
    machine = describe()
    print(f"{machine}; recipe {args.recipe}; data sets {' '.join(names)}; seeds {args.seeds}; results in {out}")
    rows = []
    for name in names:
        for seed in args.seeds:
            row = run_one(name, seed, args, out)
            rows.append(row)
            print(f"  {name} seed {seed}: AUC {row['auc']:.4f}  ACC {row['acc']:.4f}  ({row['wall_seconds']:.0f} s)")
            (out / "rows.json").write_text(json.dumps(rows, indent=1) + "\n")  # kept as the runs go
    table = summarise(rows)
    text = markdown(table, args, machine)
    print()
    print(text)
    (out / "table.md").write_text(text)
    (out / "table.json").write_text(json.dumps({"machine": machine, "recipe": args.recipe, "table": table}, indent=1))
    plot(table, out / "table.png")
    print(f"Saved table.md, table.json, table.png and the run folders in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
