"""conv3d forward + backward: tinydl's default CPU kernel (numpy_3d: one BLAS product per kernel tap) against
PyTorch, interleaved in one process, as ratios (median of 5). Run: python benchmarks/bench_conv3d.py"""

import platform
import time

import numpy as np
import torch

import tinydl as td

torch.set_num_threads(2)


def cpu_info():
    """/proc/cpuinfo on Linux; elsewhere the platform's processor name and no flags."""
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return f"model name: {platform.processor() or platform.machine()}"


info = cpu_info()
model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
flags = info
width = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "?")
print("CPU:", model, "| vector width:", width, "| numpy", np.__version__, "| torch", torch.__version__)
rng = np.random.default_rng(0)
for n, c, d, h, w, o, k in [(2, 4, 16, 32, 32, 8, 3), (1, 8, 24, 48, 48, 16, 3)]:
    x = rng.standard_normal((n, c, d, h, w)).astype(np.float32)
    wt = rng.standard_normal((o, c, k, k, k)).astype(np.float32) * 0.1

    def ours():
        xt = td.tensor(x, requires_grad=True)
        wtt = td.tensor(wt, requires_grad=True)
        y = td.nn.functional.conv3d(xt, wtt, None, 1, 1)
        y.sum().backward()

    def theirs():
        xt = torch.tensor(x, requires_grad=True)
        wtt = torch.tensor(wt, requires_grad=True)
        y = torch.nn.functional.conv3d(xt, wtt, None, 1, 1)
        y.sum().backward()

    ours()
    theirs()
    a = []
    b = []
    for _ in range(5):
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs()
        b.append(time.perf_counter() - t)
    ma, mb = np.median(a) * 1e3, np.median(b) * 1e3
    print(f"x {x.shape} w {wt.shape}: tinydl {ma:.1f} ms, torch {mb:.1f} ms, tinydl/torch {ma / mb:.2f}")
