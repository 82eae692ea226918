// BEGIN SOLUTION assignment=3 remove
// conv.cu — 2-D convolution on the GPU (NCHW), forward and both gradients (read beside numba_conv.py).
//
//   y[n,o,p,q] = b[o] + Σ_{c,i,j} w[o,c,i,j] · x[n, c, p·sh − ph + i, q·sw − pw + j]   (0 outside x)
//
// Two strategies, as on the CPU:
//
// 1. im2col + GEMM ("cupy_im2col"). `im2col` copies every window of x into one column of a matrix
//    cols[(c,i,j)][(n,p,q)] (C·KH·KW rows, N·OH·OW columns); the convolution is then one matrix
//    product W[o][(c,i,j)] · cols, done by cuBLAS. Backward, ∂L/∂cols = Wᵀ · ∂L/∂y and `col2im`
//    adds each column back onto the pixels it came from; ∂L/∂W = ∂L/∂y · colsᵀ. Simple and fast,
//    at the cost of a cols matrix KH·KW times the size of x.
//
// 2. implicit GEMM ("cupy_direct"). The same three matrix products, but the kernel never builds
//    cols: when a block loads its tile of the "matrix" into shared memory, each number is read
//    straight from x (or ∂L/∂y) through the index map that im2col would have used. One tiled GEMM
//    (below: `implicit_gemm`) serves all three, each with its own map:
//
//      product            rows (M)   columns (N)   depth (K)    A[m][k]              B[k][col]
//      forward            o          (n,p,q)       (c,i,j)      w[o][c,i,j]          x at (n,c, p·sh−ph+i, q·sw−pw+j)
//      input gradient     c          (n,h,w)       (o,i,j)      w[o][c,i,j]          ∂L/∂y[n,o,p,q] where h = p·sh−ph+i, w = q·sw−pw+j
//      weight gradient    o          (c,i,j)       (n,p,q)      ∂L/∂y[n,o,p,q]       x at (n,c, p·sh−ph+i, q·sw−pw+j)
//
//    The weight gradient has a tiny output (O × C·KH·KW, e.g. 64 × 288) and a huge depth
//    (N·OH·OW, e.g. 512·13·13): one block per output tile would leave most of the GPU idle, so
//    the depth is split over blockIdx.z ("split-K") into partial sums that the launcher adds up.
//
// The GEMM tile: a 256-thread block computes a 64×64 tile of the product, each thread a 4×4
// piece in registers, walking the depth 16 at a time through shared memory. Smaller than the
// matmul's 128×128 because convolution products are narrow (M = 32 or 64 filters) and because
// the gathered loads (index arithmetic per number) cost more than a plain row load.
//
// Indices are 32-bit ints: the launcher refuses arrays of 2³¹ elements or more.

constexpr int IM2COL_THREADS = 256;  // im2col / col2im: threads per block, one element each
constexpr int GEMM_BM = 64;          // implicit GEMM: rows of the product per block
constexpr int GEMM_BN = 64;          // columns per block
constexpr int GEMM_BK = 16;          // depth of a shared-memory tile
constexpr int GEMM_TM = 4;           // rows per thread
constexpr int GEMM_TN = 4;           // columns per thread
constexpr int GEMM_THREADS = (GEMM_BM / GEMM_TM) * (GEMM_BN / GEMM_TN);  // 256
static_assert(GEMM_THREADS <= 1024 && IM2COL_THREADS <= 1024, "a CUDA block has at most 1024 threads");

struct ConvShape {
    int N, C, H, W;      // input x (N, C, H, W)
    int O, KH, KW;       // weight w (O, C, KH, KW)
    int OH, OW;          // output y (N, O, OH, OW)
    int sh, sw, ph, pw;  // stride and padding
};

// x[n, c, h, w] of the zero-padded image: 0 where (h, w) falls in the padding.
template <typename T>
__device__ __forceinline__ T padded(const ConvShape& s, const T* __restrict__ x, int n, int c, int h, int w) {
    return (h >= 0 && h < s.H && w >= 0 && w < s.W) ? x[((n * s.C + c) * s.H + h) * s.W + w] : T(0);
}

// ------------------------------------------------------------------ im2col and col2im
template <typename T>
__device__ void im2col(const ConvShape s, const T* __restrict__ x, T* __restrict__ cols) {
    // One thread per element of cols (C·KH·KW rows × N·OH·OW columns), grid-stride: thread t
    // handles t, t + (all threads), … so any grid covers any size. Neighbouring threads write
    // neighbouring columns (coalesced stores) and read pixels sw apart.
    const int columns = s.N * s.OH * s.OW, total = s.C * s.KH * s.KW * columns;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
        int row = e / columns, col = e % columns;
        int c = row / (s.KH * s.KW), i = (row / s.KW) % s.KH, j = row % s.KW;
        int n = col / (s.OH * s.OW), p = (col / s.OW) % s.OH, q = col % s.OW;
        cols[e] = padded(s, x, n, c, p * s.sh - s.ph + i, q * s.sw - s.pw + j);
    }
}

template <typename T>
__device__ void col2im(const ConvShape s, const T* __restrict__ grad_cols, T* __restrict__ grad_x) {
    // One thread per input pixel (n, c, h, w), which sums the entries of grad_cols that were
    // copied from it: every window (p, q) and tap (i, j) with p·sh − ph + i = h and
    // q·sw − pw + j = w. Gathering (rather than each column adding itself onto its pixels)
    // means no two threads write the same number: no atomics, and the same sum in the same
    // order on every run.
    const int columns = s.N * s.OH * s.OW, total = s.N * s.C * s.H * s.W;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
        int n = e / (s.C * s.H * s.W), c = (e / (s.H * s.W)) % s.C, h = (e / s.W) % s.H, w = e % s.W;
        T sum = 0;
        for (int i = 0; i < s.KH; ++i) {
            int hp = h + s.ph - i;  // = p·sh for the window p that put tap i on row h
            if (hp < 0 || hp % s.sh != 0 || hp / s.sh >= s.OH) continue;
            for (int j = 0; j < s.KW; ++j) {
                int wq = w + s.pw - j;
                if (wq < 0 || wq % s.sw != 0 || wq / s.sw >= s.OW) continue;
                int row = (c * s.KH + i) * s.KW + j, col = (n * s.OH + hp / s.sh) * s.OW + wq / s.sw;
                sum += grad_cols[row * columns + col];
            }
        }
        grad_x[e] = sum;
    }
}

// ------------------------------------------------------------------ the three index maps
struct ForwardMap {  // y = W · cols(x)
    __device__ static int rows(const ConvShape& s) { return s.O; }
    __device__ static int columns(const ConvShape& s) { return s.N * s.OH * s.OW; }
    __device__ static int depth(const ConvShape& s) { return s.C * s.KH * s.KW; }
    template <typename T>
    __device__ static T a(const ConvShape& s, const T* __restrict__ w, int o, int k) {
        return w[o * (s.C * s.KH * s.KW) + k];
    }
    template <typename T>
    __device__ static T b(const ConvShape& s, const T* __restrict__ x, int k, int col) {
        int c = k / (s.KH * s.KW), i = (k / s.KW) % s.KH, j = k % s.KW;
        int n = col / (s.OH * s.OW), p = (col / s.OW) % s.OH, q = col % s.OW;
        return padded(s, x, n, c, p * s.sh - s.ph + i, q * s.sw - s.pw + j);
    }
    template <typename T>  // y[n, o, p, q] = value + b[o]
    __device__ static void store(const ConvShape& s, T* __restrict__ y, const T* __restrict__ bias, int o, int col,
                                 T value) {
        int n = col / (s.OH * s.OW), pq = col % (s.OH * s.OW);
        y[(n * s.O + o) * (s.OH * s.OW) + pq] = bias ? value + bias[o] : value;
    }
};

struct InputGradMap {  // ∂L/∂x = Wᵀ · ∂L/∂y, gathered back onto the pixels
    __device__ static int rows(const ConvShape& s) { return s.C; }
    __device__ static int columns(const ConvShape& s) { return s.N * s.H * s.W; }
    __device__ static int depth(const ConvShape& s) { return s.O * s.KH * s.KW; }
    template <typename T>
    __device__ static T a(const ConvShape& s, const T* __restrict__ w, int c, int k) {
        int o = k / (s.KH * s.KW), tap = k % (s.KH * s.KW);
        return w[(o * s.C + c) * (s.KH * s.KW) + tap];
    }
    template <typename T>
    __device__ static T b(const ConvShape& s, const T* __restrict__ grad_y, int k, int col) {
        int o = k / (s.KH * s.KW), i = (k / s.KW) % s.KH, j = k % s.KW;
        int n = col / (s.H * s.W), h = (col / s.W) % s.H, w = col % s.W;
        int hp = h + s.ph - i, wq = w + s.pw - j;  // p·sh and q·sw of the output that read (h, w) through tap (i, j)
        if (hp < 0 || wq < 0 || hp % s.sh != 0 || wq % s.sw != 0) return T(0);
        int p = hp / s.sh, q = wq / s.sw;
        if (p >= s.OH || q >= s.OW) return T(0);
        return grad_y[((n * s.O + o) * s.OH + p) * s.OW + q];
    }
    template <typename T>
    __device__ static void store(const ConvShape& s, T* __restrict__ grad_x, const T* __restrict__, int c, int col,
                                 T value) {
        int n = col / (s.H * s.W), hw = col % (s.H * s.W);
        grad_x[(n * s.C + c) * (s.H * s.W) + hw] = value;
    }
};

struct WeightGradMap {  // ∂L/∂W = ∂L/∂y · cols(x)ᵀ, one partial sum per slice of the depth (blockIdx.z)
    __device__ static int rows(const ConvShape& s) { return s.O; }
    __device__ static int columns(const ConvShape& s) { return s.C * s.KH * s.KW; }
    __device__ static int depth(const ConvShape& s) { return s.N * s.OH * s.OW; }
    template <typename T>
    __device__ static T a(const ConvShape& s, const T* __restrict__ grad_y, int o, int k) {
        int n = k / (s.OH * s.OW), pq = k % (s.OH * s.OW);
        return grad_y[(n * s.O + o) * (s.OH * s.OW) + pq];
    }
    template <typename T>
    __device__ static T b(const ConvShape& s, const T* __restrict__ x, int k, int col) {
        return ForwardMap::b(s, x, col, k);  // the same window element as the forward pass, transposed
    }
    template <typename T>  // partial[z][o][(c,i,j)]
    __device__ static void store(const ConvShape& s, T* __restrict__ partial, const T* __restrict__, int o, int col,
                                 T value) {
        partial[(blockIdx.z * s.O + o) * columns(s) + col] = value;
    }
};

// ------------------------------------------------------------------ the tiled implicit GEMM
template <typename T, typename Map>
__device__ void implicit_gemm(const ConvShape s, const T* __restrict__ a_source, const T* __restrict__ b_source,
                              T* __restrict__ out, const T* __restrict__ bias, int depth_per_split) {
    __shared__ T As[GEMM_BK][GEMM_BM];  // A tile, transposed (As[k][m]) so a thread's 4 rows are side by side
    __shared__ T Bs[GEMM_BK][GEMM_BN];
    const int M = Map::rows(s), N = Map::columns(s), K = Map::depth(s);
    const int tid = threadIdx.x;
    const int thread_row = tid / (GEMM_BN / GEMM_TN), thread_col = tid % (GEMM_BN / GEMM_TN);
    const int block_row = blockIdx.y * GEMM_BM, block_col = blockIdx.x * GEMM_BN;
    const int k_begin = blockIdx.z * depth_per_split;
    const int k_end = min(K, k_begin + depth_per_split);

    T acc[GEMM_TM][GEMM_TN];
    for (int i = 0; i < GEMM_TM; ++i)
        for (int j = 0; j < GEMM_TN; ++j) acc[i][j] = 0;

    for (int k0 = k_begin; k0 < k_end; k0 += GEMM_BK) {
        // Each tile is 64 × 16 = 1024 numbers: 4 per thread. For A, consecutive threads take
        // consecutive k (one filter's weights, or one image's ∂L/∂y, side by side in memory);
        // for B, consecutive columns (neighbouring output or input pixels).
        for (int e = tid; e < GEMM_BM * GEMM_BK; e += GEMM_THREADS) {
            int m = e / GEMM_BK, kk = e % GEMM_BK, row = block_row + m, k = k0 + kk;
            As[kk][m] = (row < M && k < k_end) ? Map::a(s, a_source, row, k) : T(0);
        }
        for (int e = tid; e < GEMM_BK * GEMM_BN; e += GEMM_THREADS) {
            int kk = e / GEMM_BN, c = e % GEMM_BN, col = block_col + c, k = k0 + kk;
            Bs[kk][c] = (col < N && k < k_end) ? Map::b(s, b_source, k, col) : T(0);
        }
        __syncthreads();
        for (int k = 0; k < GEMM_BK; ++k) {
            T a_frag[GEMM_TM], b_frag[GEMM_TN];
            for (int i = 0; i < GEMM_TM; ++i) a_frag[i] = As[k][thread_row * GEMM_TM + i];
            for (int j = 0; j < GEMM_TN; ++j) b_frag[j] = Bs[k][thread_col * GEMM_TN + j];
            for (int i = 0; i < GEMM_TM; ++i)
                for (int j = 0; j < GEMM_TN; ++j) acc[i][j] += a_frag[i] * b_frag[j];
        }
        __syncthreads();
    }
    for (int i = 0; i < GEMM_TM; ++i) {
        int row = block_row + thread_row * GEMM_TM + i;
        if (row >= M) break;
        for (int j = 0; j < GEMM_TN; ++j) {
            int col = block_col + thread_col * GEMM_TN + j;
            if (col < N) Map::store(s, out, bias, row, col, acc[i][j]);
        }
    }
}

// ------------------------------------------------------------------ entry points (float and double)
// Every kernel takes the 13 sizes of ConvShape, in its order.
extern "C" __global__ void im2col_f32(const float* __restrict__ x, float* __restrict__ cols, int N, int C, int H,
                                      int W, int O, int KH, int KW, int OH, int OW, int sh, int sw, int ph, int pw) {
    im2col<float>(ConvShape{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw}, x, cols);
}
extern "C" __global__ void im2col_f64(const double* __restrict__ x, double* __restrict__ cols, int N, int C, int H,
                                      int W, int O, int KH, int KW, int OH, int OW, int sh, int sw, int ph, int pw) {
    im2col<double>(ConvShape{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw}, x, cols);
}
extern "C" __global__ void col2im_f32(const float* __restrict__ grad_cols, float* __restrict__ grad_x, int N, int C,
                                      int H, int W, int O, int KH, int KW, int OH, int OW, int sh, int sw, int ph,
                                      int pw) {
    col2im<float>(ConvShape{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw}, grad_cols, grad_x);
}
extern "C" __global__ void col2im_f64(const double* __restrict__ grad_cols, double* __restrict__ grad_x, int N, int C,
                                      int H, int W, int O, int KH, int KW, int OH, int OW, int sh, int sw, int ph,
                                      int pw) {
    col2im<double>(ConvShape{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw}, grad_cols, grad_x);
}

// has_bias = 0: no bias is added (bias may then be any array; it is not read).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv_forward_f32(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                 float* __restrict__ y, int has_bias, int N, int C, int H, int W, int O, int KH, int KW, int OH,
                 int OW, int sh, int sw, int ph, int pw) {
    ConvShape s{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw};
    implicit_gemm<float, ForwardMap>(s, w, x, y, has_bias ? bias : nullptr, ForwardMap::depth(s));
}
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv_forward_f64(const double* __restrict__ x, const double* __restrict__ w, const double* __restrict__ bias,
                 double* __restrict__ y, int has_bias, int N, int C, int H, int W, int O, int KH, int KW, int OH,
                 int OW, int sh, int sw, int ph, int pw) {
    ConvShape s{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw};
    implicit_gemm<double, ForwardMap>(s, w, x, y, has_bias ? bias : nullptr, ForwardMap::depth(s));
}
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv_backward_input_f32(const float* __restrict__ grad_y, const float* __restrict__ w, float* __restrict__ grad_x,
                        int N, int C, int H, int W, int O, int KH, int KW, int OH, int OW, int sh, int sw, int ph,
                        int pw) {
    ConvShape s{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw};
    implicit_gemm<float, InputGradMap>(s, w, grad_y, grad_x, nullptr, InputGradMap::depth(s));
}
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv_backward_input_f64(const double* __restrict__ grad_y, const double* __restrict__ w, double* __restrict__ grad_x,
                        int N, int C, int H, int W, int O, int KH, int KW, int OH, int OW, int sh, int sw, int ph,
                        int pw) {
    ConvShape s{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw};
    implicit_gemm<double, InputGradMap>(s, w, grad_y, grad_x, nullptr, InputGradMap::depth(s));
}
// partial: (gridDim.z, O, C·KH·KW); slice z sums the depth range [z·depth_per_split, (z+1)·depth_per_split).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv_backward_weight_f32(const float* __restrict__ grad_y, const float* __restrict__ x, float* __restrict__ partial,
                         int depth_per_split, int N, int C, int H, int W, int O, int KH, int KW, int OH, int OW,
                         int sh, int sw, int ph, int pw) {
    ConvShape s{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw};
    implicit_gemm<float, WeightGradMap>(s, grad_y, x, partial, nullptr, depth_per_split);
}
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv_backward_weight_f64(const double* __restrict__ grad_y, const double* __restrict__ x, double* __restrict__ partial,
                         int depth_per_split, int N, int C, int H, int W, int O, int KH, int KW, int OH, int OW,
                         int sh, int sw, int ph, int pw) {
    ConvShape s{N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw};
    implicit_gemm<double, WeightGradMap>(s, grad_y, x, partial, nullptr, depth_per_split);
}
// END SOLUTION
