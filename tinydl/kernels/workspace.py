"""Scratch arrays for the CPU kernels: one home for "an array I may overwrite", kept between calls.

Why keep them: touching freshly allocated memory costs a page fault per 4 KiB
page (~0.3 ms per MiB, see docs/performance.md), which took up to a third of
the time of a 1024² matrix product. So the hot kernels ask a :class:`Workspace`
for their packing and im2col buffers, which it makes once per (purpose, dtype)
and hands out again on the next call, grown when a bigger one is needed.

A workspace also makes the *fresh* arrays a kernel returns
(:meth:`Workspace.empty`), so that a test can hand a kernel a workspace whose
allocator fills every new array with NaN: a kernel that forgot to write an
element then shows it.

Not thread-safe: tinydl runs one training step at a time.
"""

import numpy as np

ALIGNMENT = 64  # bytes: one cache line, and one AVX-512 vector


class Workspace:
    """Reusable scratch arrays, one per (purpose, dtype), and the allocator of fresh ones.

    ``allocate(shape, dtype)`` makes every new array (default ``np.empty``: contents undefined).
    """

    def __init__(self, allocate=np.empty):
        self.allocate = allocate
        self._buffers = {}

    def empty(self, shape, dtype):
        """A new array of this shape and dtype (contents undefined): for results handed to the caller."""
        return self.allocate(shape, dtype)

    def scratch(self, purpose, shape, dtype):
        """A reusable array of this shape and dtype (contents undefined), starting on a 64-byte boundary.

        It stays valid until the next request with the same ``purpose`` and dtype, which
        returns (part of) the same memory. The alignment matters: a 64-byte SIMD load
        that straddles two cache lines costs two loads.
        """
        dtype = np.dtype(dtype)
        size = int(np.prod(shape))
        buf = self._buffers.get((purpose, dtype))
        if buf is None or buf.size < size:
            raw = self.allocate(size + ALIGNMENT // dtype.itemsize, dtype)
            start = (-raw.ctypes.data % ALIGNMENT) // dtype.itemsize
            buf = raw[start : start + size]
            self._buffers[(purpose, dtype)] = buf
        return buf[:size].reshape(shape)

    def clear(self):
        """Forget every scratch array (their memory is freed once no caller holds a view of it)."""
        self._buffers.clear()


SHARED_WORKSPACE = Workspace()  # the one the kernels use unless they are given another
