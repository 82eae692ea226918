// matmul.cu — C = A·B on the GPU, as a ladder of three kernels (read beside numba_matmul.py).
//
//   A is M×K, B is K×N, C is M×N, all row-major and contiguous; C[i][j] = Σ_k A[i][k]·B[k][j].
//
// A GPU runs thousands of threads at once. Threads come in blocks (here 256 each); the threads
// of one block run on the same streaming multiprocessor (SM), can share a small, fast scratch
// memory (__shared__, ~228 KB per SM on an H100/H200) and can wait for each other
// (__syncthreads()). Global memory (the arrays) is large but slow: ~3–5 TB/s shared by all SMs,
// against ~60 TFLOP/s of fp32 arithmetic — about 25–30 multiply-adds per float loaded. So each rung
// of the ladder is about loading every number fewer times:
//
//   1. naive    one thread per C[i][j]; each thread reads a whole row of A and column of B from
//               global memory: 2K loads for K multiply-adds.
//   2. tiled    a 16×16 block computes a 16×16 tile of C. The block walks along K in 16×16 tiles
//               of A and B, copied into shared memory once (one number per thread) and then read
//               16 times from there: 16× fewer global loads. The CPU's cache blocking, by hand.
//   3. blocked  a 256-thread block computes a 128×128 tile of C, each thread an 8×8 piece of it
//               held in registers. Per step of k a thread reads 8 numbers of A and 8 of B from
//               shared memory and does 64 multiply-adds with them (the outer product, like the
//               CPU's SIMD micro-kernel in numba_matmul.py): 4 FMAs per shared-memory load
//               instead of the tiled kernel's ½, and 4-wide (float4) global loads.
//
// cuBLAS (through cupy.matmul) stays the fast default, as BLAS does on the CPU: it adds
// double buffering, warp-level tiling and tensor-core paths that a teaching kernel leaves out.
//
// Every kernel exists for float and double: a template does the work, and `extern "C"` entry
// points (matmul_naive_f32, matmul_naive_f64, …) give the launcher and the emulator plain names.
// Edges: M, N, K are arbitrary; loads past the end read 0, stores past the end are skipped.

// --- tile edges (read by matmul.py: the launch configuration follows these numbers) ---
constexpr int NAIVE_BLOCK = 16;   // naive: 16×16 threads, one output each
constexpr int TILE = 16;          // tiled: 16×16 threads and a 16×16 tile of C, A and B
constexpr int BM = 128;           // blocked: rows of C per block
constexpr int BN = 128;           // blocked: columns of C per block
constexpr int BK = 8;             // blocked: depth of the A and B tiles in shared memory
constexpr int TM = 8;             // blocked: rows of C per thread
constexpr int TN = 8;             // blocked: columns of C per thread
constexpr int BLOCKED_THREADS = (BM / TM) * (BN / TN);  // 16 × 16 = 256 threads
static_assert(NAIVE_BLOCK * NAIVE_BLOCK <= 1024 && BLOCKED_THREADS <= 1024, "a CUDA block has at most 1024 threads");

// ------------------------------------------------------------------ 1. naive
template <typename T>
__device__ void matmul_naive(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                             int M, int N, int K) {
    // Thread (x, y) of block (bx, by) computes C[row][col]: x runs along a row of C, so the 16
    // threads next to each other read B[k][col..col+15] side by side (one coalesced load).
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row >= M || col >= N) return;
    T sum = 0;
    for (int k = 0; k < K; ++k) sum += A[row * K + k] * B[k * N + col];
    C[row * N + col] = sum;
}

// ------------------------------------------------------------------ 2. tiled
template <typename T>
__device__ void matmul_tiled(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                             int M, int N, int K) {
    __shared__ T As[TILE][TILE];  // the current 16×16 tile of A, shared by the block
    __shared__ T Bs[TILE][TILE];  // and of B
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
    T sum = 0;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        // Each thread copies one number of each tile (0 past the edges, so the sum below needs no test).
        As[ty][tx] = (row < M && k0 + tx < K) ? A[row * K + k0 + tx] : T(0);
        Bs[ty][tx] = (k0 + ty < K && col < N) ? B[(k0 + ty) * N + col] : T(0);
        __syncthreads();  // the tiles are complete before anyone reads them …
        for (int k = 0; k < TILE; ++k) sum += As[ty][k] * Bs[k][tx];
        __syncthreads();  // … and everyone has read them before the next copy overwrites them
    }
    if (row < M && col < N) C[row * N + col] = sum;
}

// ------------------------------------------------------------------ 3. blocked (register tiles)
// Four consecutive numbers of one row of a row-major matrix (rows × cols), 0 past its edges. With
// `vector` (the launcher checked that cols is a multiple of 4 and the pointer 16-byte aligned) a
// float row segment is one 128-bit load (float4) instead of four.
__device__ __forceinline__ void load_row4(const float* __restrict__ src, int row, int col, int rows, int cols,
                                          bool vector, float out[4]) {
    if (vector && row < rows && col < cols) {
        float4 v = *reinterpret_cast<const float4*>(src + row * cols + col);
        out[0] = v.x; out[1] = v.y; out[2] = v.z; out[3] = v.w;
        return;
    }
    for (int i = 0; i < 4; ++i) out[i] = (row < rows && col + i < cols) ? src[row * cols + col + i] : 0.0f;
}

__device__ __forceinline__ void load_row4(const double* __restrict__ src, int row, int col, int rows, int cols,
                                          bool vector, double out[4]) {
    if (vector && row < rows && col < cols) {
        double2 lo = *reinterpret_cast<const double2*>(src + row * cols + col);
        double2 hi = *reinterpret_cast<const double2*>(src + row * cols + col + 2);
        out[0] = lo.x; out[1] = lo.y; out[2] = hi.x; out[3] = hi.y;
        return;
    }
    for (int i = 0; i < 4; ++i) out[i] = (row < rows && col + i < cols) ? src[row * cols + col + i] : 0.0;
}

template <typename T>
__device__ void matmul_blocked(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                               int M, int N, int K, int vector_loads) {
    // Why 128×128×8 and 8×8: the block's tile needs (128 + 128)·8 loads from global memory per
    // 128·128·8 multiply-adds (64 FMAs per load), the thread's 8×8 accumulators (64 registers)
    // give 4 FMAs per number read from shared memory (16 reads, 64 FMAs), and 256 threads × ~96 registers let
    // two blocks share an SM, so one block's loads overlap the other's arithmetic.
    __shared__ T As[BK][BM];  // the A tile, stored transposed: As[k][m], so a thread's 8 rows are side by side
    __shared__ T Bs[BK][BN];
    const int tid = threadIdx.x;
    const int thread_row = tid / (BN / TN), thread_col = tid % (BN / TN);  // this thread's 8×8 piece
    const int block_row = blockIdx.y * BM, block_col = blockIdx.x * BN;
    // Who loads what: the A tile (128 rows × 8) is 256 segments of 4, one per thread; so is the B tile (8 × 128).
    const int a_row = tid / (BK / 4), a_col = (tid % (BK / 4)) * 4;
    const int b_row = tid / (BN / 4), b_col = (tid % (BN / 4)) * 4;
    const bool vector = vector_loads != 0;

    T acc[TM][TN];
    for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) acc[i][j] = 0;
    T a_frag[TM], b_frag[TN], loaded[4];

    for (int k0 = 0; k0 < K; k0 += BK) {
        load_row4(A, block_row + a_row, k0 + a_col, M, K, vector, loaded);
        for (int i = 0; i < 4; ++i) As[a_col + i][a_row] = loaded[i];
        load_row4(B, k0 + b_row, block_col + b_col, K, N, vector, loaded);
        for (int i = 0; i < 4; ++i) Bs[b_row][b_col + i] = loaded[i];
        __syncthreads();
        for (int k = 0; k < BK; ++k) {
            // The outer product of 8 numbers of A's column k and 8 of B's row k, added to the 8×8 tile.
            for (int i = 0; i < TM; ++i) a_frag[i] = As[k][thread_row * TM + i];
            for (int j = 0; j < TN; ++j) b_frag[j] = Bs[k][thread_col * TN + j];
            for (int i = 0; i < TM; ++i)
                for (int j = 0; j < TN; ++j) acc[i][j] += a_frag[i] * b_frag[j];
        }
        __syncthreads();
    }
    for (int i = 0; i < TM; ++i) {
        int row = block_row + thread_row * TM + i;
        if (row >= M) break;
        for (int j = 0; j < TN; ++j) {
            int col = block_col + thread_col * TN + j;
            if (col < N) C[row * N + col] = acc[i][j];
        }
    }
}

// ------------------------------------------------------------------ entry points
extern "C" __global__ void matmul_naive_f32(const float* __restrict__ A, const float* __restrict__ B,
                                            float* __restrict__ C, int M, int N, int K) {
    matmul_naive<float>(A, B, C, M, N, K);
}
extern "C" __global__ void matmul_naive_f64(const double* __restrict__ A, const double* __restrict__ B,
                                            double* __restrict__ C, int M, int N, int K) {
    matmul_naive<double>(A, B, C, M, N, K);
}
extern "C" __global__ void matmul_tiled_f32(const float* __restrict__ A, const float* __restrict__ B,
                                            float* __restrict__ C, int M, int N, int K) {
    matmul_tiled<float>(A, B, C, M, N, K);
}
extern "C" __global__ void matmul_tiled_f64(const double* __restrict__ A, const double* __restrict__ B,
                                            double* __restrict__ C, int M, int N, int K) {
    matmul_tiled<double>(A, B, C, M, N, K);
}
extern "C" __global__ void __launch_bounds__(BLOCKED_THREADS)
matmul_blocked_f32(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C,
                   int M, int N, int K, int vector_loads) {
    matmul_blocked<float>(A, B, C, M, N, K, vector_loads);
}
extern "C" __global__ void __launch_bounds__(BLOCKED_THREADS)
matmul_blocked_f64(const double* __restrict__ A, const double* __restrict__ B, double* __restrict__ C,
                   int M, int N, int K, int vector_loads) {
    matmul_blocked<double>(A, B, C, M, N, K, vector_loads);
}
