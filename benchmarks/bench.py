#!/usr/bin/env python
"""tinydl against NumPy's BLAS and PyTorch, side by side, in one process, on the same inputs.

    python benchmarks/bench.py                     # everything (1-2 minutes on 2 cores)
    python benchmarks/bench.py --quick             # smaller sizes, fewer repeats (CI, < 1 min)
    python benchmarks/bench.py --only matmul,conv  # some sections: matmul, conv, step
    python benchmarks/bench.py --out /tmp/bench    # where results.md/.json/.png go
    python benchmarks/bench.py --device cuda       # tinydl's CUDA kernels vs PyTorch CUDA (results-gpu.*)

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

--device cuda runs the same three sections on the GPU (see "GPU" below): tinydl's CUDA C
kernels (tinydl/kernels/cuda) against cuBLAS and PyTorch CUDA (cuDNN) in one process, TF32 off.
Without a usable GPU it says so in one line and exits with status 2.
"""

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py, also when imported from elsewhere
from machine import cpu_name, numba_vector_width, vector_isa  # noqa: E402  (what machine this is)

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
# --device cuda checks each conv kernel against PyTorch first: largest difference allowed, relative to
# the largest value (float32 sums of up to N·OH·OW = 262 144 terms in the weight gradient).
CONV_TOLERANCE = 1e-3


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
    quick=False,
    rounds=5,
    repeats=5,
    budget=3.0,
    matmul_sizes=(256, 512, 1024, 2048),
    conv_cases=(
        ("N=128, 1→32, 28×28, k3", "1→32, 28²", 128, 1, 32, 28, 3, 0),
        ("N=128, 32→64, 13×13, k3", "32→64, 13²", 128, 32, 64, 13, 3, 0),
        ("N=64, 64→64, 32×32, k3, pad 1", "64→64, 32²", 64, 64, 64, 32, 3, 1),
    ),
    step_batches=(32, 128, 512),
)
QUICK = Config(
    quick=True,
    rounds=2,
    repeats=2,
    budget=0.5,
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
        lines = [
            f"### {self.title}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" if not u else "---:" for u in self.units) + "|",
        ]
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(v, u) for v, u in zip(row, self.units)) + " |")
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def to_json(self):
        return dict(
            name=self.name,
            title=self.title,
            columns=self.columns,
            units=self.units,
            rows=[[_json_value(v) for v in row] for row in self.rows],
            notes=self.notes,
        )


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


def save_results(tables, out_dir, header, stem="results", meta=None):
    """<stem>.md, <stem>.json and <stem>.png in ``out_dir`` (``meta``: the JSON's machine description)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = header + "\n" + "\n".join(t.to_markdown() for t in tables)
    (out_dir / f"{stem}.md").write_text(markdown, encoding="utf-8")
    meta = machine_info() if meta is None else meta
    (out_dir / f"{stem}.json").write_text(
        json.dumps(dict(meta=meta, sections=[t.to_json() for t in tables]), indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    plot(tables, out_dir / f"{stem}.png")
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
def _warm_up(fn, seconds, sync=lambda: None):
    """Call ``fn`` untimed for ``seconds`` (at least once; ``sync`` after each call); return the last call's time."""
    start = time.perf_counter()
    calls = 0
    while calls == 0 or time.perf_counter() - start < seconds:
        call_start = time.perf_counter()
        fn()
        sync()
        calls += 1
    return time.perf_counter() - call_start


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
            last = _warm_up(fn, WARM_UP_SECONDS)
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
        "matmul",
        "Matrix multiplication, float32, square n×n (higher is better)",
        [
            "n",
            "numpy BLAS",
            "numba_naive",
            "numba_ikj",
            "numba_blocked",
            "numba_simd",
            "torch.mm",
            "blocked / BLAS",
            "simd / BLAS",
        ],
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
        table.add(
            str(n),
            gflops["numpy BLAS"],
            naive,
            gflops["numba_ikj"],
            gflops["numba_blocked"],
            gflops["numba_simd"],
            gflops.get("torch.mm"),
            ratio(gflops["numba_blocked"], gflops["numpy BLAS"]),
            ratio(gflops["numba_simd"], gflops["numpy BLAS"]),
        )
    table.notes.append(
        f"numba_naive runs only where one call is predicted to take under {NAIVE_LIMIT_SECONDS:.0f} s; "
        "elsewhere 'skipped'. GFLOP/s = 2n³ / median seconds / 10⁹."
    )
    labels = ["numpy BLAS", "numba_naive", "numba_ikj", "numba_blocked", "numba_simd"] + (["torch.mm"] if torch else [])
    table.chart = dict(
        categories=[f"n={row[0]}" for row in table.rows],
        series={label: [_number(row[1 + i]) for row in table.rows] for i, label in enumerate(labels)},
        ylabel="GFLOP/s (log scale)",
        log=True,
    )
    return table


def _number(value):
    return value if isinstance(value, float) else None


def _check_matmuls(a, b, functions):
    """Every implementation computes the same product (a benchmark of wrong code is worthless)."""
    wrong = _wrong_matmuls(a, b, functions)
    if wrong:
        raise AssertionError(f"{wrong[0]} computes a wrong product at n={a.shape[0]}")


def _wrong_matmuls(a, b, functions, xp=np):
    """Labels of the functions whose product is off a float64 one by more than float32 rounding allows.

    ``xp``: the array module of ``a`` and ``b`` (NumPy, or CuPy for products on the GPU)."""
    expected = a.astype(np.float64) @ b.astype(np.float64)
    scale = xp.abs(a).astype(np.float64) @ xp.abs(b).astype(np.float64)
    wrong = []
    for label, fn in functions.items():
        if label == "numba_naive" and a.shape[0] > 512:
            continue  # checked at the smaller sizes; here a check would double its time
        got = xp.asarray(fn())  # a torch tensor becomes an array of the same device (no copy)
        if not bool(xp.all(xp.abs(got - expected) <= 1e-4 * scale)):
            wrong.append(label)
    return wrong


# ---------------------------------------------------------------- section 2: convolution
def conv_available():
    return hasattr(td.nn, "functional") and hasattr(td.nn.functional, "conv2d")


def bench_conv(cfg, gpu=None):
    """The conv table on the CPU, or with ``gpu`` (a :class:`Gpu`) on the GPU: CUDA kernels vs cuDNN."""
    device = gpu.device if gpu else "cpu"
    with_torch = torch is not None and (gpu is None or gpu.torch_device is not None)
    table = Table(
        "conv",
        "Conv2d" + (" on the GPU" if gpu else "") + ", float32 (lower is better)",
        ["layer", "pass", "tinydl conv2d kernel", "tinydl", "torch", "tinydl / torch"],
        ["", "", "", "ms", "ms", "ratio"],
    )
    impls = [name for name in td.kernels.available("conv2d", device=device) if name != "reference"]
    default = td.kernels.default("conv2d", device=device)
    impls.sort(key=lambda name: name != default)  # the default first
    rng = np.random.default_rng(1)
    chart_series = {f"tinydl ({name})": [] for name in impls}
    chart_series["torch"] = []
    categories = []
    largest_difference = 0.0
    for label, short, n, c_in, c_out, size, k, pad in cfg.conv_cases:
        x = rng.standard_normal((n, c_in, size, size), dtype=np.float32)
        w = (rng.standard_normal((c_out, c_in, k, k), dtype=np.float32) / math.sqrt(c_in * k * k)).astype(np.float32)
        bias = rng.standard_normal(c_out, dtype=np.float32)
        out_size = size + 2 * pad - k + 1
        ones = np.ones((n, c_out, out_size, out_size), dtype=np.float32)
        tinydl_fwd, tinydl_fwd_bwd = _tinydl_conv(x, w, bias, pad, ones, device=gpu.device if gpu else None)
        functions = {}
        for name in impls:
            functions[("fwd", name)] = _with_kernel("conv2d", name, tinydl_fwd)
            functions[("fwd+bwd", name)] = _with_kernel("conv2d", name, tinydl_fwd_bwd)
        if with_torch:
            torch_fwd, torch_fwd_bwd = _torch_conv(x, w, bias, pad, ones, device=gpu.torch_device if gpu else None)
            functions[("fwd", "torch")] = torch_fwd
            functions[("fwd+bwd", "torch")] = torch_fwd_bwd
            if gpu:  # the GPU kernels are new: check them against cuDNN before timing them
                differences = _conv_differences(functions, impls)
                largest_difference = max([largest_difference, *differences.values()])
                for name, difference in differences.items():
                    if difference > CONV_TOLERANCE:
                        table.notes.append(
                            f"WARNING: {label}: {name} differs from PyTorch by {difference:.2g} "
                            "(relative to the largest value): its timings are of wrong results"
                        )
        seconds = gpu.compare(functions, cfg) if gpu else compare(functions, cfg)
        for pass_ in ("fwd", "fwd+bwd"):
            torch_ms = seconds[(pass_, "torch")] * 1e3 if with_torch else None
            for name in impls:
                ms = seconds[(pass_, name)] * 1e3
                table.add(
                    label, pass_, name + (" (default)" if name == default else ""), ms, torch_ms, ratio(ms, torch_ms)
                )
                chart_series[f"tinydl ({name})"].append(ms)
            chart_series["torch"].append(torch_ms)
            categories.append(f"{short}\n{pass_}")
    table.notes.append(
        "fwd+bwd: forward, then backward of a ones gradient to x, weight and bias; inputs require grad in every column."
    )
    if gpu and with_torch:
        table.notes.append(
            f"Output and the three gradients of every tinydl kernel checked against PyTorch's first: "
            f"largest difference {largest_difference:.2g} of the largest value (limit {CONV_TOLERANCE:g})."
        )
    table.chart = dict(categories=categories, series=chart_series, ylabel="ms (log scale)", log=True)
    return table


def _with_kernel(op, name, fn):
    def run():
        with td.kernels.using(op, name):
            return fn()

    return run


def _tinydl_conv(x, w, bias, pad, ones, device=None):
    """forward() returns y; forward_backward() returns the gradients (x, weight, bias). ``device``: None = CPU."""
    xt = td.tensor(x, requires_grad=True, device=device)
    wt = td.tensor(w, requires_grad=True, device=device)
    bt = td.tensor(bias, requires_grad=True, device=device)
    ones = td.tensor(ones, device=device).data if device else ones

    def forward():
        return td.nn.functional.conv2d(xt, wt, bt, stride=1, padding=pad)

    def forward_backward():
        xt.grad = wt.grad = bt.grad = None
        forward().backward(ones)
        return xt.grad, wt.grad, bt.grad

    return forward, forward_backward


def _torch_conv(x, w, bias, pad, ones, device=None):
    """As _tinydl_conv, in PyTorch (``device``: a torch device; None = CPU)."""
    device = device or "cpu"
    xt = torch.from_numpy(x).to(device).requires_grad_()
    wt = torch.from_numpy(w).to(device).requires_grad_()
    bt = torch.from_numpy(bias).to(device).requires_grad_()
    ones_t = torch.from_numpy(ones).to(device)

    def forward():
        return torch.nn.functional.conv2d(xt, wt, bt, stride=1, padding=pad)

    def forward_backward():
        xt.grad = wt.grad = bt.grad = None
        forward().backward(ones_t)
        return xt.grad, wt.grad, bt.grad

    return forward, forward_backward


def _conv_differences(functions, impls):
    """{kernel: largest |tinydl − torch| over y and the three gradients, relative to the largest |torch| value}."""
    expected = [functions[("fwd", "torch")]()] + list(functions[("fwd+bwd", "torch")]())
    expected = [_to_host(e) for e in expected]
    differences = {}
    for name in impls:
        got = [functions[("fwd", name)]()] + list(functions[("fwd+bwd", name)]())
        differences[name] = max(
            float(np.max(np.abs(_to_host(g) - e))) / max(float(np.max(np.abs(e))), 1e-30) for g, e in zip(got, expected)
        )
    return differences


def _to_host(value):
    """A NumPy copy of a tinydl tensor, a torch tensor or an array, from wherever it lives."""
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, td.Tensor):
        return value.numpy()
    return value.get() if hasattr(value, "get") else np.asarray(value)


# ---------------------------------------------------------------- section 3: one training step
def step_available():
    return conv_available() and hasattr(td, "models") and hasattr(td.models, "SmallCNN")


def bench_step(cfg):
    table = Table(
        "step",
        "One training step of the article's CNN, float32 (lower is better)",
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
        table.notes.append(
            "'+ matmul numba_simd': the default model, its dense layers' products by the Numba "
            "outer-product kernel instead of BLAS (td.kernels.use('matmul', 'numba_simd'))."
        )
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


def _tinydl_step(model, x, labels, device=None):
    """step() trains ``model`` on one batch; also returns the first loss (eval mode: no dropout, no
    running-statistics update). ``device``: where the batch goes (None: stays on the CPU)."""
    optimizer = td.optim.Adam(model.parameters(), lr=1e-3)
    inputs = td.tensor(x, device=device)
    targets = labels if device is None else td.tensor(labels, device=device)

    def step():
        logits = model(inputs)
        loss = td.cross_entropy(logits, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    model.eval()
    with td.no_grad():
        first_loss = float(td.cross_entropy(model(inputs), targets).item())
    model.train()
    return step, first_loss


def _torch_small_cnn():
    """The article's CNN in PyTorch, with tinydl's layer names, so that tinydl's weights load as they are."""
    nn = torch.nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(5408, 64), nn.ReLU(), nn.Linear(64, 2))

        def forward(self, inputs):
            return self.classifier(self.features(inputs))

    return SmallCNN()


def _torch_convnet():
    """td.models.ConvNet(in_channels=1, num_classes=2) in PyTorch, with the same layer names."""
    nn = torch.nn

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*block(1, 32), *block(32, 64))
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 2)
            )

        def forward(self, inputs):
            return self.classifier(self.features(inputs))

    return ConvNet()


def _torch_step(state_dict, x, labels, build=_torch_small_cnn, device=None):
    """As _tinydl_step, for the PyTorch twin ``build()`` of the model, loaded with tinydl's weights."""
    nn = torch.nn
    device = device or "cpu"
    model = build()
    weights = {
        name: torch.from_numpy(np.array(_as_numpy(value), dtype=np.float32)) for name, value in state_dict.items()
    }
    model.load_state_dict(weights)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs = torch.from_numpy(x).to(device)
    targets = torch.from_numpy(labels).to(device)

    def step():
        logits = model(inputs)
        loss = nn.functional.cross_entropy(logits, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    model.eval()
    with torch.no_grad():
        first_loss = float(nn.functional.cross_entropy(model(inputs), targets))
    model.train()
    return step, first_loss


def _as_numpy(value):
    return value.numpy() if hasattr(value, "numpy") else value


def _check_same_loss(first_losses, batch, table):
    """Same weights and inputs must give the same loss; else the two models differ and the timing means little."""
    reference = first_losses["torch"]
    for variant, loss in first_losses.items():
        if abs(loss - reference) > 1e-4 * max(1.0, abs(reference)):
            table.notes.append(
                f"WARNING: batch {batch}: initial loss of tinydl {variant} {loss:.6f} ≠ torch {reference:.6f}"
            )


# ================================================================ GPU: --device cuda
# The same sections on the GPU: tinydl's CUDA C kernels (tinydl/kernels/cuda) against cuBLAS and
# PyTorch CUDA (cuDNN), in one process, on the same inputs. TF32 is off everywhere: every product
# is a full float32 one, as on the CPU (the matmul check below would catch one that is not).
def _at_batch(case, batch):
    """A conv case of the CPU table at another batch size (and its batch in the short label)."""
    label, short, _, *rest = case
    return (re.sub(r"^N=\d+", f"N={batch}", label), f"{short} N={batch}", batch, *rest)


GPU_CONV_CASES = tuple(_at_batch(case, case[2]) for case in FULL.conv_cases) + tuple(
    _at_batch(case, 256) for case in FULL.conv_cases
)
GPU_FULL = Config(
    quick=False,
    rounds=5,
    repeats=5,
    budget=2.0,
    matmul_sizes=(1024, 2048, 4096, 8192),
    conv_cases=GPU_CONV_CASES,
    step_batches=(32, 512),
)
# --quick: the same sizes (the targets are read at 4096², batch 256 and batch 512), fewer rounds.
GPU_QUICK = Config(
    quick=True,
    rounds=2,
    repeats=3,
    budget=0.5,
    matmul_sizes=GPU_FULL.matmul_sizes,
    conv_cases=GPU_CONV_CASES,
    step_batches=GPU_FULL.step_batches,
)
GPU_NAIVE_MAX = 2048  # cuda_naive only up to this size: above, one product takes a good part of a second
GPU_SAMPLE_SECONDS = 0.01  # a timed sample repeats a call until it lasts this long (see compare_gpu)
# Untimed calls per turn on the GPU: no CPU threads spin there, so this is only for compilation (the
# first call), cuDNN's algorithm search and the clocks; shorter than the CPU's.
GPU_WARM_UP_SECONDS = 0.1
GPU_MATMUL_KERNELS = ("cuda_naive", "cuda_tiled", "cuda_blocked", "cublas")  # registry names, CUDA matmul
# (what, goal, aim): targets of the issue "Run and tune the GPU path on a real GPU"; the Targets table
# reads them off the other tables. "≥": a share of cuBLAS; "≤": a time ratio tinydl / PyTorch.
GPU_TARGETS = {
    "matmul": ("cuda_blocked / cuBLAS at 4096²", "≥", 0.5, 0.8),
    "conv": ("conv fwd+bwd, tinydl / cuDNN, worst layer", "≤", 2.0, 1.5),
    "step": ("SmallCNN step at batch 512, tinydl / PyTorch", "≤", 1.5, 1.0),
}


@dataclass
class Gpu:
    """What the sections need to run on the GPU: where tinydl's and PyTorch's tensors go, the array
    module of the GPU (CuPy), and a function that waits until every queued kernel has finished."""

    device: str  # tinydl's device
    xp: object  # the GPU's array module
    sync: object  # () -> None
    torch_device: object = None  # None: PyTorch has no CUDA here (its columns read n/a)

    def compare(self, functions, cfg):
        return compare_gpu(functions, cfg, self.sync)


def compare_gpu(functions, cfg, sync):
    """Median seconds per call, as :func:`compare`, for calls that only queue work on the GPU.

    A call returns once its kernels are queued, so each timed sample is sync, k calls, sync, with
    k such that a sample lasts about GPU_SAMPLE_SECONDS (k = 1 for slow calls); a sample gives
    seconds / k. Python's time to launch is in the timing, as a user of either library sees it.
    Each turn starts with GPU_WARM_UP_SECONDS of untimed calls, at least one: that one compiles the
    kernels (NVRTC, once per process) and lets cuDNN pick its algorithms (cudnn.benchmark).
    """
    times = {label: [] for label in functions}
    for _ in range(cfg.rounds):
        for label, fn in functions.items():
            last = max(_warm_up(fn, GPU_WARM_UP_SECONDS, sync), 1e-9)
            per_sample = max(1, math.ceil(GPU_SAMPLE_SECONDS / last))
            samples = max(1, min(cfg.repeats, int(cfg.budget / cfg.rounds / (last * per_sample))))
            for _ in range(samples):
                sync()
                sample_start = time.perf_counter()
                for _ in range(per_sample):
                    fn()
                sync()
                times[label].append((time.perf_counter() - sample_start) / per_sample)
    return {label: float(np.median(t)) for label, t in times.items()}


def bench_gpu_matmul(cfg, gpu):
    table = Table(
        "matmul",
        "Matrix multiplication on the GPU, float32, square n×n (higher is better)",
        [
            "n",
            *GPU_MATMUL_KERNELS,
            "torch.mm",
            "naive / cuBLAS",
            "tiled / cuBLAS",
            "blocked / cuBLAS",
            "torch / cuBLAS",
        ],
        ["", "GFLOP/s", "GFLOP/s", "GFLOP/s", "GFLOP/s", "GFLOP/s", "ratio", "ratio", "ratio", "ratio"],
    )
    kernels = {name: td.kernels.get("matmul", name, device="cuda").matmul for name in GPU_MATMUL_KERNELS}
    rng = np.random.default_rng(0)
    for n in cfg.matmul_sizes:
        a_host = rng.standard_normal((n, n), dtype=np.float32)
        b_host = rng.standard_normal((n, n), dtype=np.float32)
        a, b = gpu.xp.asarray(a_host), gpu.xp.asarray(b_host)
        functions = {
            name: (lambda kernel=kernel: kernel(a, b))
            for name, kernel in kernels.items()
            if name != "cuda_naive" or n <= GPU_NAIVE_MAX
        }
        if gpu.torch_device is not None:
            ta, tb = torch.from_numpy(a_host).to(gpu.torch_device), torch.from_numpy(b_host).to(gpu.torch_device)
            functions["torch.mm"] = lambda: torch.mm(ta, tb)
        for label in _wrong_matmuls(a, b, functions, xp=gpu.xp):
            table.notes.append(f"WARNING: {label} computes a wrong product at n={n}: its timing is of wrong code")
        seconds = gpu.compare(functions, cfg)
        gflops = {label: 2.0 * n**3 / s / 1e9 for label, s in seconds.items()}
        cublas = gflops["cublas"]
        table.add(
            str(n),
            gflops.get("cuda_naive", "skipped"),
            gflops["cuda_tiled"],
            gflops["cuda_blocked"],
            cublas,
            gflops.get("torch.mm"),
            *(ratio(gflops.get(label), cublas) for label in ("cuda_naive", "cuda_tiled", "cuda_blocked", "torch.mm")),
        )
    table.notes.append(
        f"cuda_naive runs up to n = {GPU_NAIVE_MAX} ('skipped' above). cublas: CuPy's a @ b, the default of "
        "tinydl's matmul on CUDA tensors. Every product checked against a float64 one on the GPU first. "
        "GFLOP/s = 2n³ / median seconds / 10⁹."
    )
    labels = [*GPU_MATMUL_KERNELS, "torch.mm"]
    table.chart = dict(
        categories=[f"n={row[0]}" for row in table.rows],
        series={label: [_number(row[1 + i]) for row in table.rows] for i, label in enumerate(labels)},
        ylabel="GFLOP/s (log scale)",
        log=True,
    )
    return table


def bench_gpu_step(cfg, gpu):
    """One training step of SmallCNN and ConvNet on the GPU, once per CUDA conv kernel, vs PyTorch CUDA."""
    table = Table(
        "step",
        "One training step on the GPU, float32 (lower is better)",
        ["batch", "model", "tinydl conv kernel", "tinydl", "torch", "tinydl / torch"],
        ["", "", "", "ms", "ms", "ratio"],
    )
    table.notes += [
        "Step = forward, cross-entropy, backward, Adam (lr 1e-3), zero_grad, in training mode; the batch and its "
        "labels already on the GPU. SmallCNN: the article's CNN (as in the CPU table, fused conv+ReLU+pool). "
        "ConvNet: two blocks Conv 3×3 (pad 1) → BatchNorm → ReLU → MaxPool 2×2 (32, 64 channels), "
        "Dropout 0.3, Linear 3136→128, ReLU, Dropout 0.3, Linear 128→2. The same initial weights in both.",
        "'tinydl conv kernel': the CUDA implementation of conv2d and conv2d_relu_maxpool2d "
        "(td.kernels.using(op, name)); pooling, batch norm and matmul are the CUDA defaults.",
    ]
    models = {
        "SmallCNN": (lambda: td.models.SmallCNN(in_channels=1, num_classes=2), _torch_small_cnn),
        "ConvNet": (lambda: td.models.ConvNet(in_channels=1, num_classes=2), _torch_convnet),
    }
    impls = td.kernels.available("conv2d", device=gpu.device)
    default = td.kernels.default("conv2d", device=gpu.device)
    impls.sort(key=lambda name: name != default)
    rng = np.random.default_rng(2)
    chart_series = {
        f"{model} {who}": [] for model in models for who in [f"tinydl ({name})" for name in impls] + ["torch"]
    }
    for batch in cfg.step_batches:
        x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
        labels = rng.integers(0, 2, size=batch)
        for model_name, (build, build_torch) in models.items():
            functions, first_losses = {}, {}
            for name in impls:
                td.manual_seed(0)
                model = build().to(gpu.device)
                step, first_losses[name] = _tinydl_step(model, x, labels, device=gpu.device)
                functions[name] = _with_kernel("conv2d", name, _with_kernel("conv2d_relu_maxpool2d", name, step))
            if gpu.torch_device is not None:
                functions["torch"], first_losses["torch"] = _torch_step(
                    model.state_dict(), x, labels, build_torch, gpu.torch_device
                )
                _check_same_loss(first_losses, f"{batch} ({model_name})", table)
            seconds = gpu.compare(functions, cfg)
            torch_ms = seconds["torch"] * 1e3 if "torch" in seconds else None
            for name in impls:
                ms = seconds[name] * 1e3
                table.add(
                    str(batch),
                    model_name,
                    name + (" (default)" if name == default else ""),
                    ms,
                    torch_ms,
                    ratio(ms, torch_ms),
                )
                chart_series[f"{model_name} tinydl ({name})"].append(ms)
            chart_series[f"{model_name} torch"].append(torch_ms)
    table.chart = dict(
        categories=[f"batch {b}" for b in cfg.step_batches],
        series=chart_series,
        ylabel="ms per step (log scale)",
        log=True,
    )
    return table


def gpu_targets(tables):
    """The issue's targets, read off the GPU tables: measured value, goal, aim, and whether they are met."""
    table = Table("targets", "Targets", ["target", "measured", "goal", "aim", "status"], ["", "ratio", "", "", ""])
    by_name = {t.name: t for t in tables}
    measured = {}  # section -> [(what, value)]
    if "matmul" in by_name:
        t = by_name["matmul"]
        column = t.columns.index("blocked / cuBLAS")
        measured["matmul"] = [(GPU_TARGETS["matmul"][0], row[column]) for row in t.rows if row[0] == "4096"]
    if "conv" in by_name:
        worst = {}  # kernel -> worst fwd+bwd ratio over the layers; "best of both": per layer, the faster kernel
        best_per_layer = {}
        for layer, pass_, kernel, _, _, r in by_name["conv"].rows:
            if pass_ == "fwd+bwd" and r is not None:
                kernel = kernel.replace(" (default)", "")
                worst[kernel] = max(worst.get(kernel, 0.0), r)
                best_per_layer[layer] = min(best_per_layer.get(layer, math.inf), r)
        what = GPU_TARGETS["conv"][0]
        measured["conv"] = [(f"{what}: {k}", v) for k, v in worst.items()]
        if len(worst) > 1 and best_per_layer:
            measured["conv"].append((f"{what}: the faster kernel per layer", max(best_per_layer.values())))
    if "step" in by_name:
        what = GPU_TARGETS["step"][0]
        measured["step"] = [
            (f"{what}: {kernel.replace(' (default)', '')}", r)
            for batch, model, kernel, _, _, r in by_name["step"].rows
            if batch == "512" and model == "SmallCNN"
        ]
    for section, rows in measured.items():
        _, sense, goal, aim = GPU_TARGETS[section]
        for what, value in rows:
            table.add(what, value, f"{sense} {goal:g}", f"{sense} {aim:g}", _target_status(value, sense, goal, aim))
    table.notes.append(
        "Also a target, checked by benchmarks/gpu_check.sh (train): PneumoniaMNIST test accuracy "
        "after training on cuda within 1 point of the same training on the CPU."
    )
    return table


def _target_status(value, sense, goal, aim):
    if value is None:
        return "not measured"
    better = (lambda a, b: a >= b) if sense == "≥" else (lambda a, b: a <= b)
    return "aim met" if better(value, aim) else "met" if better(value, goal) else "MISSED"


def gpu_unavailable_reason():
    """Why no GPU can be used here, in one line; None when one can (what td.cuda.is_available() checks)."""
    try:
        import cupy
    except Exception as e:  # ImportError, or a CuPy wheel that does not match the CUDA libraries
        return f"CuPy cannot be imported: {e}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, or one older than CuPy's CUDA
        return f"CuPy finds no usable GPU: {e}"
    return None if count > 0 else "CuPy sees no GPU"


def gpu_context():
    """A :class:`Gpu` for GPU 0, PyTorch set to full float32 (TF32 off) where it has CUDA."""
    import cupy

    torch_device = None
    if torch is not None and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True  # cuDNN times its algorithms per shape, once (in the warm-up)
        torch_device = "cuda"

    def sync():
        # Either call waits for the whole device (CuPy and PyTorch share its primary context); both, so that
        # nothing rests on that.
        cupy.cuda.Device().synchronize()
        if torch_device is not None:
            torch.cuda.synchronize()

    return Gpu(device="cuda", xp=cupy, sync=sync, torch_device=torch_device)


def gpu_info(gpu):
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    with_torch = gpu.torch_device is not None
    return dict(
        gpu=name,
        compute_capability=f"{props['major']}.{props['minor']}",
        sms=props["multiProcessorCount"],
        gpu_memory_gib=round(props["totalGlobalMem"] / 2**30, 1),
        cuda_driver=_cuda_version(cupy.cuda.runtime.driverGetVersion()),
        cuda_runtime=_cuda_version(cupy.cuda.runtime.runtimeGetVersion()),
        nvrtc=".".join(str(v) for v in cupy.cuda.nvrtc.getVersion()),
        cupy=cupy.__version__,
        torch=torch.__version__ if torch is not None else None,
        torch_cuda=torch.version.cuda if with_torch else None,
        cudnn=torch.backends.cudnn.version() if with_torch else None,
        tf32=dict(
            torch_matmul=torch.backends.cuda.matmul.allow_tf32,
            torch_cudnn=torch.backends.cudnn.allow_tf32,
            CUPY_TF32=os.environ.get("CUPY_TF32"),
        )
        if with_torch
        else dict(CUPY_TF32=os.environ.get("CUPY_TF32")),
        cudnn_benchmark=torch.backends.cudnn.benchmark if with_torch else None,
        host=machine_info(),
    )


def _cuda_version(number):
    """CUDA's integer version (12040) as text ("12.4")."""
    return f"{number // 1000}.{number % 1000 // 10}"


def gpu_header_text(cfg, info):
    host = info["host"]
    torch_text = (
        f"PyTorch {info['torch']} (CUDA {info['torch_cuda']}, cuDNN {info['cudnn']})"
        if info["torch_cuda"]
        else f"PyTorch {info['torch'] or 'not installed'} without CUDA: its columns read n/a"
    )
    return (
        f"## tinydl on the GPU vs PyTorch CUDA ({'quick' if cfg.quick else 'full'})\n\n"
        f"**{info['gpu']}** (compute capability {info['compute_capability']}, {info['sms']} SMs, "
        f"{info['gpu_memory_gib']} GiB); CUDA driver {info['cuda_driver']}, runtime {info['cuda_runtime']}, "
        f"NVRTC {info['nvrtc']}; CuPy {info['cupy']}; {torch_text}. Host: {host['cpu']}, {host['cores']} cores, "
        f"NumPy {host['numpy']}.\n\n"
        "**TF32 off**: torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False and "
        "CUPY_TF32=0, so every product is a full float32 one; cudnn.benchmark = True. "
        f"Medians of {cfg.rounds} rounds × up to {cfg.repeats} timed samples, each sample "
        f"synchronize → calls for ≥ {GPU_SAMPLE_SECONDS * 1e3:.0f} ms → synchronize (per call: its share); "
        f"each round after {GPU_WARM_UP_SECONDS} s of untimed calls (kernel compilation, cuDNN's algorithm search).\n"
    )


def main_gpu(args):
    """--device cuda: the GPU sections, results-gpu.md/.json/.png; exit status 2 where no GPU is usable."""
    os.environ["CUPY_TF32"] = "0"  # read when CuPy is imported (below, first): cuBLAS in full float32
    reason = gpu_unavailable_reason()
    if reason:
        reason = " ".join(reason.split())  # one line
        print(
            f"bench.py --device cuda: no GPU here ({reason}); run it where there is an NVIDIA GPU, "
            "or without --device for the CPU benchmark",
            file=sys.stderr,
        )
        return 2
    gpu = gpu_context()
    cfg = GPU_QUICK if args.quick else GPU_FULL
    info = gpu_info(gpu)
    header = gpu_header_text(cfg, info)
    print(header, flush=True)
    sections = {
        "matmul": (lambda c: bench_gpu_matmul(c, gpu), lambda: True),
        "conv": (lambda c: bench_conv(c, gpu), conv_available),
        "step": (lambda c: bench_gpu_step(c, gpu), step_available),
    }
    tables = run_sections(args.only, sections, cfg)
    if tables:
        targets = gpu_targets(tables)
        print(targets.to_markdown(), flush=True)
        tables.append(targets)
    save_results(tables, args.out, header, stem="results-gpu", meta=info)
    print(f"Saved results-gpu.md, results-gpu.json and results-gpu.png in {args.out}")
    return 0


# ---------------------------------------------------------------- driver
def machine_info():
    info = dict(
        python=platform.python_version(),
        platform=platform.platform(),
        cpu=cpu_name(),
        vector_isa=vector_isa(),
        cores=os.cpu_count(),
        numpy=np.__version__,
        blas=_blas_name(),
        numba=numba.__version__,
        numba_threads=numba.get_num_threads(),
        numba_threading_layer=_threading_layer(),
        numba_simd=numba_vector_width(),
        torch=torch.__version__ if torch is not None else None,
        torch_threads=torch.get_num_threads() if torch is not None else None,
    )
    return info


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return numba.config.THREADING_LAYER


def _blas_name():
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: not worth failing for
        return "unknown"


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
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections out of {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        choices=["cpu", "cuda"],
        help="cpu (default): vs NumPy's BLAS and PyTorch on the CPU; cuda: the GPU kernels vs PyTorch CUDA",
    )
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    return args


def run_sections(names, sections, cfg):
    """Run the sections ``names`` (name -> (run(cfg) -> Table, available() -> bool)); print each table."""
    tables = []
    for name in names:
        run, available = sections[name]
        if not available():
            print(f"### {name}: not available yet (tinydl has no conv2d / models.SmallCNN), skipped\n", flush=True)
            continue
        start = time.perf_counter()
        table = run(cfg)
        table.notes.append(f"Section time {time.perf_counter() - start:.0f} s.")
        print(table.to_markdown(), flush=True)
        tables.append(table)
    return tables


def main(argv=None):
    args = parse_args(argv)
    if args.device == "cuda":
        return main_gpu(args)
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
    tables = run_sections(args.only, sections, cfg)
    save_results(tables, args.out, header)
    print(f"Saved results.md, results.json and results.png in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
