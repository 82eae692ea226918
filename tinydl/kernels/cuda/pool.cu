// BEGIN SOLUTION assignment=3 remove
// pool.cu — max- and average-pooling on the GPU (NCHW, no padding), forward and backward.
//
//   max:  y[n,c,p,q] = max_{i<KH, j<KW} x[n, c, p·sh + i, q·sw + j],  argmax[n,c,p,q] = i·KW + j of the winner
//   avg:  y[n,c,p,q] = (1 / (KH·KW)) Σ_{i,j} x[n, c, p·sh + i, q·sw + j]
//
// The argmax convention is the CPU kernels': the flat position inside the window, and the first
// maximum wins a tie (a later number must be strictly larger to take over). NaN wins, as in
// PyTorch: a NaN anywhere in the window makes the output NaN, and the gradient goes to the last
// NaN of the window (a NaN always takes over: v != v). Compile without fast-math flags that
// assume no NaN (NVRTC's --use_fast_math does not; a host compiler's -ffast-math would).
//
// Forward: one thread per output, reading its window. Backward: one thread per INPUT pixel,
// which sums the gradients of the windows that contain it (and, for max, that it won). With
// stride < kernel the windows overlap, and a thread per output would have to add into shared
// pixels (atomics, and a sum whose order changes from run to run); gathering writes each
// number once. All loops are grid-stride: any grid covers any size.

constexpr int POOL_THREADS = 256;  // threads per block
static_assert(POOL_THREADS <= 1024, "a CUDA block has at most 1024 threads");

struct PoolShape {
    int N, C, H, W;  // input
    int KH, KW, sh, sw;
    int OH, OW;      // output
};

// The windows (p, q) that contain row h / column w: p·sh ≤ h < p·sh + KH, i.e. p from
// ⌈(h − KH + 1) / sh⌉ (at least 0) to ⌊h / sh⌋ (at most OH − 1).
__device__ __forceinline__ int first_window(int h, int kernel, int stride) {
    int over = h - kernel + 1;
    return over <= 0 ? 0 : (over + stride - 1) / stride;
}
__device__ __forceinline__ int last_window(int h, int stride, int outputs) { return min(h / stride, outputs - 1); }

template <typename T>
__device__ void maxpool_forward(const PoolShape s, const T* __restrict__ x, T* __restrict__ y, int* __restrict__ argmax) {
    const int total = s.N * s.C * s.OH * s.OW;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
        int nc = e / (s.OH * s.OW), p = (e / s.OW) % s.OH, q = e % s.OW;
        const T* window = x + (nc * s.H + p * s.sh) * s.W + q * s.sw;
        T best = window[0];
        int where = 0;
        for (int i = 0; i < s.KH; ++i)
            for (int j = 0; j < s.KW; ++j) {
                T v = window[i * s.W + j];
                // strictly larger: the first maximum stays; a NaN always takes over (NaN > best is false)
                if (v > best || v != v) { best = v; where = i * s.KW + j; }
            }
        y[e] = best;
        argmax[e] = where;
    }
}

template <typename T>
__device__ void maxpool_backward(const PoolShape s, const T* __restrict__ grad_y, const int* __restrict__ argmax,
                                 T* __restrict__ grad_x) {
    const int total = s.N * s.C * s.H * s.W;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
        int nc = e / (s.H * s.W), h = (e / s.W) % s.H, w = e % s.W;
        T sum = 0;
        for (int p = first_window(h, s.KH, s.sh); p <= last_window(h, s.sh, s.OH); ++p)
            for (int q = first_window(w, s.KW, s.sw); q <= last_window(w, s.sw, s.OW); ++q) {
                int out = (nc * s.OH + p) * s.OW + q;
                if (argmax[out] == (h - p * s.sh) * s.KW + (w - q * s.sw)) sum += grad_y[out];  // this pixel won window (p, q)
            }
        grad_x[e] = sum;
    }
}

template <typename T>
__device__ void avgpool_forward(const PoolShape s, const T* __restrict__ x, T* __restrict__ y) {
    const int total = s.N * s.C * s.OH * s.OW;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
        int nc = e / (s.OH * s.OW), p = (e / s.OW) % s.OH, q = e % s.OW;
        const T* window = x + (nc * s.H + p * s.sh) * s.W + q * s.sw;
        T sum = 0;
        for (int i = 0; i < s.KH; ++i)
            for (int j = 0; j < s.KW; ++j) sum += window[i * s.W + j];
        y[e] = sum / T(s.KH * s.KW);
    }
}

template <typename T>
__device__ void avgpool_backward(const PoolShape s, const T* __restrict__ grad_y, T* __restrict__ grad_x) {
    const int total = s.N * s.C * s.H * s.W;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
        int nc = e / (s.H * s.W), h = (e / s.W) % s.H, w = e % s.W;
        T sum = 0;
        for (int p = first_window(h, s.KH, s.sh); p <= last_window(h, s.sh, s.OH); ++p)
            for (int q = first_window(w, s.KW, s.sw); q <= last_window(w, s.sw, s.OW); ++q)
                sum += grad_y[(nc * s.OH + p) * s.OW + q];
        grad_x[e] = sum / T(s.KH * s.KW);
    }
}

// ------------------------------------------------------------------ entry points (float and double)
// Every kernel takes the 10 sizes of PoolShape, in its order.
extern "C" __global__ void maxpool_forward_f32(const float* __restrict__ x, float* __restrict__ y,
                                               int* __restrict__ argmax, int N, int C, int H, int W, int KH, int KW,
                                               int sh, int sw, int OH, int OW) {
    maxpool_forward<float>(PoolShape{N, C, H, W, KH, KW, sh, sw, OH, OW}, x, y, argmax);
}
extern "C" __global__ void maxpool_forward_f64(const double* __restrict__ x, double* __restrict__ y,
                                               int* __restrict__ argmax, int N, int C, int H, int W, int KH, int KW,
                                               int sh, int sw, int OH, int OW) {
    maxpool_forward<double>(PoolShape{N, C, H, W, KH, KW, sh, sw, OH, OW}, x, y, argmax);
}
extern "C" __global__ void maxpool_backward_f32(const float* __restrict__ grad_y, const int* __restrict__ argmax,
                                                float* __restrict__ grad_x, int N, int C, int H, int W, int KH, int KW,
                                                int sh, int sw, int OH, int OW) {
    maxpool_backward<float>(PoolShape{N, C, H, W, KH, KW, sh, sw, OH, OW}, grad_y, argmax, grad_x);
}
extern "C" __global__ void maxpool_backward_f64(const double* __restrict__ grad_y, const int* __restrict__ argmax,
                                                double* __restrict__ grad_x, int N, int C, int H, int W, int KH,
                                                int KW, int sh, int sw, int OH, int OW) {
    maxpool_backward<double>(PoolShape{N, C, H, W, KH, KW, sh, sw, OH, OW}, grad_y, argmax, grad_x);
}
extern "C" __global__ void avgpool_forward_f32(const float* __restrict__ x, float* __restrict__ y, int N, int C, int H,
                                               int W, int KH, int KW, int sh, int sw, int OH, int OW) {
    avgpool_forward<float>(PoolShape{N, C, H, W, KH, KW, sh, sw, OH, OW}, x, y);
}
extern "C" __global__ void avgpool_forward_f64(const double* __restrict__ x, double* __restrict__ y, int N, int C,
                                               int H, int W, int KH, int KW, int sh, int sw, int OH, int OW) {
    avgpool_forward<double>(PoolShape{N, C, H, W, KH, KW, sh, sw, OH, OW}, x, y);
}
extern "C" __global__ void avgpool_backward_f32(const float* __restrict__ grad_y, float* __restrict__ grad_x, int N,
                                                int C, int H, int W, int KH, int KW, int sh, int sw, int OH, int OW) {
    avgpool_backward<float>(PoolShape{N, C, H, W, KH, KW, sh, sw, OH, OW}, grad_y, grad_x);
}
extern "C" __global__ void avgpool_backward_f64(const double* __restrict__ grad_y, double* __restrict__ grad_x, int N,
                                                int C, int H, int W, int KH, int KW, int sh, int sw, int OH, int OW) {
    avgpool_backward<double>(PoolShape{N, C, H, W, KH, KW, sh, sw, OH, OW}, grad_y, grad_x);
}
// END SOLUTION
