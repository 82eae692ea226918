"""Adam and AdamW: adaptive learning rates from running moments of the gradient."""

import math

import numpy as np

from ..backend import array_module
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), exactly as PyTorch computes it, for step t = 1, 2, …:

        g ← g + λθ                          (weight decay λ, L2 style; 0 by default)
        m ← β₁ m + (1 − β₁) g               (running mean of gradients: the momentum)
        v ← β₂ v + (1 − β₂) g²              (running mean of squared gradients)
        m̂ = m / (1 − β₁ᵗ)                   (bias correction)
        v̂ = v / (1 − β₂ᵗ)
        θ ← θ − α m̂ / (√v̂ + ε)

    Each weight gets its own step size α/√v̂: large where gradients have been
    large, small where they have been small, so badly scaled problems train
    without hand-tuning a rate per weight.

    Why bias correction: m and v start at 0, so early on they are averages
    padded with zeros and biased toward 0 — after one step m = (1 − β₁)g, only
    a tenth of g for β₁ = 0.9, and v = (1 − β₂)g², a thousandth of g². Dividing
    by 1 − βᵗ (the total weight the average has given to real gradients so far)
    removes that bias exactly when g is constant; the correction fades as
    βᵗ → 0. The formula often printed without it (θ ← θ − α m/(√v + ε)) is a
    simplification: v is shrunk far more than m, so its early steps are
    several times too large — (1 − β₁)/√(1 − β₂) ≈ 3.2 times at step 1 for
    β₁ = 0.9, β₂ = 0.999 — and the two forms agree only after a few thousand
    steps (a few times 1/(1 − β₂)).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=None):
        """``fused``: do each update in one pass — a Numba kernel on the CPU (kernels/numba_optim.py),
        one CUDA kernel launch on the GPU (kernels/cuda/optim.cu) — instead of the readable lines
        below: the same numbers, several times faster for large layers. None (default): fused for
        contiguous parameters; False: always the readable lines."""
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})
        self.fused = fused

    def _fused_update(self, param, grad, group, state, weight_decay):
        """The whole step in one fused pass where it applies (returns True), else False."""
        # BEGIN SOLUTION assignment=2 remove
        on_gpu = type(param.data).__module__.startswith("cupy")
        if (
            self.fused is False
            or not (on_gpu or isinstance(param.data, np.ndarray))
            or not param.data.flags.c_contiguous
        ):
            if self.fused:
                raise ValueError("Adam(fused=True) needs contiguous NumPy (CPU) or CuPy (GPU) parameters")
            return False
        if on_gpu:
            from ..kernels.cuda.optim import adam_step
        else:
            from ..kernels.numba_optim import adam_step

        grad = array_module(grad).ascontiguousarray(grad, dtype=param.data.dtype)
        self._init_state(param, state)
        state["step"] += 1
        adam_step(
            param.data,
            grad,
            state["exp_avg"],
            state["exp_avg_sq"],
            state["step"],
            group["lr"],
            group["betas"],
            group["eps"],
            weight_decay,
        )
        return True
        # END SOLUTION
        return False  # only in assignment 2's hand-out, which has no fused kernels: they would answer it

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        betas = group["betas"]
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid betas {betas}: need two numbers in [0, 1)")
        if group["eps"] < 0:
            raise ValueError(f"invalid eps {group['eps']}: it must be >= 0")
        if group["weight_decay"] < 0:
            raise ValueError(f"invalid weight_decay {group['weight_decay']}: it must be >= 0")

    def _update(self, param, grad, group, state):
        if self._fused_update(param, grad, group, state, group["weight_decay"]):
            return
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param.data
        self._adam_step(param, grad, group, state)

    @staticmethod
    def _init_state(param, state):
        if not state:  # first step for this parameter
            xp = array_module(param.data)
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)  # m
            state["exp_avg_sq"] = xp.zeros_like(param.data)  # v

    @staticmethod
    def _adam_step(param, grad, group, state):
        beta1, beta2 = group["betas"]
        Adam._init_state(param, state)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        xp = array_module(v)
        # Every line works in place (out=...): a fresh temporary per line would cost more than the
        # arithmetic for large layers (memory traffic and page faults, see docs/performance.md).
        if "scratch" not in state:
            state["scratch"] = xp.empty_like(param.data)  # one reusable temporary (below)
        tmp = state["scratch"]

        # BEGIN SOLUTION assignment=2 task=adam hint="m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; theta -= lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m/(1-b1^t), v_hat = v/(1-b2^t); update m, v in place"
        m *= beta1  # m ← β₁ m + (1 − β₁) g
        xp.multiply(grad, 1 - beta1, out=tmp)
        m += tmp
        v *= beta2  # v ← β₂ v + (1 − β₂) g²
        xp.multiply(grad, grad, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        # θ ← θ − α m̂ / (√v̂ + ε) with m̂ = m / (1 − β₁ᵗ) and v̂ = v / (1 − β₂ᵗ), arranged (as PyTorch
        # does) so that the bias corrections are scalars: θ ← θ − α/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε).
        xp.sqrt(v, out=tmp)
        tmp /= math.sqrt(1 - beta2**t)
        tmp += group["eps"]
        xp.divide(m, tmp, out=tmp)
        tmp *= group["lr"] / (1 - beta1**t)
        param.data -= tmp
        # END SOLUTION


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019):

        θ ← θ − αλθ                  (shrink the weights directly…)
        then the Adam step of :class:`Adam` with the raw gradient g (no λθ added).

    With Adam's L2-style decay, λθ is added to g and then divided by √v̂, so
    weights with large gradients are barely regularised; decoupling makes
    every weight decay at the same rate αλ. Default λ = 0.01, as in PyTorch.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused)

    def _update(self, param, grad, group, state):
        param.data *= 1 - group["lr"] * group["weight_decay"]
        if not self._fused_update(param, grad, group, state, 0.0):
            self._adam_step(param, grad, group, state)
