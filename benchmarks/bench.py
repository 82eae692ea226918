#!/usr/bin/env python
"""tinydl against NumPy's BLAS and PyTorch, side by side, in one process, on the same inputs.

    python benchmarks/bench.py                     # everything (1-2 minutes on 2 cores)
    python benchmarks/bench.py --quick             # smaller sizes, fewer repeats (CI, < 1 min)
    python benchmarks/bench.py --only matmul,conv  # some sections: matmul, conv, step
    python benchmarks/bench.py --out /tmp/bench    # where results.md/.json/.png go

Sections:
  matmul  square float32 products: GFLOP/s of NumPy's BLAS, the three Numba kernels
          (tinydl/kernels/numba_matmul.py) and torch.mm; the ratio blocked / BLAS.
  conv    Conv2d forward and forward+backward: tinydl (every conv2d kernel) vs PyTorch, ms.
  step    one training step of the article's CNN (td.models.SmallCNN) vs the same model in PyTorch, ms.

How it measures: float32 everywhere; PyTorch uses as many threads as Numba. The
implementations take turns, round after round, so that a slow moment of a shared
machine does not fall on one of them only. Each turn starts with untimed calls for
0.15 s (Numba's compilation is not counted, and the worker threads of the library
that ran before, which keep spinning for a while after a call — OpenBLAS's for about
0.1 s — have gone to sleep), then times several calls with time.perf_counter; a table
shows the median. PyTorch is optional: without it its columns read "n/a".
"""
import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# PyTorch first, so that its OpenMP runtime starts with its own defaults (tinydl's Numba
# module sets OMP_WAIT_POLICY=PASSIVE for Numba's threads when it is imported).
try:
    import torch
except ImportError:  # the tinydl columns still work
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
import tinydl as td  # noqa: E402
import tinydl.kernels  # noqa: E402,F401
# Numba as tinydl configures it (its own thread pool, sleeping idle threads). This must come
# before anything starts Numba's threads, even numba.get_num_threads(): otherwise Numba picks
# the OpenMP runtime that torch has already loaded, and its kernels run several times slower.
from tinydl.kernels._numba import numba  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
SECTIONS = ("matmul", "conv", "step")
WARM_UP_SECONDS = 0.15  # untimed calls per turn: longer than OpenBLAS's ~0.1 s of spinning after a call
NAIVE_LIMIT_SECONDS = 2.0  # run the naive matmul only where one call takes less than this
# The naive loop's time grows faster than n³ once a column of B no longer fits the caches
# (0.6 GFLOP/s at 1024² against 2.6 at 512²): predict with this margin.
NAIVE_MARGIN = 4.0
NOT_AVAILABLE = "n/a"


@dataclass
class Config:
    quick: bool
    rounds: int  # turns of every implementation
    repeats: int  # timed calls per turn (fewer for slow calls, see compare)
    budget: float  # seconds of timed calls per implementation and case, at most
    matmul_sizes: tuple
    conv_cases: tuple  # (label, short label for the chart, N, C_in, C_out, H=W, kernel, padding)
    step_batches: tuple


FULL = Config(
    quick=False, rounds=5, repeats=5, budget=3.0,
    matmul_sizes=(256, 512, 1024, 2048),
    conv_cases=(
        ("N=128, 1→32, 28×28, k3", "1→32, 28²", 128, 1, 32, 28, 3, 0),
        ("N=128, 32→64, 13×13, k3", "32→64, 13²", 128, 32, 64, 13, 3, 0),
        ("N=64, 64→64, 32×32, k3, pad 1", "64→64, 32²", 64, 64, 64, 32, 3, 1),
    ),
    step_batches=(32, 128, 512),
)
QUICK = Config(
    quick=True, rounds=2, repeats=2, budget=0.5,
    matmul_sizes=(128, 256, 512),
    conv_cases=(
        ("N=16, 1→32, 28×28, k3", "1→32, 28²", 16, 1, 32, 28, 3, 0),
        ("N=16, 32→64, 13×13, k3", "32→64, 13²", 16, 32, 64, 13, 3, 0),
        ("N=8, 64→64, 32×32, k3, pad 1", "64→64, 32²", 8, 64, 64, 32, 3, 1),
    ),
    step_batches=(32, 128),
)


# ---------------------------------------------------------------- results: tables shared by every section
@dataclass
class Table:
    """One section's results: a Markdown table, a JSON object and a bar chart."""

    name: str
    title: str
    columns: list  # column headers
    units: list  # per column: "" for labels, else "GFLOP/s", "ms" or "ratio"
    rows: list = field(default_factory=list)  # values: str, float, or None (not measured)
    notes: list = field(default_factory=list)
    chart: dict = field(default_factory=dict)  # categories, series {label: values}, ylabel, log

    def add(self, *values):
        assert len(values) == len(self.columns), (values, self.columns)
        self.rows.append(list(values))

    def to_markdown(self):
        header = [f"{c} ({u})" if u and u != "ratio" else c for c, u in zip(self.columns, self.units)]
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |",
                 "|" + "|".join("---" if not u else "---:" for u in self.units) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(v, u) for v, u in zip(row, self.units)) + " |")
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def to_json(self):
        return dict(name=self.name, title=self.title, columns=self.columns, units=self.units,
                    rows=[[_json_value(v) for v in row] for row in self.rows], notes=self.notes)


def _cell(value, unit):
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, str):
        return value
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _json_value(value):
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def save_results(tables, out_dir, header):
    """results.md, results.json and results.png in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = header + "\n" + "\n".join(t.to_markdown() for t in tables)
    (out_dir / "results.md").write_text(markdown, encoding="utf-8")
    meta = machine_info()
    (out_dir / "results.json").write_text(
        json.dumps(dict(meta=meta, sections=[t.to_json() for t in tables]), indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    plot(tables, out_dir / "results.png")
    return markdown


def plot(tables, path):
    """One bar chart per section, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = [t for t in tables if t.chart]
    fig, axes = plt.subplots(len(charts) or 1, 1, figsize=(11, 4.2 * max(len(charts), 1)), squeeze=False)
    for ax, table in zip(axes[:, 0], charts):
        _bar_chart(ax, table.title, **table.chart)
    if not charts:
        axes[0, 0].text(0.5, 0.5, "no results", ha="center", va="center")
        axes[0, 0].set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bar_chart(ax, title, categories, series, ylabel, log=False):
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(categories))
    for i, (label, values) in enumerate(series.items()):
        heights = [v if v is not None else 0 for v in values]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, label=label)
    ax.set_xticks(x, categories, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


# ---------------------------------------------------------------- timing
def compare(functions, cfg):
    """Median seconds per call of each function; they take turns, round after round.

    ``functions`` maps a label to a function of no arguments. Each turn first calls
    the function untimed for WARM_UP_SECONDS (at least once: that call compiles Numba
    kernels), which also outlasts the spinning of the previous library's idle
    threads; then it times ``cfg.repeats`` calls — fewer when one call is so slow
    that they would exceed ``cfg.budget`` seconds over all rounds.
    """
    times = {label: [] for label in functions}
    for _ in range(cfg.rounds):
        for label, fn in functions.items():
            start = time.perf_counter()
            calls = 0
            while calls == 0 or time.perf_counter() - start < WARM_UP_SECONDS:
                call_start = time.perf_counter()
                fn()
                calls += 1
            last = time.perf_counter() - call_start
            repeats = max(1, min(cfg.repeats, int(cfg.budget / cfg.rounds / max(last, 1e-9))))
            for _ in range(repeats):
                call_start = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - call_start)
    return {label: float(np.median(t)) for label, t in times.items()}


def ratio(a, b):
    return a / b if a is not None and b is not None else None


# ---------------------------------------------------------------- section 1: matrix multiplication
def bench_matmul(cfg):
    from tinydl.kernels import numba_matmul

    table = Table(
        "matmul", "Matrix multiplication, float32, square n×n (higher is better)",
        ["n", "numpy BLAS", "numba_naive", "numba_ikj", "numba_blocked", "numba_simd", "torch.mm", "blocked / BLAS",
         "simd / BLAS"],
        ["", "GFLOP/s", "GFLOP/s", "GFLOP/s", "GFLOP/s", "GFLOP/s", "GFLOP/s", "ratio", "ratio"],
    )
    rng = np.random.default_rng(0)
    naive_seconds, naive_size = None, None  # the last naive timing, to predict the next size
    for n in cfg.matmul_sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        flops = 2.0 * n**3
        functions = {"numpy BLAS": lambda: a @ b}
        predicted = NAIVE_MARGIN * naive_seconds * (n / naive_size) ** 3 if naive_seconds else 0.0
        if predicted < NAIVE_LIMIT_SECONDS:
            functions["numba_naive"] = lambda: numba_matmul.matmul_naive(a, b)
        functions["numba_ikj"] = lambda: numba_matmul.matmul_ikj(a, b)
        functions["numba_blocked"] = lambda: numba_matmul.matmul_blocked(a, b)
        functions["numba_simd"] = lambda: numba_matmul.matmul_simd(a, b)
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            functions["torch.mm"] = lambda: torch.mm(ta, tb)
        _check_matmuls(a, b, functions)
        seconds = compare(functions, cfg)
        if "numba_naive" in seconds:
            naive_seconds, naive_size = seconds["numba_naive"], n
        gflops = {label: flops / s / 1e9 for label, s in seconds.items()}
        naive = gflops.get("numba_naive", "skipped")
        table.add(str(n), gflops["numpy BLAS"], naive, gflops["numba_ikj"], gflops["numba_blocked"], gflops["numba_simd"],
                  gflops.get("torch.mm"), ratio(gflops["numba_blocked"], gflops["numpy BLAS"]),
                  ratio(gflops["numba_simd"], gflops["numpy BLAS"]))
    table.notes.append(
        f"numba_naive runs only where one call is predicted to take under {NAIVE_LIMIT_SECONDS:.0f} s; "
        "elsewhere 'skipped'. GFLOP/s = 2n³ / median seconds / 10⁹."
    )
    labels = ["numpy BLAS", "numba_naive", "numba_ikj", "numba_blocked", "numba_simd"] + (["torch.mm"] if torch else [])
    table.chart = dict(
        categories=[f"n={row[0]}" for row in table.rows],
        series={label: [_number(row[1 + i]) for row in table.rows] for i, label in enumerate(labels)},
        ylabel="GFLOP/s (log scale)", log=True,
    )
    return table


def _number(value):
    return value if isinstance(value, float) else None


def _check_matmuls(a, b, functions):
    """Every implementation computes the same product (a benchmark of wrong code is worthless)."""
    expected = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    for label, fn in functions.items():
        if label == "numba_naive" and a.shape[0] > 512:
            continue  # checked at the smaller sizes; here a check would double its time
        got = fn()
        got = got.numpy() if hasattr(got, "numpy") else got
        if not np.all(np.abs(got - expected) <= 1e-4 * scale):
            raise AssertionError(f"{label} computes a wrong product at n={a.shape[0]}")


# ---------------------------------------------------------------- section 2: convolution
def conv_available():
    return hasattr(td.nn, "functional") and hasattr(td.nn.functional, "conv2d")


def bench_conv(cfg):
    table = Table(
        "conv", "Conv2d, float32 (lower is better)",
        ["layer", "pass", "tinydl conv2d kernel", "tinydl", "torch", "tinydl / torch"],
        ["", "", "", "ms", "ms", "ratio"],
    )
    impls = [name for name in td.kernels.available("conv2d") if name != "reference"]
    default = td.kernels.default("conv2d")
    impls.sort(key=lambda name: name != default)  # the default first
    rng = np.random.default_rng(1)
    chart_series = {f"tinydl ({name})": [] for name in impls}
    chart_series["torch"] = []
    categories = []
    for label, short, n, c_in, c_out, size, k, pad in cfg.conv_cases:
        x = rng.standard_normal((n, c_in, size, size), dtype=np.float32)
        w = (rng.standard_normal((c_out, c_in, k, k), dtype=np.float32) / math.sqrt(c_in * k * k)).astype(np.float32)
        bias = rng.standard_normal(c_out, dtype=np.float32)
        out_size = size + 2 * pad - k + 1
        ones = np.ones((n, c_out, out_size, out_size), dtype=np.float32)
        tinydl_fwd, tinydl_fwd_bwd = _tinydl_conv(x, w, bias, pad, ones)
        functions = {}
        for name in impls:
            functions[("fwd", name)] = _with_kernel("conv2d", name, tinydl_fwd)
            functions[("fwd+bwd", name)] = _with_kernel("conv2d", name, tinydl_fwd_bwd)
        if torch is not None:
            torch_fwd, torch_fwd_bwd = _torch_conv(x, w, bias, pad, ones)
            functions[("fwd", "torch")] = torch_fwd
            functions[("fwd+bwd", "torch")] = torch_fwd_bwd
        seconds = compare(functions, cfg)
        for pass_ in ("fwd", "fwd+bwd"):
            torch_ms = seconds[(pass_, "torch")] * 1e3 if torch is not None else None
            for name in impls:
                ms = seconds[(pass_, name)] * 1e3
                table.add(label, pass_, name + (" (default)" if name == default else ""), ms, torch_ms, ratio(ms, torch_ms))
                chart_series[f"tinydl ({name})"].append(ms)
            chart_series["torch"].append(torch_ms)
            categories.append(f"{short}\n{pass_}")
    table.notes.append(
        "fwd+bwd: forward, then backward of a ones gradient to x, weight and bias; inputs require grad in every column."
    )
    table.chart = dict(categories=categories, series=chart_series, ylabel="ms (log scale)", log=True)
    return table


def _with_kernel(op, name, fn):
    def run():
        with td.kernels.using(op, name):
            return fn()

    return run


def _tinydl_conv(x, w, bias, pad, ones):
    xt = td.tensor(x, requires_grad=True)
    wt = td.tensor(w, requires_grad=True)
    bt = td.tensor(bias, requires_grad=True)

    def forward():
        return td.nn.functional.conv2d(xt, wt, bt, stride=1, padding=pad)

    def forward_backward():
        xt.grad = wt.grad = bt.grad = None
        forward().backward(ones)

    return forward, forward_backward


def _torch_conv(x, w, bias, pad, ones):
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(bias).requires_grad_()
    ones_t = torch.from_numpy(ones)

    def forward():
        return torch.nn.functional.conv2d(xt, wt, bt, stride=1, padding=pad)

    def forward_backward():
        xt.grad = wt.grad = bt.grad = None
        forward().backward(ones_t)

    return forward, forward_backward


# ---------------------------------------------------------------- section 3: one training step
def step_available():
    return conv_available() and hasattr(td, "models") and hasattr(td.models, "SmallCNN")


def bench_step(cfg):
    table = Table(
        "step", "One training step of the article's CNN, float32 (lower is better)",
        ["batch", "tinydl model", "tinydl", "torch", "tinydl / torch"],
        ["", "", "ms", "ms", "ratio"],
    )
    table.notes.append(
        "Step = forward, cross-entropy, backward, Adam (lr 1e-3), zero_grad. Model: Conv 32@3×3 + ReLU → "
        "MaxPool 2×2 → Flatten → Linear 5408→64 + ReLU → Linear 64→2, the same initial weights in both."
    )
    variants = {"SmallCNN (default)": {}}
    if "fused" in td.models.SmallCNN.__init__.__code__.co_varnames:
        variants = {"SmallCNN (fused conv+ReLU+pool, default)": {}, "SmallCNN(fused=False)": {"fused": False}}
    # The default model with the dense layers' products on the Numba SIMD matmul instead of BLAS:
    # one thread pool for the whole step (see tinydl/kernels/__init__.py, _FASTEST_FIRST).
    matmul_choice = "numba_simd" if "numba_simd" in td.kernels.available("matmul") else None
    if matmul_choice:
        variants[f"SmallCNN, default + matmul {matmul_choice}"] = {}
        table.notes.append("'+ matmul numba_simd': the default model, its dense layers' products by the Numba "
                           "outer-product kernel instead of BLAS (td.kernels.use('matmul', 'numba_simd')).")
    rng = np.random.default_rng(2)
    chart_series = {f"tinydl {v}": [] for v in variants}
    chart_series["torch"] = []
    for batch in cfg.step_batches:
        x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
        labels = rng.integers(0, 2, size=batch)
        functions = {}
        first_losses = {}
        for variant, kwargs in variants.items():
            td.manual_seed(0)
            model = td.models.SmallCNN(in_channels=1, num_classes=2, **kwargs)
            functions[variant], first_losses[variant] = _tinydl_step(model, x, labels)
            if variant.endswith(f"matmul {matmul_choice}"):
                functions[variant] = _with_kernel("matmul", matmul_choice, functions[variant])
        if torch is not None:
            functions["torch"], first_losses["torch"] = _torch_step(model.state_dict(), x, labels)
            _check_same_loss(first_losses, batch, table)
        seconds = compare(functions, cfg)
        torch_ms = seconds["torch"] * 1e3 if torch is not None else None
        for variant in variants:
            ms = seconds[variant] * 1e3
            table.add(str(batch), variant, ms, torch_ms, ratio(ms, torch_ms))
            chart_series[f"tinydl {variant}"].append(ms)
        chart_series["torch"].append(torch_ms)
    table.chart = dict(categories=[f"batch {b}" for b in cfg.step_batches], series=chart_series, ylabel="ms per step")
    return table


def _tinydl_step(model, x, labels):
    optimizer = td.optim.Adam(model.parameters(), lr=1e-3)
    inputs = td.tensor(x)

    def step():
        logits = model(inputs)
        loss = td.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    with td.no_grad():
        first_loss = float(td.cross_entropy(model(inputs), labels).item())
    return step, first_loss


def _torch_step(state_dict, x, labels):
    """The same network in PyTorch, with the same layer names, so that tinydl's weights load as they are."""
    nn = torch.nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(5408, 64), nn.ReLU(), nn.Linear(64, 2))

        def forward(self, inputs):
            return self.classifier(self.features(inputs))

    model = SmallCNN()
    weights = {name: torch.from_numpy(np.array(_as_numpy(value), dtype=np.float32)) for name, value in state_dict.items()}
    model.load_state_dict(weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs = torch.from_numpy(x)
    targets = torch.from_numpy(labels)

    def step():
        logits = model(inputs)
        loss = nn.functional.cross_entropy(logits, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    with torch.no_grad():
        first_loss = float(nn.functional.cross_entropy(model(inputs), targets))
    return step, first_loss


def _as_numpy(value):
    return value.numpy() if hasattr(value, "numpy") else value


def _check_same_loss(first_losses, batch, table):
    """Same weights and inputs must give the same loss; else the two models differ and the timing means little."""
    reference = first_losses["torch"]
    for variant, loss in first_losses.items():
        if abs(loss - reference) > 1e-4 * max(1.0, abs(reference)):
            table.notes.append(f"WARNING: batch {batch}: initial loss of tinydl {variant} {loss:.6f} ≠ torch {reference:.6f}")


# ---------------------------------------------------------------- driver
def machine_info():
    info = dict(
        python=platform.python_version(), platform=platform.platform(), cpu=_cpu_name(), cores=os.cpu_count(),
        numpy=np.__version__, blas=_blas_name(), numba=numba.__version__, numba_threads=numba.get_num_threads(),
        numba_threading_layer=_threading_layer(),
        numba_simd=_numba_simd(), torch=torch.__version__ if torch is not None else None,
        torch_threads=torch.get_num_threads() if torch is not None else None,
    )
    return info


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return numba.config.THREADING_LAYER


def _cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _blas_name():
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: not worth failing for
        return "unknown"


def _numba_simd():
    """The vector width LLVM prefers for Numba's code here (see tinydl/kernels/numba_matmul.py, "SIMD width")."""
    import llvmlite.binding as llvm

    features = numba.config.CPU_FEATURES or ""
    if "-prefer-256-bit" in features:
        return "512-bit (NUMBA_CPU_FEATURES has -prefer-256-bit)"
    try:
        has_avx512 = llvm.get_host_cpu_features().get("avx512f", False)
    except Exception:
        has_avx512 = False
    return "LLVM default (256-bit on most AVX-512 CPUs)" if has_avx512 else "LLVM default"


def header_text(cfg, info):
    return (
        f"## tinydl benchmarks ({'quick' if cfg.quick else 'full'})\n\n"
        f"{info['cpu']}, {info['cores']} cores; NumPy {info['numpy']} ({info['blas']}); "
        f"Numba {info['numba']}, {info['numba_threads']} threads ({info['numba_threading_layer']}), SIMD {info['numba_simd']}; "
        f"PyTorch {info['torch'] or 'not installed'}"
        + (f", {info['torch_threads']} threads" if info["torch_threads"] else "")
        + f". Medians of {cfg.rounds} rounds × up to {cfg.repeats} timed calls, each round after "
        f"{WARM_UP_SECONDS} s of untimed calls.\n"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (CI)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections out of {','.join(SECTIONS)}")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if torch is not None:
        torch.set_num_threads(numba.get_num_threads())  # the same number of cores for both
    header = header_text(cfg, machine_info())
    print(header)
    sections = {
        "matmul": (bench_matmul, lambda: True),
        "conv": (bench_conv, conv_available),
        "step": (bench_step, step_available),
    }
    tables = []
    for name in args.only:
        run, available = sections[name]
        if not available():
            print(f"### {name}: not available yet (tinydl has no conv2d / models.SmallCNN), skipped\n", flush=True)
            continue
        start = time.perf_counter()
        table = run(cfg)
        table.notes.append(f"Section time {time.perf_counter() - start:.0f} s.")
        print(table.to_markdown(), flush=True)
        tables.append(table)
    save_results(tables, args.out, header)
    print(f"Saved results.md, results.json and results.png in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
