// cuda_emulator.h — run an unchanged CUDA C kernel file on the CPU, for tests and for reading.
//
// tinydl's .cu files are compiled twice: by NVRTC for the GPU, and by the system C++ compiler
// with this header included first (the driver in __init__.py writes `#include "cuda_emulator.h"`,
// then `#include "<kernel>.cu"`, then one small call wrapper per kernel). What CUDA gives a
// kernel, this header gives it on the CPU:
//
//   threadIdx, blockIdx, blockDim, gridDim   plain globals the scheduler sets before it resumes a thread
//   __shared__                               `static`: one copy, shared by every thread of the block
//                                            (blocks run one after another, so one copy is enough)
//   __syncthreads()                          the thread stops here until every thread of its block has
//                                            arrived (fibers: it hands the CPU back to the scheduler)
//   __global__, __device__, __launch_bounds__   nothing: ordinary C++ functions
//   float4, rsqrtf, min, max                 small definitions below
//
// Two ways to run a block's threads:
//   * fibers (default): every CUDA thread is a ucontext fiber on ONE OS thread. The scheduler runs
//     thread 0 until it reaches __syncthreads() (or ends), then thread 1, … — deterministic, cheap
//     (no OS threads), and a missing barrier gives a wrong answer every time, because thread 0 runs
//     ahead of all the others. A barrier reached by only some threads of a block is reported.
//   * OS threads (-DTINYDL_EMU_OS_THREADS): one std::thread per CUDA thread meeting at a C++20
//     std::barrier, so that ThreadSanitizer (-fsanitize=thread) can see races on shared memory.
//
// This is test infrastructure, not a second backend: it is slow (thousands of threads are
// thousands of fibers) and has no warps (no __shfl_*), no atomics and no dynamic shared memory,
// which tinydl's kernels do not use.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef TINYDL_EMU_OS_THREADS
#include <barrier>
#include <thread>
#else
#include <ucontext.h>
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct uint3 { unsigned int x, y, z; };
struct dim3 { unsigned int x, y, z; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };

// CUDA overloads sqrt, exp, … for float in the global namespace; <cmath> puts those overloads in
// std only, and a bare sqrt(float) on the CPU would silently compute in double (then the whole
// expression around it is double too, and the emulation gives other numbers than the GPU).
using std::sqrt; using std::exp; using std::log; using std::pow; using std::tanh;
using std::fabs; using std::fmax; using std::fmin; using std::floor; using std::ceil;

inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
inline double rsqrt(double v) { return 1.0 / std::sqrt(v); }
// CUDA's device code has min and max for every arithmetic type in the global namespace.
template <typename T> inline T min(T a, T b) { return b < a ? b : a; }
template <typename T> inline T max(T a, T b) { return a < b ? b : a; }

#ifdef TINYDL_EMU_OS_THREADS
static thread_local uint3 threadIdx;
#else
static uint3 threadIdx;
#endif
static uint3 blockIdx;
static dim3 blockDim, gridDim;

namespace tinydl_emu {

typedef void (*Trampoline)(void **args);

static char error_message[512];

#ifdef TINYDL_EMU_OS_THREADS

static std::barrier<> *block_barrier = nullptr;

inline void syncthreads() { block_barrier->arrive_and_wait(); }

static int run_block(Trampoline call, void **args, unsigned threads) {
    std::barrier<> barrier(threads);
    block_barrier = &barrier;
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([=, &barrier] {
            threadIdx.x = t % blockDim.x;
            threadIdx.y = (t / blockDim.x) % blockDim.y;
            threadIdx.z = t / (blockDim.x * blockDim.y);
            call(args);
            barrier.arrive_and_drop();  // a finished thread no longer holds the others back
        });
    }
    for (auto &thread : pool) thread.join();
    return 0;
}

#else  // fibers

enum State { RUNNABLE, AT_BARRIER, DONE };

struct Fiber {
    ucontext_t context;
    std::vector<char> stack;
    uint3 index;
    State state;
};

static ucontext_t scheduler;
static Fiber *running = nullptr;
static Trampoline current_call = nullptr;
static void **current_args = nullptr;
static std::vector<Fiber> fibers;
static size_t stack_bytes = 256 * 1024;

static void fiber_main() {
    current_call(current_args);
    running->state = DONE;  // returning resumes the scheduler (uc_link)
}

inline void syncthreads() {
    running->state = AT_BARRIER;
    swapcontext(&running->context, &scheduler);
}

static int run_block(Trampoline call, void **args, unsigned threads) {
    current_call = call;
    current_args = args;
    if (fibers.size() < threads) fibers.resize(threads);
    for (unsigned t = 0; t < threads; ++t) {
        Fiber &f = fibers[t];
        if (f.stack.size() != stack_bytes) f.stack.assign(stack_bytes, 0);
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack.data();
        f.context.uc_stack.ss_size = f.stack.size();
        f.context.uc_link = &scheduler;
        makecontext(&f.context, fiber_main, 0);
        f.index = uint3{t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
        f.state = RUNNABLE;
    }
    for (;;) {  // one round: every thread runs until its next __syncthreads() or its end
        unsigned waiting = 0, done = 0;
        for (unsigned t = 0; t < threads; ++t) {
            Fiber &f = fibers[t];
            running = &f;
            threadIdx = f.index;
            swapcontext(&scheduler, &f.context);
            if (f.state == AT_BARRIER) ++waiting; else ++done;
        }
        if (waiting == 0) return 0;  // all threads finished
        if (done > 0) {
            std::snprintf(error_message, sizeof error_message,
                          "__syncthreads() was reached by %u of the %u threads of block (%u, %u, %u); "
                          "the other %u had returned (a barrier inside a branch not all threads take)",
                          waiting, threads, blockIdx.x, blockIdx.y, blockIdx.z, done);
            return 1;
        }
        for (unsigned t = 0; t < threads; ++t) fibers[t].state = RUNNABLE;
    }
}

#endif

}  // namespace tinydl_emu

#define __syncthreads() tinydl_emu::syncthreads()

// Run `call` (a wrapper that unpacks `args` and calls one kernel) on a grid of blocks, the
// blocks one after another in CUDA's order (x fastest). Returns 0, or 1 with a message.
extern "C" int tinydl_emu_launch(tinydl_emu::Trampoline call, void **args, unsigned grid_x, unsigned grid_y,
                                 unsigned grid_z, unsigned block_x, unsigned block_y, unsigned block_z) {
    gridDim = dim3{grid_x, grid_y, grid_z};
    blockDim = dim3{block_x, block_y, block_z};
    unsigned threads = block_x * block_y * block_z;
    for (unsigned z = 0; z < grid_z; ++z)
        for (unsigned y = 0; y < grid_y; ++y)
            for (unsigned x = 0; x < grid_x; ++x) {
                blockIdx = uint3{x, y, z};
                if (tinydl_emu::run_block(call, args, threads) != 0) return 1;
            }
    return 0;
}

extern "C" const char *tinydl_emu_error() { return tinydl_emu::error_message; }
