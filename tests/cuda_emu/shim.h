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
template <class T>
inline T atomicMin(T* p, T v)
{
    std::lock_guard<std::mutex> guard(emu_atomic_lock);
    T old = *p;
    *p = v < old ? v : old;
    return old;
}

// cp.async as the hardware runs it: a copy is only queued when issued, committed groups land
// oldest first, and only when the issuing thread waits for them (cp.async.wait_group), so a
// kernel that reads a stage before waiting for it reads stale data here too, and one that
// reads another thread's copy without a barrier after the wait is a race under -fsanitize=thread.
#define PYCONV_EMU 1
#include <cstring>
#include <deque>
#include <vector>

struct EmuCopy { void* dst; const void* src; bool ok; unsigned bytes; };
extern thread_local std::vector<EmuCopy> emu_open;                // issued, not yet committed
extern thread_local std::deque<std::vector<EmuCopy>> emu_groups;  // committed, in flight

template <class T>
inline void emu_cp_async(T* dst, const T* src, bool ok)
{
    emu_open.push_back({dst, src, ok, sizeof(T)});
}
inline void emu_cp_async_commit()
{
    emu_groups.push_back(std::move(emu_open));
    emu_open.clear();
}
inline void emu_cp_async_wait(int pending)
{
    while (static_cast<int>(emu_groups.size()) > pending) {
        for (const EmuCopy& c : emu_groups.front()) {
            if (c.ok) std::memcpy(c.dst, c.src, c.bytes);
            else std::memset(c.dst, 0, c.bytes);       // src-size 0: zero-fill, nothing read
        }
        emu_groups.pop_front();
    }
}
// Copies still queued: none may outlive the block that issued them.
inline std::size_t emu_cp_async_in_flight()
{
    std::size_t n = emu_open.size();
    for (const auto& g : emu_groups) n += g.size();
    return n;
}
