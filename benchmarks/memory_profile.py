"""Memory profile of training the article's CNN: python benchmarks/memory_profile.py [--steps 500] [--batch 128]

Prints the memory in use (tracemalloc: NumPy and Python allocations) every 50
steps, its peak, and the process's peak resident size. A flat profile means no
graph or buffer survives from one step to the next.
"""

import argparse
import resource
import time
import tracemalloc

import numpy as np

import tinydl as td


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()

    td.manual_seed(0)
    model = td.models.SmallCNN(in_channels=1, num_classes=2)
    optimizer = td.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    images = td.tensor(rng.random((args.batch, 1, 28, 28), dtype=np.float32))
    labels = rng.integers(0, 2, args.batch)

    tracemalloc.start()
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        optimizer.zero_grad()
        td.cross_entropy(model(images), labels).backward()
        optimizer.step()
        if step % 50 == 0 or step == 1:
            current, peak = tracemalloc.get_traced_memory()
            print(f"step {step:4d}: in use {current / 2**20:7.2f} MiB   peak so far {peak / 2**20:7.2f} MiB")
    elapsed = time.perf_counter() - start
    current, peak = tracemalloc.get_traced_memory()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.steps} steps at batch {args.batch} in {elapsed:.1f} s; tracemalloc peak {peak / 2**20:.1f} MiB, "
        f"end {current / 2**20:.1f} MiB; peak resident size of the process {rss:.0f} MiB"
    )


if __name__ == "__main__":
    main()
