"""tinydl — a small deep-learning framework for reading, learning and real work.

    import tinydl as td
    x = td.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad            # tensor([2., 4.])

Only light modules are imported here (NumPy and the pure-Python core), so
``import tinydl`` is fast and compiles nothing; Numba kernels, matplotlib and
CuPy load when first used.
"""

from . import cuda, data, explain, kernels, metrics, models, nn, optim, plots, segmentation_plots, testing, train
from ._version import __version__
from .autograd import enable_grad, is_grad_enabled, no_grad
from .device import Device, device
from .function import Function
from .ops import (  # noqa: A004  (shadow the builtins inside the td namespace, like torch)
    abs,
    adaptive_avg_pool1d,
    all,
    any,
    argmax,
    argmin,
    argsort,
    binary_cross_entropy_with_logits,
    cat,
    ceil,
    chunk,
    clamp,
    clip,
    concatenate,
    conv2d,
    conv3d,
    conv_transpose2d,
    cos,
    cross_entropy,
    cumsum,
    exp,
    flatten,
    flip,
    floor,
    gather,
    group_norm,
    isfinite,
    isinf,
    isnan,
    layer_norm,
    log,
    log2,
    log10,
    log_softmax,
    logsumexp,
    masked_fill,
    matmul,
    max,
    max_pool2d,
    max_pool3d,
    maximum,
    mean,
    min,
    minimum,
    mse_loss,
    nonzero,
    permute,
    prod,
    relu,
    repeat_interleave,
    reshape,
    roll,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    softmax,
    sort,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    topk,
    transpose,
    tril,
    triu,
    unflatten,
    unsqueeze,
    var,
    where,
)
from .random import manual_seed, rand, randn
from .run import RunConfig, evaluate_run, explain_run, predict_images, resume_run, train_run
from .serialization import ModelFileError, load, load_weights, save
from .tensor import (
    Tensor,
    arange,
    as_tensor,
    eye,
    float32,
    float64,
    full,
    full_like,
    int64,
    linspace,
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
