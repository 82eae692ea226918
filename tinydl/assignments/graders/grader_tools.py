"""What the graders of several assignments share. It is copied beside the tests into every hand-out
and into the grader's own folder, and uses only NumPy: a grader must not rely on code the student writes
(``td.gradcheck``'s numerical gradient is itself a task of assignment 1)."""

import numpy as np


def central_difference(f, x, eps=1e-6):
    """∂f/∂x by central differences, for a float64 array ``x`` and a scalar function ``f``:
    (f(x + eps·e_i) − f(x − eps·e_i)) / (2·eps) for each element i. ``x`` is changed in place and restored."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        plus = f(x)
        x[i] = saved - eps
        minus = f(x)
        x[i] = saved
        grad[i] = (plus - minus) / (2 * eps)
    return grad
