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
#define __noinline__ __attribute__((noinline))
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
inline T atomicOr(T* p, T v)
{
    std::lock_guard<std::mutex> guard(emu_atomic_lock);
    T old = *p;
    *p = old | v;
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

// ---- the sm_80 instructions of csrc/cuda/common.cuh, on the CPU -----------------------------
// common.cuh defines cp_async_real, cp_async_commit, cp_async_wait, to_tf32 and mma_tf32 with
// inline PTX when SM80_INSTRUCTIONS is set by the architecture, and leaves them to whoever set it
// before (C++ cannot redefine them): here, so that the emulation runs the sm_80 code paths.
#define SM80_INSTRUCTIONS 1
#include <cstring>
#include <deque>
#include <vector>

// cp.async as the hardware runs it: a copy is only queued when issued, committed groups land
// oldest first, and only when the issuing thread waits for them (cp.async.wait_group), so a
// kernel that reads a stage before waiting for it reads stale data here too, and one that
// reads another thread's copy without a barrier after the wait is a race under -fsanitize=thread.
struct EmuCopy { void* dst; const void* src; bool ok; unsigned bytes; };
extern thread_local std::vector<EmuCopy> emu_open;                // issued, not yet committed
extern thread_local std::deque<std::vector<EmuCopy>> emu_groups;  // committed, in flight

// dst = ok ? *src : 0, queued (src-size 0 when !ok: nothing read, dst zero-filled on landing).
template <class T>
inline void cp_async_real(T* dst, const T* src, bool ok)
{
    emu_open.push_back({dst, src, ok, sizeof(T)});
}
inline void cp_async_commit()
{
    emu_groups.push_back(std::move(emu_open));
    emu_open.clear();
}
// Lands the oldest committed groups of this thread until at most PENDING are in flight.
template <int PENDING>
inline void cp_async_wait()
{
    while (static_cast<int>(emu_groups.size()) > PENDING) {
        for (const EmuCopy& c : emu_groups.front()) {
            if (c.ok) std::memcpy(c.dst, c.src, c.bytes);
            else std::memset(c.dst, 0, c.bytes);
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

// cvt.rna.tf32.f32: x rounded to TF32 (nearest, ties away from zero): add half a TF32 ulp to
// the magnitude, drop the 13 low mantissa bits.
inline unsigned to_tf32(float x)
{
    unsigned r;
    std::memcpy(&r, &x, 4);
    return (r + 0x1000u) & 0xffffe000u;
}

// mma.sync.m16n8k8 (TF32 in, FP32 accumulate), a warp-wide instruction: every lane publishes
// its fragments, then computes its own four results from the whole warp's (all threads of the
// block call this together, as the TF32 core does). Fragment layouts as in common.cuh.
inline void mma_tf32(float& c0, float& c1, float& c2, float& c3, const unsigned a[4], const unsigned b[2])
{
    __shared__ unsigned fa[1024][4], fb[1024][2];   // 1024: CUDA's most threads per block
    const int tid = threadIdx.x, warp0 = tid & ~31, g = (tid & 31) >> 2, tg = tid & 3;
    for (int i = 0; i < 4; ++i) fa[tid][i] = a[i];
    fb[tid][0] = b[0];
    fb[tid][1] = b[1];
    __syncthreads();
    float* c[4] = {&c0, &c1, &c2, &c3};
    for (int e = 0; e < 4; ++e) {
        const int row = g + (e >= 2 ? 8 : 0), col = 2 * tg + (e & 1);
        for (int k = 0; k < 8; ++k) {
            const unsigned ab = fa[warp0 + (row % 8) * 4 + k % 4][(row >= 8) + 2 * (k >= 4)];
            const unsigned bb = fb[warp0 + col * 4 + k % 4][k >= 4];
            float av, bv;
            std::memcpy(&av, &ab, 4);
            std::memcpy(&bv, &bb, 4);
            *c[e] += av * bv;
        }
    }
    __syncthreads();
}
