// BEGIN SOLUTION assignment=2 remove
// optim.cu — fused optimiser updates on the GPU: one kernel launch per parameter (read beside
// numba_optim.py and tinydl/optim/adam.py, sgd.py).
//
// The readable optimisers write each line of the formula as an array operation: about a dozen
// passes over θ, g, m and v, each a kernel launch that reads and writes the whole array. Here one
// thread updates one element with all the lines at once while the numbers are in registers.
// The arithmetic is the NumPy lines', in the same order and precision (the launcher passes the
// constants already rounded to the parameter's type), and this file is compiled with
// --fmad=false (launch.py) so that a·b + c is rounded twice as NumPy rounds it: the same numbers
// to the last bit, not merely close.
//
// Grid-stride loops: the launcher may cap the grid; each thread then takes every
// (gridDim.x·blockDim.x)-th element.

constexpr int OPTIM_THREADS = 256;  // threads per block
constexpr int OPTIM_MAX_BLOCKS = 4096;  // enough to fill any current GPU; more only adds launch work
static_assert(OPTIM_THREADS <= 1024 && OPTIM_MAX_BLOCKS > 0, "a CUDA block has at most 1024 threads");

// Adam / AdamW for every i (adam.py's lines; lr_t = α / (1 − β₁ᵗ), bias2_sqrt = √(1 − β₂ᵗ)):
//   g = grad + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − m / (√v / bias2_sqrt + ε) · lr_t
template <typename T>
__device__ void adam_step(T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ m, T* __restrict__ v,
                          int n, T beta1, T beta2, T one_minus_beta1, T one_minus_beta2, T weight_decay,
                          T bias2_sqrt, T eps, T lr_t) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        T g = grad[i];
        if (weight_decay != T(0)) g = g + weight_decay * param[i];
        T m_i = m[i] * beta1 + g * one_minus_beta1;
        T v_i = v[i] * beta2 + (g * g) * one_minus_beta2;
        m[i] = m_i;
        v[i] = v_i;
        param[i] = param[i] - m_i / (sqrt(v_i) / bias2_sqrt + eps) * lr_t;
    }
}

// SGD with momentum μ, dampening τ, weight decay λ, Nesterov (sgd.py's lines):
//   g = grad + λθ;  b ← g on the first step, else b ← μb + (1 − τ)g;  g ← g + μb (Nesterov) or b;  θ ← θ − αg
template <typename T>
__device__ void sgd_step(T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ buffer, int n, T lr,
                         T momentum, T one_minus_dampening, T weight_decay, int nesterov, int first_step) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        T g = grad[i];
        if (weight_decay != T(0)) g = g + weight_decay * param[i];
        T b = first_step ? g : buffer[i] * momentum + one_minus_dampening * g;
        buffer[i] = b;
        T step = nesterov ? g + momentum * b : b;
        param[i] = param[i] - lr * step;
    }
}

// ------------------------------------------------------------------ entry points (float and double)
extern "C" __global__ void adam_step_f32(float* __restrict__ param, const float* __restrict__ grad,
                                         float* __restrict__ m, float* __restrict__ v, int n, float beta1, float beta2,
                                         float one_minus_beta1, float one_minus_beta2, float weight_decay,
                                         float bias2_sqrt, float eps, float lr_t) {
    adam_step<float>(param, grad, m, v, n, beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay, bias2_sqrt,
                     eps, lr_t);
}
extern "C" __global__ void adam_step_f64(double* __restrict__ param, const double* __restrict__ grad,
                                         double* __restrict__ m, double* __restrict__ v, int n, double beta1,
                                         double beta2, double one_minus_beta1, double one_minus_beta2,
                                         double weight_decay, double bias2_sqrt, double eps, double lr_t) {
    adam_step<double>(param, grad, m, v, n, beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay, bias2_sqrt,
                      eps, lr_t);
}
extern "C" __global__ void sgd_step_f32(float* __restrict__ param, const float* __restrict__ grad,
                                        float* __restrict__ buffer, int n, float lr, float momentum,
                                        float one_minus_dampening, float weight_decay, int nesterov, int first_step) {
    sgd_step<float>(param, grad, buffer, n, lr, momentum, one_minus_dampening, weight_decay, nesterov, first_step);
}
extern "C" __global__ void sgd_step_f64(double* __restrict__ param, const double* __restrict__ grad,
                                        double* __restrict__ buffer, int n, double lr, double momentum,
                                        double one_minus_dampening, double weight_decay, int nesterov,
                                        int first_step) {
    sgd_step<double>(param, grad, buffer, n, lr, momentum, one_minus_dampening, weight_decay, nesterov, first_step);
}
// END SOLUTION
