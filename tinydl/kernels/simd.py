"""A tiny SIMD vector type for Numba kernels: what a BLAS micro-kernel is made of.

A CPU core does its arithmetic fastest on *vectors*: one AVX-512 instruction
multiplies and adds 16 float32 numbers at once (a fused multiply-add, FMA),
and a core can start two of them per clock cycle. A matrix product reaches
that rate only if its inner loop keeps a small tile of the output in vector
*registers* for a long time, and per step loads a few numbers and does many
FMAs with them — the "outer-product micro-kernel" at the heart of every BLAS:

    for k in range(depth):                 # C[8 × 32] += A[:, k] ⊗ B[k, :]
        b0, b1 = B[k, 0:16], B[k, 16:32]                   # 2 vector loads
        for m in range(8):
            a = broadcast(A[m, k])                         # 1 number, 16 times
            c[m][0] = fma(a, b0, c[m][0])                  # 16 multiply-adds
            c[m][1] = fma(a, b1, c[m][1])

Written with scalar NumPy-style loops, Numba (LLVM) will not keep such a tile
in registers: it vectorises the wrong loop or spills the tile to memory
(measured: 7–14 GFLOP/s on one core, against ~210 for the loop above). So this
module gives Numba six operations on a vector type that LLVM maps straight
onto vector registers, and the kernels spell the tile out with one named
variable per register (``numba_matmul.outer_product_tile`` is an example):

    vzeros(like)        a vector of zeros, of ``like``'s dtype
    vsplat(x)           (x, x, …, x)
    vbroadcast(a, i)    (a[i], a[i], …, a[i])    (the same, straight from memory)
    vload(a, i)         a[i : i + LANES]         (a 1-D C-contiguous array)
    vstore(a, i, v)     a[i : i + LANES] = v
    vfma(a, b, c)       a·b + c, lane by lane, as one rounding (fused)

LANES = VECTOR_BYTES / itemsize: 16 float32 or 8 float64 numbers on a CPU with
AVX-512 (64-byte registers), half that with AVX2. ``vload``/``vstore`` do not
check bounds in compiled code (they are as raw as the hardware's loads): the
kernels size their buffers so that every access is inside. With
``NUMBA_DISABLE_JIT=1`` the same names are plain NumPy functions (small arrays
standing for registers, with bounds checks), so the kernels still run, slowly,
under pdb.
"""

import numpy as np


def _host_vector_bytes():
    """64 with AVX-512 (tinydl asks LLVM for 512-bit vectors there, see _numba), else 32 (AVX2).

    Compiled kernels bake this number in, and Numba's on-disk cache tells kernels apart by CPU
    name and features, not by it: so it follows the CPU's features only, with no override.
    (Checked on the AVX-512 machine by compiling for NUMBA_CPU_NAME=haswell with 32 here: same
    results, ~155 GFLOP/s on 2 cores for the 64→64 conv, against ~300 with AVX-512.)
    """
    try:
        import llvmlite.binding as llvm

        return 64 if llvm.get_host_cpu_features().get("avx512f") else 32
    except Exception:  # no llvmlite: only the pure-Python fallbacks below are ever used
        return 32


VECTOR_BYTES = _host_vector_bytes()


def lanes(dtype):
    """How many numbers of ``dtype`` one vector register holds."""
    return VECTOR_BYTES // np.dtype(dtype).itemsize


# ------------------------------------------------------------------ the operations, in plain NumPy
# These are what the operations mean, and what runs with NUMBA_DISABLE_JIT=1.
def _check_float(name, dtype):
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: vectors hold float32 or float64 numbers, got {dtype}")


def _check_array(name, a):
    _check_float(name, a.dtype)
    if a.ndim != 1 or not a.flags.c_contiguous:
        raise TypeError(f"{name}: needs a 1-D C-contiguous array, got shape {a.shape} (strides {a.strides})")


def vzeros(like):
    _check_float("vzeros", like.dtype)
    return np.zeros(lanes(like.dtype), dtype=like.dtype)


def vsplat(x):
    x = np.asarray(x)
    _check_float("vsplat", x.dtype)
    return np.full(lanes(x.dtype), x, dtype=x.dtype)


def vbroadcast(a, i):
    _check_array("vbroadcast", a)
    if not 0 <= i < a.shape[0]:
        raise IndexError(f"vbroadcast: a[{i}] is outside an array of shape {a.shape}")
    return vsplat(a[i])


def vload(a, i):
    _check_array("vload", a)
    n = lanes(a.dtype)
    if not 0 <= i <= a.shape[0] - n:
        raise IndexError(f"vload: a[{i}:{i + n}] is outside an array of shape {a.shape}")
    return a[i : i + n].copy()


def vstore(a, i, v):
    _check_array("vstore", a)
    n = lanes(a.dtype)
    if not 0 <= i <= a.shape[0] - n:
        raise IndexError(f"vstore: a[{i}:{i + n}] is outside an array of shape {a.shape}")
    a[i : i + n] = v


def vfma(a, b, c):
    return a * b + c


# ------------------------------------------------------------------ the same operations for Numba
def _register_numba():
    """Teach Numba the vector type and the six operations (LLVM IR, a few lines each)."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.core.errors import TypingError
    from numba.extending import intrinsic, models, overload, register_model

    class SimdVector(types.Type):
        """LANES numbers of one float dtype, held in one vector register (LLVM ``<LANES x float>``)."""

        def __init__(self, dtype):
            self.dtype, self.lanes = dtype, VECTOR_BYTES * 8 // dtype.bitwidth
            super().__init__(name=f"SimdVector({dtype} x {self.lanes})")

    @register_model(SimdVector)
    class _VectorModel(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            element = dmm.lookup(fe_type.dtype).get_value_type()
            super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))

    def check_array(name, a):
        if not (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and isinstance(a.dtype, types.Float)):
            raise TypingError(f"{name}: needs a 1-D C-contiguous float32/float64 array, got {a}")

    def vector_pointer(context, builder, array_type, array, index, vector_type):
        data = context.make_array(array_type)(context, builder, array).data
        return builder.bitcast(builder.gep(data, [index]), context.get_value_type(vector_type).as_pointer())

    def splat(context, builder, vector, x):
        ll_vector = context.get_value_type(vector)
        one = builder.insert_element(ir.Constant(ll_vector, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
        all_zero_indices = ir.Constant(ir.VectorType(ir.IntType(32), vector.lanes), [0] * vector.lanes)
        return builder.shuffle_vector(one, ir.Constant(ll_vector, ir.Undefined), all_zero_indices)

    @intrinsic
    def _vzeros(typingctx, like):
        if not isinstance(getattr(like, "dtype", None), types.Float):
            raise TypingError(f"vzeros: needs a float32/float64 array to take the dtype from, got {like}")
        vector = SimdVector(like.dtype)

        def codegen(context, builder, signature, args):
            return ir.Constant(context.get_value_type(vector), None)

        return vector(like), codegen

    @intrinsic
    def _vsplat(typingctx, x):
        if not isinstance(x, types.Float):
            raise TypingError(f"vsplat: needs a float32/float64 number, got {x}")
        vector = SimdVector(x)

        def codegen(context, builder, signature, args):
            return splat(context, builder, vector, args[0])

        return vector(x), codegen

    @intrinsic
    def _vbroadcast(typingctx, a, i):
        check_array("vbroadcast", a)
        vector = SimdVector(a.dtype)

        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            x = builder.load(builder.gep(data, [args[1]]))  # no bounds check, no negative-index wrap
            return splat(context, builder, vector, x)

        return vector(a, types.intp), codegen

    @intrinsic
    def _vload(typingctx, a, i):
        check_array("vload", a)
        vector = SimdVector(a.dtype)

        def codegen(context, builder, signature, args):
            pointer = vector_pointer(context, builder, signature.args[0], args[0], args[1], vector)
            return builder.load(pointer, align=a.dtype.bitwidth // 8)  # unaligned: any element may start it

        return vector(a, types.intp), codegen

    @intrinsic
    def _vstore(typingctx, a, i, v):
        check_array("vstore", a)
        if not (isinstance(v, SimdVector) and v.dtype == a.dtype):
            raise TypingError(f"vstore: needs a vector of {a.dtype} numbers, got {v}")

        def codegen(context, builder, signature, args):
            pointer = vector_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[2])
            builder.store(args[2], pointer, align=a.dtype.bitwidth // 8)
            return context.get_dummy_value()

        return types.none(a, types.intp, v), codegen

    @intrinsic
    def _vfma(typingctx, a, b, c):
        if not (isinstance(a, SimdVector) and a == b == c):
            raise TypingError(f"vfma: needs three vectors of one dtype, got {a}, {b}, {c}")

        def codegen(context, builder, signature, args):
            ll_vector = context.get_value_type(a)
            name = "llvm.fma.v%df%d" % (a.lanes, a.dtype.bitwidth)
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ll_vector, [ll_vector] * 3), name)
            return builder.call(fma, args)

        return a(a, b, c), codegen

    # Inside compiled code, the public names above are these intrinsics.
    @overload(vzeros, inline="always")
    def _vzeros_numba(like):
        return lambda like: _vzeros(like)

    @overload(vsplat, inline="always")
    def _vsplat_numba(x):
        return lambda x: _vsplat(x)

    @overload(vbroadcast, inline="always")
    def _vbroadcast_numba(a, i):
        return lambda a, i: _vbroadcast(a, i)

    @overload(vload, inline="always")
    def _vload_numba(a, i):
        return lambda a, i: _vload(a, i)

    @overload(vstore, inline="always")
    def _vstore_numba(a, i, v):
        return lambda a, i, v: _vstore(a, i, v)

    @overload(vfma, inline="always")
    def _vfma_numba(a, b, c):
        return lambda a, b, c: _vfma(a, b, c)


try:
    from . import _numba  # noqa: F401  (first: it sets Numba's threading layer and CPU features)
except ImportError:  # pragma: no cover - numba is a dependency; the NumPy versions still work
    pass
else:
    _register_numba()
