"""Cost of the first call of each Numba kernel in a fresh process: python benchmarks/first_call.py

Each kernel is compiled on its first call and cached on disk (``cache=True``);
later processes load it from the cache. This runs every registered Numba
kernel twice, each time in a new Python process: the first run may compile
(cold cache), the second shows the cost with the cache warm.
"""

import subprocess
import sys

PROBE = r"""
import time, numpy as np
t0 = time.perf_counter()
import tinydl as td
x = np.random.default_rng(0).standard_normal((4, 3, 12, 12)).astype(np.float32)
w = np.ones((5, 3, 3, 3), np.float32)
rows = []
def first(name, fn):
    t = time.perf_counter(); fn(); rows.append((name, time.perf_counter() - t))
conv = td.kernels.get("conv2d", "numba")
first("conv2d_forward", lambda: conv.conv2d_forward(x, w, None, (1, 1), (1, 1)))
first("conv2d_backward_input", lambda: conv.conv2d_backward_input(np.ones((4, 5, 12, 12), np.float32), w, x.shape, (1, 1), (1, 1)))
first("conv2d_backward_weight", lambda: conv.conv2d_backward_weight(np.ones((4, 5, 12, 12), np.float32), x, w.shape, (1, 1), (1, 1)))
# Layers with many channels take the implicit-GEMM kernels (two forward kernels, chosen by shape).
xs, ws = np.ones((4, 32, 13, 13), np.float32), np.ones((64, 32, 3, 3), np.float32)
xl, wl = np.ones((2, 64, 32, 32), np.float32), np.ones((64, 64, 3, 3), np.float32)
first("conv2d_forward implicit, filters in vectors", lambda: conv.conv2d_forward(xs, ws, None, (1, 1), (0, 0)))
first("conv2d_forward implicit, shifted rows", lambda: conv.conv2d_forward(xl, wl, None, (1, 1), (1, 1)))
first("conv2d_backward_weight implicit", lambda: conv.conv2d_backward_weight(np.ones((4, 64, 11, 11), np.float32), xs, ws.shape, (1, 1), (0, 0)))
pool = td.kernels.get("maxpool2d", "numba")
first("maxpool2d_forward", lambda: pool.maxpool2d_forward(x, (2, 2), (2, 2)))
y, a = pool.maxpool2d_forward(x, (2, 2), (2, 2))
first("maxpool2d_backward", lambda: pool.maxpool2d_backward(y, a, x.shape, (2, 2), (2, 2)))
fused = td.kernels.get("conv2d_relu_maxpool2d", "numba")
first("conv2d_relu_maxpool2d_forward", lambda: fused.conv2d_relu_maxpool2d_forward(x, w, None, (1, 1), (0, 0), (2, 2), (2, 2)))
for name in ("numba_naive", "numba_ikj", "numba_blocked"):
    if name in td.kernels.available("matmul"):
        mm = td.kernels.get("matmul", name).matmul
        first("matmul " + name, lambda: mm(w.reshape(5, -1), w.reshape(5, -1).T.copy()))
print("|".join(f"{n}={s:.3f}" for n, s in rows), f"|total={time.perf_counter() - t0:.3f}")
"""


def run_once():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.strip()
    return dict(item.split("=") for item in out.split("|"))


def main():
    runs = [run_once(), run_once()]
    print("| kernel | first call, 1st process (s) | first call, 2nd process: cache warm (s) |")
    print("|---|---|---|")
    for name in runs[0]:
        print(f"| {name} | {float(runs[0][name]):.3f} | {float(runs[1][name]):.3f} |")


if __name__ == "__main__":
    main()
