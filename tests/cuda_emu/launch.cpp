// launch.cpp: runs a grid of one kernel of the source named by EMU_SOURCE on CPU threads.
// Built by tests/cuda_emu/__init__.py as one shared library per (source, dtype); the table of
// kernels (EMU_KERNELS) is generated from the source's `extern "C" __global__` names.
#include "shim.h"
#include EMU_SOURCE

#include <atomic>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
std::mutex emu_atomic_lock;
thread_local std::vector<EmuCopy> emu_open;
thread_local std::deque<std::vector<EmuCopy>> emu_groups;
static std::atomic<bool> copies_outlived_block;
static pthread_barrier_t barrier;

void __syncthreads() { pthread_barrier_wait(&barrier); }

// Calls f with its arguments read from args[i] (pointers to the values, as cudaLaunchKernel).
template <class... A, std::size_t... I>
static void call(void (*f)(A...), void** args, std::index_sequence<I...>)
{
    f(*static_cast<A*>(args[I])...);
}
template <class... A>
static void call(void (*f)(A...), void** args)
{
    call(f, args, std::index_sequence_for<A...>{});
}

struct Entry { const char* name; void (*run)(void**); };
#define EMU_KERNEL(k) {#k, [](void** a) { call(k, a); }},
static const Entry table[] = {EMU_KERNELS};

// One OS thread per threadIdx walks all blocks in order; a barrier between blocks keeps the
// block's threads together, so shared statics are never used by two blocks at once.
// Returns 0, -1 for an unknown kernel, -2 if a block ended with cp.async copies in flight.
extern "C" int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz,
                          unsigned bx, unsigned by, unsigned bz, void** args)
{
    const Entry* e = nullptr;
    for (const Entry& t : table)
        if (!std::strcmp(t.name, name)) e = &t;
    if (!e) return -1;
    gridDim = {gx, gy, gz};
    blockDim = {bx, by, bz};
    const unsigned n = bx * by * bz;
    copies_outlived_block = false;
    pthread_barrier_init(&barrier, nullptr, n);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < n; ++t)
        threads.emplace_back([=] {
            threadIdx = {t % bx, (t / bx) % by, t / (bx * by)};
            for (unsigned z = 0; z < gz; ++z)
                for (unsigned y = 0; y < gy; ++y)
                    for (unsigned x = 0; x < gx; ++x) {
                        blockIdx = {x, y, z};
                        e->run(args);
                        if (emu_cp_async_in_flight()) copies_outlived_block = true;
                        emu_open.clear();
                        emu_groups.clear();
                        pthread_barrier_wait(&barrier);
                    }
        });
    for (auto& th : threads) th.join();
    pthread_barrier_destroy(&barrier);
    return copies_outlived_block ? -2 : 0;
}
