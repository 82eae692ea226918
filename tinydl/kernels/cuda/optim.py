# BEGIN SOLUTION assignment=2 remove
"""Launchers of optim.cu: Adam/AdamW and SGD-with-momentum updates, one kernel launch per parameter.

Used by :class:`tinydl.optim.Adam`, :class:`~tinydl.optim.AdamW` and
:class:`~tinydl.optim.SGD` for CuPy parameters (``fused=None`` or ``True``),
as the Numba kernel of numba_optim.py is for NumPy ones. All arrays are
updated in place and must be contiguous, of the parameter's dtype.
"""

import math

import numpy as np

from .launch import ceil_div, check_index_range, launch, suffix, tiles


def plan(n):
    """(grid, block): OPTIM_THREADS per block, one element per thread, at most OPTIM_MAX_BLOCKS blocks."""
    t = tiles("optim")
    return (max(1, min(ceil_div(n, t.OPTIM_THREADS), t.OPTIM_MAX_BLOCKS)), 1, 1), (t.OPTIM_THREADS, 1, 1)


def _check(where, param, *others):
    for a in (param,) + others:
        if a.dtype != param.dtype or a.shape != param.shape or not a.flags.c_contiguous:
            raise ValueError(
                f"{where}: every array must be contiguous with the parameter's shape {param.shape} and "
                f"dtype {param.dtype}; got {a.shape} {a.dtype}"
            )
    check_index_range(where, param.size)


def adam_step(param, grad, m, v, step, lr, betas, eps, weight_decay):
    """One Adam step (t = ``step`` ≥ 1) on param, m, v in place; constants rounded as the NumPy lines round them."""
    _check("adam_step", param, grad, m, v)
    beta1, beta2 = betas
    scalar = param.dtype.type
    grid, block = plan(param.size)
    launch(
        "optim",
        f"adam_step{suffix(param.dtype)}",
        grid,
        block,
        (
            param,
            grad,
            m,
            v,
            np.int32(param.size),
            scalar(beta1),
            scalar(beta2),
            scalar(1 - beta1),
            scalar(1 - beta2),
            scalar(weight_decay),
            scalar(math.sqrt(1 - beta2**step)),
            scalar(eps),
            scalar(lr / (1 - beta1**step)),
        ),
    )


def sgd_step(param, grad, buffer, lr, momentum, dampening, weight_decay, nesterov, first_step):
    """One SGD-with-momentum step on param and the momentum buffer in place."""
    _check("sgd_step", param, grad, buffer)
    scalar = param.dtype.type
    grid, block = plan(param.size)
    launch(
        "optim",
        f"sgd_step{suffix(param.dtype)}",
        grid,
        block,
        (
            param,
            grad,
            buffer,
            np.int32(param.size),
            scalar(lr),
            scalar(momentum),
            scalar(1 - dampening),
            scalar(weight_decay),
            np.int32(bool(nesterov)),
            np.int32(bool(first_step)),
        ),
    )


# END SOLUTION
