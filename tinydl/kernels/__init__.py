"""The kernel registry: interchangeable implementations of the hot loops, per device.

Convolution, max-pooling, matrix multiplication and batch normalisation each
have several implementations that compute the same function and are tested for
parity against the readable one (``reference``; for batch norm, ``numpy``):

    CPU (NumPy arrays)
    conv2d     reference (loops), numpy (im2col + BLAS), numba_im2col (Numba im2col + BLAS),
               numba_implicit_gemm (the product without the im2col matrix), numba (per layer, the one measured faster)
    maxpool2d  reference (loops), numpy (strided views), numba (one pass per window)
    conv2d_relu_maxpool2d   the three in one pass: reference, numpy, numba_im2col (chunk by chunk),
               numba_direct (window by window), numba (per layer, the one measured faster)
    matmul     reference (loops), numpy (BLAS), numba_naive (i-j-k), numba_ikj, numba_blocked (cache tiles),
               numba_simd (outer-product micro-kernel on explicit SIMD vectors)
    batchnorm  numpy (the formulas, kernels/numpy_norm.py, also CuPy), numba (two passes per channel)
    conv3d, maxpool3d   reference (loops, kernels/reference_3d.py), numpy (one BLAS product / one
               running-maximum pass per kernel tap on strided views, kernels/numpy_3d.py, also CuPy)

    CUDA (CuPy arrays; CUDA C in kernels/cuda/*.cu, checked on the CPU through tinydl.testing.cuda_emulator)
    conv2d, conv2d_relu_maxpool2d   cupy_im2col (im2col/col2im kernels + cuBLAS), cupy_direct (implicit GEMM)
    maxpool2d  cuda (one thread per output; backward one thread per input pixel)
    matmul     cublas (cupy @), cuda_naive, cuda_tiled (shared memory), cuda_blocked (8×8 register tiles)
    batchnorm  cuda (one block per channel, tree reductions), cupy (the formulas, as CuPy array code)
    conv3d, maxpool3d   cupy (kernels/numpy_3d.py as CuPy array code: cuBLAS per kernel tap)

Options of the conv ops need nothing more from an implementation: ``conv2d``'s
dilation (a kernel with zeros between its taps), groups (one call per group),
asymmetric, "same" and "valid" padding (a ``pad`` op, then the symmetric part)
and ``conv_transpose2d`` (the input-gradient role as its forward, the other two
roles as its backward) are built in :mod:`tinydl.ops.conv` from the three
``conv2d`` roles with their plain arguments, so every registered implementation,
CPU and CUDA alike, runs them (tests/test_ops_conv_options.py checks each CPU one
against ``reference``). The one exception is an implementation's own limit:
``numba_implicit_gemm`` runs stride-1 layers only, as before; the default
``numba`` sends other layers to im2col. ``interpolate`` and the adaptive
poolings are matrix products along each axis in ``xp`` (NumPy or CuPy), no kernel.

One line lists and switches them:

    >>> import tinydl as td
    >>> td.kernels.available("conv2d")
    ['reference', 'numpy', 'numba', 'numba_im2col', 'numba_implicit_gemm']
    >>> td.kernels.available("matmul", device="cuda")    # where CuPy is installed
    ['cublas', 'cuda_naive', 'cuda_tiled', 'cuda_blocked']
    >>> td.kernels.use("conv2d", "numpy")            # from now on (on the CPU: the name says where)
    >>> with td.kernels.using("conv2d", "reference"):  # only inside this block
    ...     ...

Each device has its own choice: switching the CPU's conv2d leaves the GPU's
alone, and an op on CuPy arrays always runs a CUDA implementation. Without
``device``, ``available``/``default``/``current``/``get`` speak of the CPU.

An implementation is a module (imported on first use, so ``import tinydl``
stays light and compiles nothing), or an object in one (``"module:attribute"``),
that defines the functions of its op's *roles*, e.g. ``conv2d_forward``,
``conv2d_backward_input`` and ``conv2d_backward_weight`` for ``conv2d``. The
layers call ``td.kernels.get("conv2d", device=...).conv2d_forward(...)`` and
never name an implementation themselves.
Beyond a role's arguments, a function may take keyword arguments with
defaults, such as a tuning size (``numba_im2col``'s ``chunk_bytes``): the
layers never pass them; tests and benchmarks may.
"""

import contextlib
import importlib
import importlib.util
import types

DEVICES = ("cpu", "cuda")

# The functions each op's implementation must provide, with their signatures.
ROLES = {
    # conv2d_forward(x, w, bias, stride, padding) -> y                            (NCHW)
    # conv2d_backward_input(grad_y, w, x_shape, stride, padding) -> grad_x
    # conv2d_backward_weight(grad_y, x, w_shape, stride, padding) -> grad_w
    "conv2d": ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"),
    # maxpool2d_forward(x, kernel, stride) -> (y, argmax)   argmax: int, flat i·KW + j inside each window:
    #     the first maximum, or (NaN wins, as in PyTorch) the window's last NaN
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
    # Volumes (NCDHW; see tinydl.ops.volume), the same roles as conv2d/maxpool2d with one more spatial axis:
    # conv3d_forward(x, w, bias, stride, padding) -> y, conv3d_backward_input(grad_y, w, x_shape, stride, padding),
    # conv3d_backward_weight(grad_y, x, w_shape, stride, padding); stride and padding are triples
    "conv3d": ("conv3d_forward", "conv3d_backward_input", "conv3d_backward_weight"),
    # maxpool3d_forward(x, kernel, stride) -> (y, argmax)   argmax: flat (i·KH + j)·KW + k inside each window
    # maxpool3d_backward(grad_y, argmax, x_shape, kernel, stride) -> grad_x
    "maxpool3d": ("maxpool3d_forward", "maxpool3d_backward"),
}

# op -> {implementation name: (module, {role: attribute in that module}, modules it needs, device)}
_registry = {op: {} for op in ROLES}
_selected = {}  # (op, device) -> the name chosen with use(); absent or None: the default
_loaded = {}


def device_type(device):
    """``'cpu'`` or ``'cuda'`` for a device given as a string (``'cuda:1'``), a ``td.device`` or None (the CPU)."""
    if device is None:
        return "cpu"
    kind = getattr(device, "type", None) or str(device).strip().lower().partition(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r} for a kernel: expected one of {DEVICES} (or 'cuda:N')")
    return kind


def device_of_array(array):
    """The kernel device of an array: ``'cuda'`` for CuPy arrays, ``'cpu'`` otherwise (CuPy is not imported)."""
    return "cuda" if type(array).__module__.startswith("cupy") else "cpu"


def register(op, name, module, needs=(), device="cpu", **aliases):
    """Add implementation ``name`` of ``op`` for ``device``, found in ``module`` (imported lazily).

    ``module`` is a module name, or ``"module:attribute"`` for an object in it.
    ``aliases`` maps a role to a differently named function of the module
    (``matmul="matmul_blocked"``); ``needs`` lists the packages it imports,
    so that :func:`available` can leave it out where they are missing. Names
    are unique per op across devices, so that ``use(op, name)`` knows where.
    """
    _check_op(op)
    device = device_type(device)
    if name in _registry[op] and _registry[op][name][3] != device:
        raise ValueError(f"{op!r} already has an implementation {name!r} for {_registry[op][name][3]}")
    functions = {role: aliases.get(role, role) for role in ROLES[op]}
    _registry[op][name] = (module, functions, tuple(needs), device)
    _loaded.pop((op, name), None)


def unregister(op, name):
    """Remove implementation ``name`` of ``op`` (one added with :func:`register`, e.g. an experiment).

    A device that had chosen it goes back to its default.
    """
    _check_op(op)
    if name not in _registry[op]:
        raise ValueError(f"no implementation {name!r} of {op!r} to remove; registered: {list(_registry[op])}")
    del _registry[op][name]
    _loaded.pop((op, name), None)
    for key, chosen in list(_selected.items()):
        if key[0] == op and chosen == name:
            _selected[key] = None


def _installed(package):
    return importlib.util.find_spec(package) is not None


def _check_op(op):
    if op not in ROLES:
        raise ValueError(f"unknown kernel op {op!r}; known ops: {sorted(ROLES)}")


def registered(op, device="cpu"):
    """Names of every implementation of ``op`` for ``device``, whether or not it can run here."""
    _check_op(op)
    device = device_type(device)
    return [name for name, entry in _registry[op].items() if entry[3] == device]


def available(op, device="cpu"):
    """Names of the implementations of ``op`` for ``device`` that can run here (their packages are installed)."""
    return [name for name in registered(op, device) if all(_installed(p) for p in _registry[op][name][2])]


def default(op, device="cpu"):
    """The implementation used when none was chosen: the fastest correct one for ``device``."""
    device = device_type(device)
    names = available(op, device)
    for name in _FASTEST_FIRST[device][op]:
        if name in names:
            return name
    if not names:
        if not registered(op, device):  # e.g. an assignment's hand-out, which has only the loops to write
            raise RuntimeError(f"no implementation of {op!r} is registered for {device} in this copy of tinydl")
        missing = sorted({p for n in registered(op, device) for p in _registry[op][n][2] if not _installed(p)})
        raise RuntimeError(f"no implementation of {op!r} can run on {device} here: it needs {', '.join(missing)}")
    return names[0]


def current(op, device="cpu"):
    """The name of the implementation of ``op`` in use now on ``device``."""
    _check_op(op)
    device = device_type(device)
    return _selected.get((op, device)) or default(op, device)


def _device_of_name(op, name, device):
    """The device ``name`` is registered for (checked against ``device`` when that is given)."""
    if name not in _registry[op]:
        where = f" for {device_type(device)}" if device is not None else ""
        raise ValueError(
            f"no implementation {name!r} of {op!r}; choose one of "
            f"{registered(op, device) if device is not None else list(_registry[op])}{where}"
        )
    registered_for = _registry[op][name][3]
    if device is not None and device_type(device) != registered_for:
        raise ValueError(
            f"{name!r} is a {registered_for} implementation of {op!r}, not a {device_type(device)} one; "
            f"{device_type(device)} has {registered(op, device)}"
        )
    return registered_for


def use(op, name, device=None):
    """Switch ``op`` to implementation ``name`` from now on (``None`` goes back to the default).

    The device is the one ``name`` is registered for; to reset a device's
    choice, ``use(op, None, device="cuda")`` (``device`` defaults to the CPU).
    """
    _check_op(op)
    if name is None:
        _selected[(op, device_type(device))] = None
        return
    device = _device_of_name(op, name, device)
    if name not in available(op, device):
        missing = [p for p in _registry[op][name][2] if not _installed(p)]
        raise RuntimeError(f"implementation {name!r} of {op!r} needs {', '.join(missing)}, which is not installed")
    _selected[(op, device)] = name


@contextlib.contextmanager
def using(op, name, device=None):
    """Use implementation ``name`` of ``op`` inside a ``with`` block only."""
    _check_op(op)
    key = (op, device_type(device) if name is None else _device_of_name(op, name, device))
    previous = _selected.get(key)
    use(op, name, device)
    try:
        yield
    finally:
        _selected[key] = previous


def get(op, name=None, device="cpu"):
    """The functions of implementation ``name`` (default: the current one on ``device``) of ``op``, as attributes."""
    name = name or current(op, device)
    key = (op, name)
    kernel_set = _loaded.get(key)
    if kernel_set is None:
        if name not in _registry.get(op, {}):
            _check_op(op)
            raise ValueError(f"no implementation {name!r} of {op!r}; choose one of {list(_registry[op])}")
        module_name, functions, _, _ = _registry[op][name]
        module_name, _, attribute = module_name.partition(":")
        source = importlib.import_module(module_name)
        if attribute:
            source = getattr(source, attribute)
        kernel_set = types.SimpleNamespace(
            name=name, **{role: getattr(source, attr) for role, attr in functions.items()}
        )
        _loaded[key] = kernel_set
    return kernel_set


def get_for(op, array):
    """The current implementation of ``op`` for the device ``array`` lives on (NumPy: CPU, CuPy: CUDA)."""
    return get(op, device=device_of_array(array))


_HERE = __name__
register("conv2d", "reference", f"{_HERE}.reference")
# BEGIN SOLUTION assignment=3 remove
register("conv2d", "numpy", f"{_HERE}.numpy_im2col")
# "numba" picks one of the Numba strategies for each layer's shape (numba_conv.fastest_strategy);
# each strategy is also registered under its own name, its module's name.
register("conv2d", "numba", f"{_HERE}.numba_conv", needs=("numba",))
register("conv2d", "numba_im2col", f"{_HERE}.numba_im2col", needs=("numba",))
register("conv2d", "numba_implicit_gemm", f"{_HERE}.numba_implicit_gemm", needs=("numba",))
# END SOLUTION
register("maxpool2d", "reference", f"{_HERE}.reference")
# BEGIN SOLUTION assignment=3 remove
register("maxpool2d", "numpy", f"{_HERE}.numpy_pool")
register("maxpool2d", "numba", f"{_HERE}.numba_pool", needs=("numba",))
# END SOLUTION
register("conv2d_relu_maxpool2d", "reference", f"{_HERE}.reference")
# BEGIN SOLUTION assignment=3 remove
register("conv2d_relu_maxpool2d", "numpy", f"{_HERE}.numpy_im2col")
register("conv2d_relu_maxpool2d", "numba", f"{_HERE}.numba_conv", needs=("numba",))
register("conv2d_relu_maxpool2d", "numba_im2col", f"{_HERE}.numba_im2col", needs=("numba",))
register("conv2d_relu_maxpool2d", "numba_direct", f"{_HERE}.numba_direct", needs=("numba",))
# END SOLUTION
register("matmul", "reference", f"{_HERE}.reference")
register("matmul", "numpy", f"{_HERE}.numpy_blas")
register("matmul", "numba_naive", f"{_HERE}.numba_matmul", needs=("numba",), matmul="matmul_naive")
register("matmul", "numba_ikj", f"{_HERE}.numba_matmul", needs=("numba",), matmul="matmul_ikj")
register("matmul", "numba_blocked", f"{_HERE}.numba_matmul", needs=("numba",), matmul="matmul_blocked")
register("matmul", "numba_simd", f"{_HERE}.numba_matmul", needs=("numba",), matmul="matmul_simd")
register("batchnorm", "numpy", f"{_HERE}.numpy_norm")  # the formulas, line by line (also CuPy)
register("batchnorm", "numba", f"{_HERE}.numba_norm", needs=("numba",))
# BEGIN SOLUTION assignment=3 remove
# (conv3d on a depth-1 volume is a conv2d: assignment 3's hand-out has no 3-D kernels)
register("conv3d", "reference", f"{_HERE}.reference_3d")
register("conv3d", "numpy", f"{_HERE}.numpy_3d")
register("maxpool3d", "reference", f"{_HERE}.reference_3d")
register("maxpool3d", "numpy", f"{_HERE}.numpy_3d")
# END SOLUTION

# Measured on a 2-core CPU (benchmarks/bench.py): BLAS beats every hand-written matmul.
# (One exception, left as a choice: in the article CNN's training step at batch 128, numba_simd
# made the whole step 11.6 → 8.4–9.3 ms, because the Numba conv kernels no longer share the
# cores with OpenBLAS's threads, which keep spinning after each product. But small products
# and dense-only models ran slower with it (an MLP step at batch 128: 1.1 → 2.7 ms), so BLAS
# stays the default: td.kernels.use("matmul", "numba_simd") where it pays.)
_FASTEST_FIRST = {
    "cpu": {
        "conv2d": ("numba", "numpy", "reference"),
        "maxpool2d": ("numba", "numpy", "reference"),
        "conv2d_relu_maxpool2d": ("numba", "numpy", "reference"),
        "matmul": ("numpy", "numba_blocked", "reference"),
        "batchnorm": ("numba", "numpy"),
        # one matrix product per kernel tap (numpy_3d) against loops; no Numba kernel yet
        "conv3d": ("numpy", "reference"),
        "maxpool3d": ("numpy", "reference"),
    }
}

# The GPU kernels: CUDA C in kernels/cuda/*.cu, launched through CuPy (imported on the first launch).
# Their defaults are a first guess, not yet measured on a GPU (issue "Run and tune the GPU path on a
# real GPU"): cuBLAS beats any hand-written matmul, as BLAS does on the CPU, and im2col + cuBLAS is
# expected to beat the untuned implicit-GEMM kernel.
_CUDA = f"{_HERE}.cuda"
# BEGIN SOLUTION assignment=3 remove
for _op in ("conv2d", "conv2d_relu_maxpool2d"):
    register(_op, "cupy_im2col", f"{_CUDA}.conv:im2col", needs=("cupy",), device="cuda")
    register(_op, "cupy_direct", f"{_CUDA}.conv:direct", needs=("cupy",), device="cuda")
register("maxpool2d", "cuda", f"{_CUDA}.pool", needs=("cupy",), device="cuda")
# END SOLUTION
register("matmul", "cublas", f"{_CUDA}.matmul", needs=("cupy",), device="cuda")
for _rung in ("naive", "tiled", "blocked"):
    register("matmul", f"cuda_{_rung}", f"{_CUDA}.matmul", needs=("cupy",), device="cuda", matmul=f"matmul_{_rung}")
register("batchnorm", "cuda", f"{_CUDA}.batchnorm", needs=("cupy",), device="cuda")
register("batchnorm", "cupy", f"{_HERE}.numpy_norm", needs=("cupy",), device="cuda")  # the formulas as CuPy code
# BEGIN SOLUTION assignment=3 remove
register("conv3d", "cupy", f"{_HERE}.numpy_3d", needs=("cupy",), device="cuda")  # xp code: cuBLAS per tap
register("maxpool3d", "cupy", f"{_HERE}.numpy_3d", needs=("cupy",), device="cuda")
# END SOLUTION
_FASTEST_FIRST["cuda"] = {
    "conv2d": ("cupy_im2col", "cupy_direct"),
    "conv2d_relu_maxpool2d": ("cupy_im2col", "cupy_direct"),
    "maxpool2d": ("cuda",),
    "matmul": ("cublas", "cuda_blocked", "cuda_tiled", "cuda_naive"),
    "batchnorm": ("cuda", "cupy"),
    "conv3d": ("cupy",),
    "maxpool3d": ("cupy",),
}
