"""The kernel registry: interchangeable implementations of the hot loops.

Convolution, max-pooling, matrix multiplication and batch normalisation each
have several implementations that compute the same function and are tested for
parity against the readable one (``reference``; for batch norm, ``numpy``):

    conv2d     reference (loops), numpy (im2col + BLAS), numba (direct, implicit-GEMM and im2col kernels)
    maxpool2d  reference (loops), numpy (strided views), numba (one pass per window)
    conv2d_relu_maxpool2d   the three in one pass: reference, numpy, numba
    matmul     reference (loops), numpy (BLAS), numba_naive (i-j-k), numba_ikj, numba_blocked (cache tiles),
               numba_simd (outer-product micro-kernel on explicit SIMD vectors)
    batchnorm  numpy (the formulas of ops/normalization.py, also CuPy), numba (two passes per channel)

One line lists and switches them:

    >>> import tinydl as td
    >>> td.kernels.available("conv2d")
    ['reference', 'numpy', 'numba']
    >>> td.kernels.use("conv2d", "numpy")            # from now on
    >>> with td.kernels.using("conv2d", "reference"):  # only inside this block
    ...     ...

An implementation is a module (imported on first use, so ``import tinydl``
stays light and compiles nothing) that defines the functions of its op's
*roles*, e.g. ``conv2d_forward``, ``conv2d_backward_input`` and
``conv2d_backward_weight`` for ``conv2d``. The layers call
``td.kernels.get("conv2d").conv2d_forward(...)`` and never name an
implementation themselves.
"""
import contextlib
import importlib
import importlib.util
import types

# The functions each op's implementation must provide, with their signatures.
ROLES = {
    # conv2d_forward(x, w, bias, stride, padding) -> y                            (NCHW)
    # conv2d_backward_input(grad_y, w, x_shape, stride, padding) -> grad_x
    # conv2d_backward_weight(grad_y, x, w_shape, stride, padding) -> grad_w
    "conv2d": ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"),
    # maxpool2d_forward(x, kernel, stride) -> (y, argmax)   argmax: int, flat i·KW + j inside each window
    # maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride) -> grad_x
    "maxpool2d": ("maxpool2d_forward", "maxpool2d_backward"),
    # matmul(a, b) -> a @ b for 2-D float arrays
    "matmul": ("matmul",),
    # The article's conv → ReLU → max-pool block in one pass (see tinydl.ops.conv.conv2d_relu_maxpool2d):
    # conv2d_relu_maxpool2d_forward(x, w, bias, stride, padding, pool_kernel, pool_stride) -> (y, argmax)
    # conv2d_relu_maxpool2d_backward(grad_y, y, argmax, x, w, stride, padding, pool_kernel, pool_stride,
    #                                need_input_grad) -> (grad_x or None, grad_w, grad_b)
    "conv2d_relu_maxpool2d": ("conv2d_relu_maxpool2d_forward", "conv2d_relu_maxpool2d_backward"),
    # Batch normalisation with the batch's statistics (training mode; see tinydl.ops.normalization):
    # batchnorm_train_forward(x, weight, bias, eps) -> (y, x_hat, mean, var, inv_std)   the last three (C,)
    # batchnorm_train_backward(grad, x_hat, inv_std, weight, need_x) -> (grad_x or None, grad_weight, grad_bias)
    "batchnorm": ("batchnorm_train_forward", "batchnorm_train_backward"),
}

# op -> {implementation name: (module, {role: attribute in that module}, modules it needs)}
_registry = {op: {} for op in ROLES}
_selected = {}
_loaded = {}


def register(op, name, module, needs=(), **aliases):
    """Add implementation ``name`` of ``op``, found in ``module`` (imported lazily).

    ``aliases`` maps a role to a differently named function of the module
    (``matmul="matmul_blocked"``); ``needs`` lists the packages it imports,
    so that :func:`available` can leave it out where they are missing.
    """
    if op not in ROLES:
        raise ValueError(f"unknown kernel op {op!r}; known ops: {sorted(ROLES)}")
    functions = {role: aliases.get(role, role) for role in ROLES[op]}
    _registry[op][name] = (module, functions, tuple(needs))
    _loaded.pop((op, name), None)


def _installed(package):
    return importlib.util.find_spec(package) is not None


def _check_op(op):
    if op not in ROLES:
        raise ValueError(f"unknown kernel op {op!r}; known ops: {sorted(ROLES)}")


def available(op):
    """Names of the implementations of ``op`` that can run here (their packages are installed)."""
    _check_op(op)
    return [name for name, (_, _, needs) in _registry[op].items() if all(_installed(p) for p in needs)]


def default(op):
    """The implementation used when none was chosen: the fastest correct one on this machine."""
    _check_op(op)
    names = available(op)
    for name in _FASTEST_FIRST[op]:
        if name in names:
            return name
    return names[0]


def current(op):
    """The name of the implementation of ``op`` in use now."""
    _check_op(op)
    return _selected.get(op) or default(op)


def use(op, name):
    """Switch ``op`` to implementation ``name`` from now on (``None`` goes back to the default)."""
    _check_op(op)
    if name is not None:
        if name not in _registry[op]:
            raise ValueError(f"no implementation {name!r} of {op!r}; choose one of {list(_registry[op])}")
        if name not in available(op):
            missing = [p for p in _registry[op][name][2] if not _installed(p)]
            raise RuntimeError(f"implementation {name!r} of {op!r} needs {', '.join(missing)}, which is not installed")
    _selected[op] = name


@contextlib.contextmanager
def using(op, name):
    """Use implementation ``name`` of ``op`` inside a ``with`` block only."""
    previous = _selected.get(op)
    use(op, name)
    try:
        yield
    finally:
        _selected[op] = previous


def get(op, name=None):
    """The functions of implementation ``name`` (default: the current one) of ``op``, as attributes."""
    name = name or current(op)
    key = (op, name)
    kernel_set = _loaded.get(key)
    if kernel_set is None:
        if name not in _registry.get(op, {}):
            _check_op(op)
            raise ValueError(f"no implementation {name!r} of {op!r}; choose one of {list(_registry[op])}")
        module_name, functions, _ = _registry[op][name]
        module = importlib.import_module(module_name)
        kernel_set = types.SimpleNamespace(name=name, **{role: getattr(module, attr) for role, attr in functions.items()})
        _loaded[key] = kernel_set
    return kernel_set


_HERE = __name__
register("conv2d", "reference", f"{_HERE}.reference")
register("conv2d", "numpy", f"{_HERE}.numpy_im2col")
register("conv2d", "numba", f"{_HERE}.numba_conv", needs=("numba",))
register("maxpool2d", "reference", f"{_HERE}.reference")
register("maxpool2d", "numpy", f"{_HERE}.numpy_im2col")
register("maxpool2d", "numba", f"{_HERE}.numba_conv", needs=("numba",))
for _name, _module in (("reference", "reference"), ("numpy", "numpy_im2col"), ("numba", "numba_conv")):
    register("conv2d_relu_maxpool2d", _name, f"{_HERE}.{_module}", needs=("numba",) if _name == "numba" else ())
register("matmul", "reference", f"{_HERE}.reference")
register("matmul", "numpy", f"{_HERE}.numpy_im2col")
register("matmul", "numba_naive", f"{_HERE}.numba_matmul", needs=("numba",), matmul="matmul_naive")
register("matmul", "numba_ikj", f"{_HERE}.numba_matmul", needs=("numba",), matmul="matmul_ikj")
register("matmul", "numba_blocked", f"{_HERE}.numba_matmul", needs=("numba",), matmul="matmul_blocked")
register("matmul", "numba_simd", f"{_HERE}.numba_matmul", needs=("numba",), matmul="matmul_simd")
register("batchnorm", "numpy", "tinydl.ops.normalization")  # the formulas, line by line (also CuPy)
register("batchnorm", "numba", f"{_HERE}.numba_norm", needs=("numba",))

# Measured on a 2-core CPU (benchmarks/bench.py): BLAS beats every hand-written matmul.
# (One exception, left as a choice: in the article CNN's training step at batch 128, numba_simd
# made the whole step 11.6 → 8.4–9.3 ms, because the Numba conv kernels no longer share the
# cores with OpenBLAS's threads, which keep spinning after each product. But small products
# and dense-only models ran slower with it (an MLP step at batch 128: 1.1 → 2.7 ms), so BLAS
# stays the default: td.kernels.use("matmul", "numba_simd") where it pays.)
_FASTEST_FIRST = {
    "conv2d": ("numba", "numpy", "reference"),
    "maxpool2d": ("numba", "numpy", "reference"),
    "conv2d_relu_maxpool2d": ("numba", "numpy", "reference"),
    "matmul": ("numpy", "numba_blocked", "reference"),
    "batchnorm": ("numba", "numpy"),
}
