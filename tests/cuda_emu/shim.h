// shim.h: just enough of CUDA to run pyconv's kernels on the CPU, for testing their logic
// where no GPU is present. Every thread of a block is an OS thread; blocks run one after the
// other, so a `__shared__` array can be a function-level static shared by the block's threads.
// __syncthreads is a barrier over the block's threads. Not for speed: small problems only.
#pragma once
#include <pthread.h>
#include <algorithm>
#include <mutex>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct dim3 { unsigned x = 1, y = 1, z = 1; };
extern thread_local dim3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
void __syncthreads();
struct float4 { float x, y, z, w; };
struct double2 { double x, y; };
using std::max;
using std::min;

extern std::mutex emu_atomic_lock;
template <class T>
inline T atomicAdd(T* p, T v)
{
    std::lock_guard<std::mutex> guard(emu_atomic_lock);
    T old = *p;
    *p = old + v;
    return old;
}
