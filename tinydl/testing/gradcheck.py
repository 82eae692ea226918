"""Numerical gradient checking: does backward() agree with central differences?

For a function f of tensors x₁…x_k we pick a random "upstream gradient" v of
f's output shape and compare, for every element of every input,

    analytic   ∂⟨v, f⟩/∂x  from tinydl's backward pass, with
    numerical  (⟨v, f(x + ε e_i)⟩ − ⟨v, f(x − ε e_i)⟩) / (2ε),

the central difference, whose error shrinks like ε². All of it runs in float64:
in float32 the rounding error of f (~1e-7·|f|/ε) would swamp the comparison.

An element passes when |analytic − numerical| ≤ atol + rtol·|numerical|, as in
``numpy.allclose``. The report gives, for each input, the largest absolute and
relative error and the index where each occurred.
"""

from dataclasses import dataclass, field

import numpy as np

from ..tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when analytic and numerical gradients disagree; holds the report."""

    def __init__(self, report):
        super().__init__(str(report))
        self.report = report


@dataclass
class InputCheck:
    """How one input's analytic gradient compares with the numerical one."""

    position: int
    shape: tuple
    max_abs_error: float
    max_abs_error_at: tuple
    max_rel_error: float
    max_rel_error_at: tuple
    failures: int
    worst_analytic: float
    worst_numerical: float

    @property
    def passed(self):
        return self.failures == 0


@dataclass(repr=False)
class GradcheckReport:
    """The result of :func:`gradcheck`; truthy when every input passed; prints as a readable table."""

    inputs: list = field(default_factory=list)
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3

    @property
    def passed(self):
        return all(c.passed for c in self.inputs)

    def __bool__(self):
        return self.passed

    def __repr__(self):  # a notebook cell ending with a report shows the table, not the fields
        return str(self)

    def __str__(self):
        lines = [
            f"gradcheck {'passed' if self.passed else 'FAILED'} (eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g})"
        ]
        for c in self.inputs:
            status = "ok  " if c.passed else "FAIL"
            lines.append(
                f"  {status} input {c.position} shape {c.shape}: "
                f"max abs error {c.max_abs_error:.3e} at {c.max_abs_error_at}, "
                f"max rel error {c.max_rel_error:.3e} at {c.max_rel_error_at}"
                + (
                    f"; {c.failures} element(s) out of tolerance, worst: analytic {c.worst_analytic:.6g} "
                    f"vs numerical {c.worst_numerical:.6g}"
                    if c.failures
                    else ""
                )
            )
        return "\n".join(lines)


def _as_float64_leaf(x):
    if isinstance(x, Tensor):
        if x.dtype.kind != "f":
            return x, False  # integer tensors (labels) pass through unchecked
        return Tensor(x.numpy().astype(np.float64), requires_grad=x.requires_grad), x.requires_grad
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        return Tensor(arr.astype(np.float64), requires_grad=True), True
    return x, False


def _scalarize(out, v):
    """⟨v, f⟩ as a Python float (the quantity we differentiate numerically)."""
    return float(np.sum(out.numpy().astype(np.float64) * v))


def numerical_gradient(fn, inputs, index, v, eps):
    """Central-difference gradient of ⟨v, fn(*inputs)⟩ with respect to ``inputs[index]`` (float64 array)."""
    x = inputs[index].data
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    # BEGIN SOLUTION assignment=1 task=numerical_gradient hint="for each element: f(x + eps) and f(x - eps) through _scalarize(fn(*inputs), v); (plus - minus) / (2 eps); restore x"
    for i in range(flat_x.size):
        saved = flat_x[i]
        flat_x[i] = saved + eps
        plus = _scalarize(fn(*inputs), v)
        flat_x[i] = saved - eps
        minus = _scalarize(fn(*inputs), v)
        flat_x[i] = saved
        flat_g[i] = (plus - minus) / (2 * eps)
    # END SOLUTION
    return grad


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True):
    """Check ``fn``'s backward pass against central differences, in float64.

    ``inputs`` are Tensors or arrays. Float arrays, and float Tensors with
    ``requires_grad=True``, are checked; everything else (labels, options) is
    passed through unchanged. ``fn`` must return a Tensor of any shape.

    Returns a :class:`GradcheckReport` (truthy on success). On failure raises
    :class:`GradcheckError` with that report, unless ``raise_exception=False``.

    >>> import numpy as np, tinydl as td
    >>> td.gradcheck(lambda x: (x * x).sum(), np.array([1.0, -2.0]))
    GradcheckReport(...)
    """
    prepared, checked = [], []
    for x in inputs:
        t, is_checked = _as_float64_leaf(x)
        prepared.append(t)
        checked.append(is_checked)
    if not any(checked):
        raise ValueError(
            "gradcheck: no input is a float array or a float Tensor with requires_grad=True; nothing to check"
        )

    out = fn(*prepared)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(
            f"gradcheck: fn returned dtype {out.dtype} for float64 inputs; keep the computation in the inputs' dtype "
            "(e.g. create constants with dtype=x.dtype)"
        )
    v = np.random.default_rng(seed).standard_normal(out.shape)
    if out.requires_grad:
        out.backward(v)

    report = GradcheckReport(eps=eps, atol=atol, rtol=rtol)
    for pos, (t, is_checked) in enumerate(zip(prepared, checked)):
        if not is_checked:
            continue
        analytic = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
        numerical = numerical_gradient(fn, prepared, pos, v, eps)
        abs_err = np.abs(analytic - numerical)
        rel_err = abs_err / np.maximum(np.maximum(np.abs(analytic), np.abs(numerical)), 1e-12)
        bad = abs_err > atol + rtol * np.abs(numerical)
        worst = np.unravel_index(np.argmax(np.where(bad, abs_err, -1)), t.shape) if bad.any() else ()
        report.inputs.append(
            InputCheck(
                position=pos,
                shape=t.shape,
                max_abs_error=float(abs_err.max()) if abs_err.size else 0.0,
                max_abs_error_at=_index_of_max(abs_err),
                max_rel_error=float(rel_err.max()) if rel_err.size else 0.0,
                max_rel_error_at=_index_of_max(rel_err),
                failures=int(bad.sum()),
                worst_analytic=float(analytic[worst]) if bad.any() else 0.0,
                worst_numerical=float(numerical[worst]) if bad.any() else 0.0,
            )
        )
    if raise_exception and not report.passed:
        raise GradcheckError(report)
    return report


def _index_of_max(errors):
    """The index (a tuple of ints) of the largest entry of ``errors``; () for an empty array."""
    return tuple(int(i) for i in np.unravel_index(np.argmax(errors), errors.shape)) if errors.size else ()
