"""tinydl — a small deep-learning framework for reading, learning and real work.

    import tinydl as td
    x = td.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad            # tensor([2., 4.])

Only light modules are imported here (NumPy and the pure-Python core), so
``import tinydl`` is fast and compiles nothing; Numba kernels, matplotlib and
CuPy load when first used.
"""

from . import cuda, data, explain, kernels, metrics, models, nn, optim, plots, testing, train
from ._version import __version__
from .autograd import enable_grad, is_grad_enabled, no_grad
from .device import Device, device
from .function import Function
from .ops import (  # noqa: A004  (shadow the builtins inside the td namespace, like torch)
    abs,
    binary_cross_entropy_with_logits,
    cat,
    clamp,
    clip,
    concatenate,
    cross_entropy,
    exp,
    flatten,
    log,
    log_softmax,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mse_loss,
    permute,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sum,
    tanh,
    transpose,
    where,
)
from .random import manual_seed, rand, randn
from .run import RunConfig, evaluate_run, explain_run, predict_images, resume_run, train_run
from .serialization import ModelFileError, load, load_weights, save
from .tensor import (
    Tensor,
    arange,
    as_tensor,
    float32,
    float64,
    int64,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from .testing import GradcheckError, gradcheck


def __getattr__(name):
    # Modules with heavy imports (matplotlib) load on first use: td.viz, td.demo.
    if name in ("viz", "demo"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinydl' has no attribute {name!r}")
