"""Training the article's CNN holds a flat memory profile: nothing survives a step.

``backward()`` frees the graph as it goes, and every array a step allocates
must be released by the next one. tracemalloc sees NumPy's allocations, so
the memory in use after many more steps must equal what it was after a few.
The peak for 500 steps is measured by ``benchmarks/memory_profile.py``.
"""

import gc
import tracemalloc
import weakref

import numpy as np

import tinydl as td


def _training_step(model, optimizer, images, labels):
    optimizer.zero_grad()
    logits = model(images)
    loss = td.cross_entropy(logits, labels)
    loss.backward()
    optimizer.step()
    return logits


def test_small_cnn_training_memory_is_flat_and_graph_is_freed():
    td.manual_seed(0)
    model = td.models.SmallCNN(in_channels=1, num_classes=2)
    optimizer = td.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    images = td.tensor(rng.random((16, 1, 28, 28), dtype=np.float32))
    labels = rng.integers(0, 2, 16)

    tracemalloc.start()
    try:
        for _ in range(10):  # warm-up: kernels compiled, scratch buffers and Adam's moments allocated
            _training_step(model, optimizer, images, labels)
        gc.collect()
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(60):
            logits = _training_step(model, optimizer, images, labels)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"memory in use grew by {grown / 1024:.0f} KiB over 60 steps"

    # The last step's graph is gone: its output is a plain tensor now, and dropping it frees it.
    assert logits._ctx is None
    probe = weakref.ref(logits)
    del logits
    gc.collect()
    assert probe() is None
