// batchnorm.cu — batch normalisation in training mode on the GPU (read beside numba_norm.py).
//
// x is seen as (N, C, S) with S = H·W (1 for an (N, C) input); every channel c is normalised
// over its n = N·S numbers:
//   forward:  μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β
//   backward: ∂L/∂β = Σ g,  ∂L/∂γ = Σ g·x̂,  ∂L/∂x = (γ/σ)·(g − mean(g) − x̂·mean(g·x̂))
// (see tinydl.ops.normalization.BatchNorm for where these come from).
//
// One block per channel: the block's 256 threads each add up every 256th number of the channel,
// then combine their 256 partial sums in shared memory in a tree (128 + 128, 64 + 64, …: log₂ 256
// = 8 steps with a barrier between them). Sums are kept in double, as the CPU kernel does, so
// the result does not depend on the order of the additions beyond rounding. Channels are
// independent, so blocks never write the same place.

constexpr int BN_THREADS = 256;  // threads per block (a power of two, for the tree)
static_assert(BN_THREADS <= 1024 && (BN_THREADS & (BN_THREADS - 1)) == 0, "a power of two, at most 1024");

// The sum over the block of every thread's `value` (returned to all threads). `scratch` is the
// caller's __shared__ array of BN_THREADS doubles.
__device__ double block_sum(double value, double* scratch) {
    const int t = threadIdx.x;
    scratch[t] = value;
    __syncthreads();
    for (int half = BN_THREADS / 2; half > 0; half /= 2) {
        if (t < half) scratch[t] += scratch[t + half];
        __syncthreads();
    }
    double total = scratch[0];
    __syncthreads();  // everyone has read the total before scratch is used again
    return total;
}

template <typename T>
__device__ void batchnorm_forward(const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias,
                                  T* __restrict__ y, T* __restrict__ x_hat, T* __restrict__ mean,
                                  T* __restrict__ var, T* __restrict__ inv_std, int N, int C, int S, double eps) {
    __shared__ double scratch[BN_THREADS];
    const int c = blockIdx.x, count = N * S;
    // element e = (n, s) of channel c lives at (n·C + c)·S + s
    double total = 0;
    for (int e = threadIdx.x; e < count; e += BN_THREADS) total += x[(e / S * C + c) * S + e % S];
    const double mu = block_sum(total, scratch) / count;
    double squares = 0;
    for (int e = threadIdx.x; e < count; e += BN_THREADS) {
        double d = x[(e / S * C + c) * S + e % S] - mu;
        squares += d * d;
    }
    const double sigma2 = block_sum(squares, scratch) / count;  // biased (the running variance uses n − 1)
    const double r = 1.0 / sqrt(sigma2 + eps);
    for (int e = threadIdx.x; e < count; e += BN_THREADS) {
        int at = (e / S * C + c) * S + e % S;
        double normalised = (x[at] - mu) * r;
        x_hat[at] = T(normalised);
        y[at] = T(normalised * weight[c] + bias[c]);
    }
    if (threadIdx.x == 0) { mean[c] = T(mu); var[c] = T(sigma2); inv_std[c] = T(r); }
}

template <typename T>
__device__ void batchnorm_backward(const T* __restrict__ grad, const T* __restrict__ x_hat,
                                   const T* __restrict__ inv_std, const T* __restrict__ weight,
                                   T* __restrict__ grad_x, T* __restrict__ grad_weight, T* __restrict__ grad_bias,
                                   int N, int C, int S, int need_x) {
    __shared__ double scratch[BN_THREADS];
    const int c = blockIdx.x, count = N * S;
    double g_part = 0, gx_part = 0;
    for (int e = threadIdx.x; e < count; e += BN_THREADS) {
        int at = (e / S * C + c) * S + e % S;
        g_part += grad[at];
        gx_part += double(grad[at]) * x_hat[at];
    }
    const double g_sum = block_sum(g_part, scratch);
    const double gx_sum = block_sum(gx_part, scratch);
    if (threadIdx.x == 0) { grad_bias[c] = T(g_sum); grad_weight[c] = T(gx_sum); }
    if (!need_x) return;  // every thread of the block takes the same branch: no barrier follows
    const double scale = double(weight[c]) * inv_std[c], g_mean = g_sum / count, gx_mean = gx_sum / count;
    for (int e = threadIdx.x; e < count; e += BN_THREADS) {
        int at = (e / S * C + c) * S + e % S;
        grad_x[at] = T(scale * (grad[at] - g_mean - x_hat[at] * gx_mean));
    }
}

// ------------------------------------------------------------------ entry points (float and double)
extern "C" __global__ void __launch_bounds__(BN_THREADS)
batchnorm_forward_f32(const float* __restrict__ x, const float* __restrict__ weight, const float* __restrict__ bias,
                      float* __restrict__ y, float* __restrict__ x_hat, float* __restrict__ mean,
                      float* __restrict__ var, float* __restrict__ inv_std, int N, int C, int S, double eps) {
    batchnorm_forward<float>(x, weight, bias, y, x_hat, mean, var, inv_std, N, C, S, eps);
}
extern "C" __global__ void __launch_bounds__(BN_THREADS)
batchnorm_forward_f64(const double* __restrict__ x, const double* __restrict__ weight,
                      const double* __restrict__ bias, double* __restrict__ y, double* __restrict__ x_hat,
                      double* __restrict__ mean, double* __restrict__ var, double* __restrict__ inv_std, int N, int C,
                      int S, double eps) {
    batchnorm_forward<double>(x, weight, bias, y, x_hat, mean, var, inv_std, N, C, S, eps);
}
extern "C" __global__ void __launch_bounds__(BN_THREADS)
batchnorm_backward_f32(const float* __restrict__ grad, const float* __restrict__ x_hat,
                       const float* __restrict__ inv_std, const float* __restrict__ weight,
                       float* __restrict__ grad_x, float* __restrict__ grad_weight, float* __restrict__ grad_bias,
                       int N, int C, int S, int need_x) {
    batchnorm_backward<float>(grad, x_hat, inv_std, weight, grad_x, grad_weight, grad_bias, N, C, S, need_x);
}
extern "C" __global__ void __launch_bounds__(BN_THREADS)
batchnorm_backward_f64(const double* __restrict__ grad, const double* __restrict__ x_hat,
                       const double* __restrict__ inv_std, const double* __restrict__ weight,
                       double* __restrict__ grad_x, double* __restrict__ grad_weight, double* __restrict__ grad_bias,
                       int N, int C, int S, int need_x) {
    batchnorm_backward<double>(grad, x_hat, inv_std, weight, grad_x, grad_weight, grad_bias, N, C, S, need_x);
}
