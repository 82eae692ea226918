# BEGIN SOLUTION assignment=2 remove
"""Fused optimiser updates: one pass over each parameter instead of one pass per formula line.

The readable Adam (tinydl/optim/adam.py) writes each line of the formula as
a NumPy operation over the whole array: about a dozen passes over θ, g, m and
v, each reading and writing megabytes (the article's CNN has a 5408 × 64 dense
layer: 1.4 MB per array). This kernel does all of it for one element at a time
while it is in registers — the same arithmetic in the same order, so the same
numbers to the last bit — which is what PyTorch's ``fused=True`` Adam does too.
Measured on the article's CNN at batch 32 (2 cores, cProfile of a training
epoch): the update of all 346 626 weights took 1.6 ms per step as NumPy lines,
0.3 ms fused — the step went from 5.4 to 4.4 ms.
"""

import math

from ._numba import njit


@njit(cache=True, error_model="numpy")
def _adam_kernel(
    param, grad, m, v, beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay, bias2_sqrt, eps, lr_t
):
    """For every i:  g = grad + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − lr_t · m / (√v / √(1−β₂ᵗ) + ε).

    ``lr_t`` = α / (1 − β₁ᵗ). All arrays are flat and contiguous; one thread (a
    parallel launch would cost more than the ~0.3 ms pass over the largest layer).
    """
    for i in range(param.size):
        g = grad[i]
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        m[i] = m[i] * beta1 + g * one_minus_beta1
        v[i] = v[i] * beta2 + (g * g) * one_minus_beta2
        param[i] -= m[i] / (math.sqrt(v[i]) / bias2_sqrt + eps) * lr_t


def adam_step(param, grad, m, v, step, lr, betas, eps, weight_decay):
    """One Adam step on NumPy arrays, in place (param, m, v); ``step`` is t ≥ 1."""
    beta1, beta2 = betas
    scalar = param.dtype.type  # every constant in the parameter's precision, as NumPy's ops use it
    _adam_kernel(
        param.reshape(-1),
        grad.reshape(-1),
        m.reshape(-1),
        v.reshape(-1),
        scalar(beta1),
        scalar(beta2),
        scalar(1 - beta1),
        scalar(1 - beta2),
        scalar(weight_decay),
        scalar(math.sqrt(1 - beta2**step)),
        scalar(eps),
        scalar(lr / (1 - beta1**step)),
    )


# END SOLUTION
