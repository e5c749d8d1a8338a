// common.cuh: what every pyconv CUDA source shares.
//
// Size letters (as in CONTRACT.md): x (N,C,H,W) input, w (K,C,R,S) filters, y (N,K,P,Q) output.
//
// Each .cu file is compiled once per dtype: `real` is float, or double with -DPYCONV_DOUBLE;
// kernel names are the same in both builds (extern "C", so RawModule.get_function finds them).
// No host headers: the sources must compile under NVRTC as well as under nvcc.
//
// The fast kernels share three GEMM cores, C[m][n] = sum_k A[m][k] B[k][n] over a BM x 128
// output tile per block of 256 threads, k in steps of 8; each core adds one idea to the one
// before it, and each kernel variant of the .cu files picks one:
//   gemm_core_shared (GemmCoreShared)  A and B tiles staged through registers into shared
//       memory (k-major, so a thread reads 4 consecutive m or n with one vector load),
//       double-buffered: the global loads of tile t+1 are issued before the math on tile t, and
//       one __syncthreads per step is enough. A BM/16 x 8 register micro-tile per thread, split
//       into 4x4 quarters 64 rows/columns apart so that the 16 threads of a half-warp read
//       16 different banks.
//   gemm_core_async (GemmCoreAsync)    the same tiles and micro-tiles, copied global -> shared
//       by cp.async, GEMM_STAGES k-tiles in flight instead of one.
//   gemm_core_tf32 (GemmCoreTF32)      the same cp.async pipeline, the math on TF32 tensor
//       cores (mma.sync): ~1e-3 relative error, opt-in, float32 on sm_80+ only.
// Each core is a template on its tile height BM, 128 or 64 (GemmCoreAsync<128>, ...): the
// 128x128 tile serves every GEMM; the 64x128 tile is for GEMMs of few rows (a 64-channel
// layer), which the 128-row tile fills only half (its other 64 rows are zero-filled A rows
// whose FMAs are issued all the same). 64 rows halve a thread's micro-tile (4x8: 32 FMAs per k
// against 64), not the number of threads, so the B tile, its loaders and the columns of the
// micro-tile are the same for both heights; only threads 0-127 (warps 0-3) load the 64x8 A tile.
// The operands are not arrays but *loaders*: small structs that know how to fetch their part of
// a k-tile from global memory (an im2col view of x, a transposed view of w, ...). That is what
// makes conv2d an "implicit GEMM": the im2col matrix is never materialised.

#pragma once

#if defined(PYCONV_DOUBLE)
typedef double real;
#else
typedef float real;
#endif

// ---- tile geometry of the GEMM core ----------------------------------------------------------
#define GEMM_BM 128          // rows of C per block: the tall tile (the cores' BM = 128)
#define GEMM_BM_SHORT 64     // ... and the short one (BM = 64), for GEMMs of few rows
#define GEMM_BN 128          // columns of C per block (both heights)
#define GEMM_BK 8            // k per step
#define GEMM_THREADS 256     // 16 x 16 threads, each a BM/16 x 8 micro-tile (8x8 or 4x8)
#define GEMM_PAD 4           // smem row padding: K8 and K4 stores spread over all 32 banks (sts_tile)
#define GEMM_LD (GEMM_BN + GEMM_PAD)   // smem row length of the B tile (A's: BM + GEMM_PAD)
// Why the short tile keeps 256 threads with 4x8 micro-tiles rather than 128 threads with 8x8:
// the B tile (8 x 128), its loaders and their coalesced mappings stay as they are (128 threads
// would have to fetch 8 B elements each), a block keeps 8 warps, and a thread needs 32
// accumulators instead of 64: ptxas gives the float kernels 76-103 registers and no spill,
// where 8x8 sits at the 128-register cap. The price is reuse: per k and thread 12 reals read
// from shared memory for 32 FMAs (0.375 per FMA) against 16 for 64 (0.25), still conflict-free.
// Per k-step a 64x128 block does 64k FMAs, half the 128x128 tile's, for 6 KB of tile fill
// (float) against 8 KB: 1.5x the shared-memory fill per FMA.
// Blocks per SM asked of the register allocator (__launch_bounds__): 2 caps float at 128
// registers; double needs ~190-240. At that cap ptxas (CUDA 13.0, -Xptxas -v) reports spills
// for two kernels only, both on gemm_core_shared, float32, sm_90 (spill stores / loads):
//   conv2d_backward_input_2  8 / 8 bytes,  conv2d_backward_weight_3  4 / 4.
// Nothing else spills: not these kernels for sm_75 or sm_80, not float64, not matmul, not the
// cp.async or TF32 cores. (Before the loader mappings of tile_slot: 16 / 16 and 12 / 12, and
// conv2d_forward_2 8 / 12; the SASS then showed 2-4 local accesses per k-step in the k-loops.)
// tests/test_cuda_compile.py holds these counts (KNOWN_SPILLS) and fails if any kernel spills
// more, or if one of these stops spilling (then update both). The 64-row kernels use 76-103
// registers (float) under the same bounds, so 2 blocks per SM as well; asking 3 (80 registers)
// fits all of them but conv2d_forward_5 on sm_90 (16 bytes spilled): left to a GPU run to weigh
// 24 resident warps against that spill.
#if defined(PYCONV_DOUBLE)
#define GEMM_MIN_BLOCKS 1
#else
#define GEMM_MIN_BLOCKS 2
#endif

// How a loader maps the threads onto the TILE_MN x 8 elements of one k-tile (A: TILE_MN = the
// core's BM; B: 8 x GEMM_BN); each thread fetches 4 elements, j = 0..3, so 2*TILE_MN threads
// take part: all 256 for 128, threads 0-127 (warps 0-3: the test never splits a warp) for the
// 64-row A tile. The 32 lanes of a warp issue each j together, so what one load instruction
// touches is the 32 lanes' elements for one j (shown for TILE_MN = 128, then 64):
//   MN4: kk = tid / 32, mn = tid % 32 + 32*j  -> 32 consecutive rows (of A) / columns (of B) at
//        one k: one 128-byte segment (float) when the operand is contiguous along m or n.
//        64 rows: mn = tid % 32 + 32*(j % 2), kk = tid / 32 + 4*(j / 2): still 32 consecutive
//        rows per instruction, the 4 warps covering k 0-3 with j = 0, 1 and k 4-7 with j = 2, 3
//   K8:  kk = tid % 8, mn = tid / 8 + 32*j    -> 8 consecutive k of 4 rows / columns: 4 whole
//        32-byte sectors when the operand is contiguous along k (a k-tile is 8 deep, so 32
//        bytes is all one row has). 64 rows: mn = tid / 8 + 16*j, the same 4 sectors
//   K4:  mn = tid / 2, kk = (tid % 2) * 4 + j -> 16 rows, 2 elements 4 apart in each: for a
//        loader that walks 4 consecutive k from one decode (Im2colT)
// Before MN4 and K8, MN4 gave a lane 4 consecutive mn (lanes 16 bytes apart: each instruction
// touched 4 segments and used a quarter of each) and every k-contiguous operand was K4 (16
// sectors per instruction, 8 bytes used in each): 4x the L1 transactions of this mapping,
// which is CUTLASS's (consecutive lanes on consecutive addresses of the contiguous dimension).
#define LOAD_MN4 0
#define LOAD_K4 1
#define LOAD_K8 2

// (dk, dmn): where element j of a thread sits relative to its element 0, the same for every
// thread (so a loader computes its element 0 once and reaches the others by constant steps).
template <int MAPPING, int TILE_MN>
__device__ __forceinline__ void tile_step(int j, int& dk, int& dmn)
{
    if (MAPPING == LOAD_MN4) {
        dk = (TILE_MN / 16) * (j / (TILE_MN / 32)); dmn = 32 * (j % (TILE_MN / 32));
    } else if (MAPPING == LOAD_K8) {
        dk = 0; dmn = (TILE_MN / 4) * j;
    } else {
        dk = j; dmn = 0;
    }
}

// (kk, mn): where element j of thread tid sits in the k-tile under MAPPING (see above).
template <int MAPPING, int TILE_MN>
__device__ __forceinline__ void tile_slot(int tid, int j, int& kk, int& mn)
{
    int dk, dmn;
    tile_step<MAPPING, TILE_MN>(j, dk, dmn);
    if (MAPPING == LOAD_MN4) {
        kk = tid / 32 + dk; mn = tid % 32 + dmn;
    } else if (MAPPING == LOAD_K8) {
        kk = tid % 8 + dk; mn = tid / 8 + dmn;
    } else {
        kk = (tid % 2) * 4 + dk; mn = tid / 2 + dmn;
    }
}

// Whether thread tid holds 4 elements of Loader's k-tile (see above: the first 2*TILE_MN).
template <class Loader>
__device__ __forceinline__ bool holds_tile(int tid)
{
    return Loader::TILE_MN >= GEMM_BN || tid < Loader::TILE_MN * GEMM_BK / 4;
}

// The digits (hi, mid, lo) of kd = (hi*M + mid)*L + lo, with a step to kd + 1. A K4 loader
// decodes the first of its 4 consecutive kd with two divisions and reaches the other three by
// carrying, instead of dividing 4 times (integer division costs ~20 instructions; a k-step
// has 512 FMAs per thread to hide it in).
struct Digits3 {
    int hi, mid, lo;
    __device__ Digits3(int kd, int M, int L)
    {
        const int t = kd / L;
        lo = kd - t * L;
        hi = t / M;
        mid = t - hi * M;
    }
    __device__ void next(int M, int L)
    {
        if (++lo == L) {
            lo = 0;
            if (++mid == M) { mid = 0; ++hi; }
        }
    }
};

// Reads 4 consecutive reals from shared memory with one 16-byte (float) or two 16-byte (double)
// loads. `p` must be 16-byte aligned: callers index at multiples of 4 from an aligned row.
__device__ __forceinline__ void lds4(real* dst, const real* p)
{
#if defined(PYCONV_DOUBLE)
    double2 a = *reinterpret_cast<const double2*>(p);
    double2 b = *reinterpret_cast<const double2*>(p + 2);
    dst[0] = a.x; dst[1] = a.y; dst[2] = b.x; dst[3] = b.y;
#else
    float4 a = *reinterpret_cast<const float4*>(p);
    dst[0] = a.x; dst[1] = a.y; dst[2] = a.z; dst[3] = a.w;
#endif
}

// Stores the 4 values a thread loaded into its place in a k-major smem tile s[GEMM_BK][LD]
// (nothing for a thread that holds none of Loader's tile). Per j the 32 lanes hit 32 different
// banks: MN4 32 consecutive words of one row, K8 8 rows (LD = 132 or 68 words apart, both 4 mod
// 32) of 4 consecutive words, K4 two rows (16 words apart mod 32) of 16 consecutive words.
template <class Loader, int LD>
__device__ __forceinline__ void sts_tile(real (*s)[LD], const real v[4], int tid)
{
    if (!holds_tile<Loader>(tid)) return;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        int kk, mn;
        tile_slot<Loader::MAPPING, Loader::TILE_MN>(tid, j, kk, mn);
        s[kk][mn] = v[j];
    }
}

// Loader contract (the operands of the GEMM cores):
//   static const int MAPPING;                                  // LOAD_MN4, LOAD_K8 or LOAD_K4
//   static const int TILE_MN;                                  // GEMM_BN for B, the core's BM for A
//   const real* src;                                           // the operand's array
//   __device__ void addrs(int k0, int off[4], bool ok[4]) const;
//       where this thread's 4 elements of the k-tile at k0 live: src[off[j]]; ok[j] false means
//       the element is outside the matrix (or in the padding) and reads as zero, and off[j] is
//       then 0 (src itself, a valid address that load_vals never reads and cp.async reads with
//       size 0, which zero-fills).
// (Offsets rather than pointers: 32-bit index math, as in a plain array read, keeps the float
// kernels under their 128-register cap.)
// The loaders were built for this block's tile origin and this thread, so addrs() only needs k0;
// a thread that holds none of the tile (holds_tile) loads nothing.
template <class Loader>
__device__ __forceinline__ void load_vals(const Loader& l, int k0, real v[4])
{
    if (!holds_tile<Loader>(threadIdx.x)) return;
    int off[4];
    bool ok[4];
    l.addrs(k0, off, ok);
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = ok[j] ? l.src[off[j]] : real(0);
}

// One k-tile of the CUDA-core math, from the k-major smem tiles As (BM rows) and Bs: for each
// of its 8 k, this thread's BM/16 x 8 outer product, a[] read as BM/64 and b[] as two 16-byte
// loads 64 apart (rows ty*4 + 64*q, columns tx*4 and 64 + tx*4: tile_row / tile_col).
// Per k and thread: 12 (BM 64) or 16 (BM 128) reals read for 32 or 64 FMAs.
template <int BM, int LDA>
__device__ __forceinline__ void micro_tile_fma(real (*As)[LDA], real (*Bs)[GEMM_LD], int tx, int ty,
                                               real acc[][8])
{
#pragma unroll
    for (int kk = 0; kk < GEMM_BK; ++kk) {
        real a[BM / 16], b[8];
#pragma unroll
        for (int q = 0; q < BM / 64; ++q) lds4(a + 4 * q, &As[kk][64 * q + ty * 4]);
        lds4(b, &Bs[kk][tx * 4]);
        lds4(b + 4, &Bs[kk][64 + tx * 4]);
#pragma unroll
        for (int i = 0; i < BM / 16; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
    }
}

template <int BM>
__device__ __forceinline__ void zero_acc(real acc[][8])
{
#pragma unroll
    for (int i = 0; i < BM / 16; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0;
}

// The shared-memory core. Computes the BM/16 x 8 micro-tile acc of this thread for the block's
// BM x 128 tile, summing k over [k_begin, k_end), staging through registers into two
// shared-memory buffers. Thread (ty, tx) = (tid / 16, tid % 16) owns rows ty*4 + {0..3} (and
// 64 + ty*4 + {0..3} when BM = 128) and columns tx*4 + {0..3}, 64 + tx*4 + {0..3} (see
// tile_row / tile_col).
template <int BM, class LoaderA, class LoaderB>
__device__ __forceinline__ void gemm_core_shared(const LoaderA& la, const LoaderB& lb,
                                                 int k_begin, int k_end, real acc[BM / 16][8])
{
    __shared__ __align__(16) real As[2][GEMM_BK][BM + GEMM_PAD];
    __shared__ __align__(16) real Bs[2][GEMM_BK][GEMM_LD];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;

    zero_acc<BM>(acc);
    real va[4], vb[4];
    load_vals(la, k_begin, va);
    load_vals(lb, k_begin, vb);
    sts_tile<LoaderA>(As[0], va, tid);
    sts_tile<LoaderB>(Bs[0], vb, tid);
    __syncthreads();

    int buf = 0;
    for (int k0 = k_begin; k0 < k_end; k0 += GEMM_BK) {
        const bool more = k0 + GEMM_BK < k_end;   // uniform across the block
        if (more) {                               // global loads of the next tile, in flight
            load_vals(la, k0 + GEMM_BK, va);      // while this tile's math runs
            load_vals(lb, k0 + GEMM_BK, vb);
        }
        micro_tile_fma<BM>(As[buf], Bs[buf], tx, ty, acc);
        // Race-free: buffer buf^1 was last read in the previous step, which ended with the
        // __syncthreads below; the step after this one reads it only after the next barrier.
        if (more) {
            sts_tile<LoaderA>(As[buf ^ 1], va, tid);
            sts_tile<LoaderB>(Bs[buf ^ 1], vb, tid);
        }
        __syncthreads();
        buf ^= 1;
    }
}

// Row (i) and column (j) of C, inside the block's tile, of this thread's acc[i][j] (the CUDA-core
// micro-tiles of both heights: i < 4 are rows ty*4 + i, i >= 4 (BM 128 only) 64 rows further).
__device__ __forceinline__ int tile_row(int i) { return (i / 4) * 64 + (threadIdx.x / 16) * 4 + (i % 4); }
__device__ __forceinline__ int tile_col(int j) { return (j < 4 ? 0 : 64) + (threadIdx.x % 16) * 4 + (j % 4); }

// The cores as types, so that a kernel body written once (template <class Core>) runs on any of
// them: Core::run computes this thread's micro-tile, Core::row and Core::col place its elements
// in the block's tile, Core::BM is the tile's height (the kernel's row blocks) and Core::MI the
// micro-tile's rows (acc is real[Core::MI][8]). A class rather than a plain `if`: only the
// chosen core, and its shared memory, is instantiated in a kernel.
template <int BM_>
struct GemmCoreShared {
    static const int BM = BM_, MI = BM_ / 16;
    template <class LoaderA, class LoaderB>
    static __device__ __forceinline__ void run(const LoaderA& la, const LoaderB& lb, int k0, int k1, real acc[MI][8])
    {
        gemm_core_shared<BM>(la, lb, k0, k1, acc);
    }
    static __device__ __forceinline__ int row(int i) { return tile_row(i); }
    static __device__ __forceinline__ int col(int j) { return tile_col(j); }
};

// ---- the sm_80 instructions of the two faster cores ------------------------------------------
// cp.async (a global -> shared copy that bypasses the registers), cvt.rna.tf32 and mma.sync on
// TF32, each wrapped in a small function. SM80_INSTRUCTIONS says they exist: on sm_80 and newer,
// and in the CPU emulation of the tests, whose shim (tests/cuda_emu/shim.h, included before this
// file) defines it along with its own versions of these five functions (copies that land only
// when waited for, the warp-wide mma computed lane by lane). Hence the `#elif` below tests
// SM80_INSTRUCTIONS and not only the architecture: C++ cannot replace a function defined here,
// so the emulation has to find them not defined.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SM80_INSTRUCTIONS 1

// One real from global to shared memory, asynchronously: dst = ok ? *src : 0 once waited for
// (4 or 8 bytes; src-size 0 when !ok: nothing is read, dst is zero-filled).
__device__ __forceinline__ void cp_async_real(real* dst, const real* src, bool ok)
{
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n"
                 :: "r"(s), "l"(src), "n"(int(sizeof(real))), "r"(ok ? int(sizeof(real)) : 0)
                 : "memory");
}

// Closes the group of cp.async issued since the last commit (one group per k-tile).
__device__ __forceinline__ void cp_async_commit()
{
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

// Waits until at most PENDING of this thread's committed groups are still in flight. Other
// threads' copies become visible only after the __syncthreads that follows.
template <int PENDING>
__device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" :: "n"(PENDING) : "memory");
}

// x rounded to TF32 (nearest, ties away from zero), as the bits mma.sync takes.
__device__ __forceinline__ unsigned to_tf32(float x)
{
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
}

// c += A (16x8) * B (8x8) for one warp, the fragments laid out as in gemm_core_tf32 below.
__device__ __forceinline__ void mma_tf32(float& c0, float& c1, float& c2, float& c3,
                                         const unsigned a[4], const unsigned b[2])
{
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

#elif !defined(SM80_INSTRUCTIONS)
// Below sm_80 (Turing): a cp.async is a plain copy, which is what it amounts to once waited
// for, and there is no TF32 mma (GemmCoreTF32 is GemmCoreAsync there).
__device__ __forceinline__ void cp_async_real(real* dst, const real* src, bool ok)
{
    *dst = ok ? *src : real(0);
}
__device__ __forceinline__ void cp_async_commit() {}
template <int PENDING>
__device__ __forceinline__ void cp_async_wait() {}
#endif

// ---- the cp.async core: the same tiles, fed through a deeper pipeline ------------------------
// gemm_core_shared stages each k-tile through registers (load to va/vb, then store to shared
// memory), so only one tile is ever in flight and the scattered im2col reads of conv2d sit
// exposed behind it. gemm_core_async copies global -> shared memory directly with cp.async
// (sm_80+; the copy bypasses the registers and zero-fills out-of-matrix elements), GEMM_STAGES
// tiles deep: while tile t is multiplied, tiles t+1 .. t+STAGES-1 are on their way. Still one
// __syncthreads per k-step. Shared memory: STAGES * 8 * (BM + 4 + 132) reals: BM 128 33.8 KB
// (float, 4 stages; double, 2 stages), BM 64 25.6 KB (both), under the 48 KB of static shared
// memory a block may have.
#if defined(PYCONV_DOUBLE)
#define GEMM_STAGES 2
#else
#define GEMM_STAGES 4
#endif

// Issues this thread's 4 copies of one operand's k-tile at k0 into the k-major tile s (none
// for a thread that holds none of the tile: holds_tile).
template <int LD, class Loader>
__device__ __forceinline__ void cp_async_tile(real (*s)[LD], const Loader& l, int k0, int tid)
{
    if (!holds_tile<Loader>(tid)) return;
    int off[4];
    bool ok[4];
    l.addrs(k0, off, ok);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        int kk, mn;
        tile_slot<Loader::MAPPING, Loader::TILE_MN>(tid, j, kk, mn);
        cp_async_real(&s[kk][mn], l.src + off[j], ok[j]);
    }
}

// The cp.async pipeline shared by gemm_core_async and gemm_core_tf32 (LDA, LDB: the row lengths
// of their A and B tiles). Prologue: tiles 0 .. STAGES-2 in flight. Every thread commits one
// group per slot, empty or not (a thread that holds none of the A tile, as well), so that
// "group t" always means "tile t" in the waits of pipeline_step.
template <int LDA, int LDB, class LoaderA, class LoaderB>
__device__ __forceinline__ void pipeline_prologue(real (*As)[GEMM_BK][LDA], real (*Bs)[GEMM_BK][LDB],
                                                  const LoaderA& la, const LoaderB& lb,
                                                  int k_begin, int tiles, int tid)
{
#pragma unroll
    for (int t = 0; t < GEMM_STAGES - 1; ++t) {
        if (t < tiles) {
            cp_async_tile(As[t], la, k_begin + t * GEMM_BK, tid);
            cp_async_tile(Bs[t], lb, k_begin + t * GEMM_BK, tid);
        }
        cp_async_commit();
    }
}

// Step t: returns the slot holding tile t, ready to read by every thread. Groups 0..t have
// landed (STAGES-2 younger ones may still fly); after the barrier all threads' copies of tile t
// are visible and every thread is done with tile t-1, whose slot is refilled with tile
// t+STAGES-1.
template <int LDA, int LDB, class LoaderA, class LoaderB>
__device__ __forceinline__ int pipeline_step(real (*As)[GEMM_BK][LDA], real (*Bs)[GEMM_BK][LDB],
                                             const LoaderA& la, const LoaderB& lb,
                                             int k_begin, int t, int tiles, int tid)
{
    cp_async_wait<GEMM_STAGES - 2>();
    __syncthreads();
    const int next = t + GEMM_STAGES - 1;
    if (next < tiles) {
        cp_async_tile(As[next % GEMM_STAGES], la, k_begin + next * GEMM_BK, tid);
        cp_async_tile(Bs[next % GEMM_STAGES], lb, k_begin + next * GEMM_BK, tid);
    }
    cp_async_commit();
    return t % GEMM_STAGES;
}

// The cp.async core: same contract and the same acc layout as gemm_core_shared.
template <int BM, class LoaderA, class LoaderB>
__device__ __forceinline__ void gemm_core_async(const LoaderA& la, const LoaderB& lb,
                                                int k_begin, int k_end, real acc[BM / 16][8])
{
    __shared__ __align__(16) real As[GEMM_STAGES][GEMM_BK][BM + GEMM_PAD];
    __shared__ __align__(16) real Bs[GEMM_STAGES][GEMM_BK][GEMM_LD];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int tiles = (k_end - k_begin + GEMM_BK - 1) / GEMM_BK;   // uniform across the block

    zero_acc<BM>(acc);
    pipeline_prologue(As, Bs, la, lb, k_begin, tiles, tid);
    for (int t = 0; t < tiles; ++t) {
        const int buf = pipeline_step(As, Bs, la, lb, k_begin, t, tiles, tid);
        micro_tile_fma<BM>(As[buf], Bs[buf], tx, ty, acc);
    }
    cp_async_wait<0>();   // no copy may outlive the block's shared memory (only empty groups remain)
}

template <int BM_>
struct GemmCoreAsync {
    static const int BM = BM_, MI = BM_ / 16;
    template <class LoaderA, class LoaderB>
    static __device__ __forceinline__ void run(const LoaderA& la, const LoaderB& lb, int k0, int k1, real acc[MI][8])
    {
        gemm_core_async<BM>(la, lb, k0, k1, acc);
    }
    static __device__ __forceinline__ int row(int i) { return tile_row(i); }
    static __device__ __forceinline__ int col(int j) { return tile_col(j); }
};

// ---- the TF32 core: tensor cores (opt-in, float32 only) ---------------------------------------
// The same BM x 128 block tile and gemm_core_async's cp.async pipeline, but the math runs on the
// tensor cores: each k-step of 8 is, per warp, (BM/32) x 4 mma.sync.m16n8k8 (TF32 in, FP32
// accumulate) over a BM/2 x 32 warp tile (8 warps as 2 x 4: 64x32 warp tiles for BM 128, 32x32
// for BM 64). Operands are rounded to TF32 (10-bit mantissa,
// cvt.rna) when read from shared memory, so products carry ~1e-3 relative error, as PyTorch
// with allow_tf32: an opt-in speed mode, never the default. Fragment layouts (PTX ISA, "Matrix
// Fragments for mma.m16n8k8", .tf32), with g = lane / 4 and tg = lane % 4:
//   A (16x8, row):  a0 (g, tg)  a1 (g+8, tg)  a2 (g, tg+4)  a3 (g+8, tg+4)
//   B (8x8, col):   b0 (k tg, n g)  b1 (k tg+4, n g)
//   C (16x8):       c0 (g, 2tg)  c1 (g, 2tg+1)  c2 (g+8, 2tg)  c3 (g+8, 2tg+1)
// Rows of BM + 8 (A) and 136 (B) reals in shared memory (both 8 mod 32): the 32 lanes of a
// fragment read (k = tg, m = g) at banks (8*tg + g) % 32, all different. In double builds
// GemmCoreTF32 is GemmCoreAsync (doubles are
// never TF32), and so it is without SM80_INSTRUCTIONS (Turing has no TF32 mma and no
// cvt.rna.tf32: ptxas refuses both), so that every module still compiles there; the wrapper
// never picks a TF32 variant on such a GPU (cuda_cupy.tf32_available).
// No kernel runs this core at BM 64 yet (the 64-row variants are on the cp.async core, the
// default's; TF32 is opt-in); tests/cuda_emu/cores64.cu checks that instantiation.
#define TF32_LD (GEMM_BN + 8)

#if !defined(PYCONV_DOUBLE) && defined(SM80_INSTRUCTIONS)
#define PYCONV_TF32 1
#endif

#if defined(PYCONV_TF32)
// The TF32 core: same contract as the others; acc[i][j] is row tf32_row<BM>(i), column tf32_col(j).
template <int BM, class LoaderA, class LoaderB>
__device__ __forceinline__ void gemm_core_tf32(const LoaderA& la, const LoaderB& lb,
                                               int k_begin, int k_end, float acc[BM / 16][8])
{
    __shared__ __align__(16) float As[GEMM_STAGES][GEMM_BK][BM + 8];
    __shared__ __align__(16) float Bs[GEMM_STAGES][GEMM_BK][TF32_LD];
    const int tid = threadIdx.x, warp = tid / 32, g = (tid % 32) / 4, tg = tid % 4;
    const int wm = (warp / 4) * (BM / 2), wn = (warp % 4) * 32;    // the warp's BM/2 x 32 tile
    const int tiles = (k_end - k_begin + GEMM_BK - 1) / GEMM_BK;

    zero_acc<BM>(acc);
    pipeline_prologue(As, Bs, la, lb, k_begin, tiles, tid);
    for (int t = 0; t < tiles; ++t) {
        const int buf = pipeline_step(As, Bs, la, lb, k_begin, t, tiles, tid);
        unsigned a[BM / 32][4], b[4][2];
#pragma unroll
        for (int mt = 0; mt < BM / 32; ++mt) {      // BM/32 m16 fragments of A
            const int m = wm + mt * 16 + g;
            a[mt][0] = to_tf32(As[buf][tg][m]);
            a[mt][1] = to_tf32(As[buf][tg][m + 8]);
            a[mt][2] = to_tf32(As[buf][tg + 4][m]);
            a[mt][3] = to_tf32(As[buf][tg + 4][m + 8]);
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {            // 4 n8 fragments of B
            const int n = wn + nt * 8 + g;
            b[nt][0] = to_tf32(Bs[buf][tg][n]);
            b[nt][1] = to_tf32(Bs[buf][tg + 4][n]);
        }
#pragma unroll
        for (int mt = 0; mt < BM / 32; ++mt)
#pragma unroll
            for (int nt = 0; nt < 4; ++nt)
                mma_tf32(acc[2 * mt][2 * nt], acc[2 * mt][2 * nt + 1], acc[2 * mt + 1][2 * nt],
                         acc[2 * mt + 1][2 * nt + 1], a[mt], b[nt]);
    }
    cp_async_wait<0>();
}

// Row (i) and column (j) of C, inside the block's tile, of acc[i][j] in the TF32 core:
// i = 2*mt + (second 8 rows), j = 2*nt + (odd column).
template <int BM>
__device__ __forceinline__ int tf32_row(int i)
{
    return (threadIdx.x / 128) * (BM / 2) + (i / 2) * 16 + (i % 2) * 8 + (threadIdx.x % 32) / 4;
}
__device__ __forceinline__ int tf32_col(int j)
{
    return ((threadIdx.x / 32) % 4) * 32 + (j / 2) * 8 + 2 * (threadIdx.x % 4) + (j % 2);
}

template <int BM_>
struct GemmCoreTF32 {
    static const int BM = BM_, MI = BM_ / 16;
    template <class LoaderA, class LoaderB>
    static __device__ __forceinline__ void run(const LoaderA& la, const LoaderB& lb, int k0, int k1, real acc[MI][8])
    {
        gemm_core_tf32<BM>(la, lb, k0, k1, acc);
    }
    static __device__ __forceinline__ int row(int i) { return tf32_row<BM>(i); }
    static __device__ __forceinline__ int col(int j) { return tf32_col(j); }
};
#else
template <int BM_>
struct GemmCoreTF32 : GemmCoreAsync<BM_> {};
#endif


// ---- the plain loader: an operand stored with fixed strides -------------------------------------
// Element (mn, k) of the operand (row mn of A, or column mn of B) is p[mn * s_mn + k * s_k];
// zero outside mn < MN, k < Kd. Covers matmul's operands and their transposes, and w seen as
// the (K, C*R*S) matrix of conv2d's forward. MAP: MN4 for an operand contiguous along mn, K8
// for one contiguous along k.
template <int MAP, int TILE = GEMM_BN>
struct Strided {
    static const int MAPPING = MAP, TILE_MN = TILE;   // TILE: GEMM_BN for B, the core's BM for A
    const real* src;
    int s_mn, s_k, MN, Kd, mn, kk;
    int base;   // offset of this thread's element 0 at k = 0 (the others: tile_step)
    __device__ Strided(const real* p_, int s_mn_, int s_k_, int MN_, int Kd_, int mn0)
        : src(p_), s_mn(s_mn_), s_k(s_k_), MN(MN_), Kd(Kd_)
    {
        tile_slot<MAP, TILE>(threadIdx.x, 0, kk, mn);
        mn += mn0;
        base = mn * s_mn + kk * s_k;
    }
    __device__ void addrs(int k0, int off[4], bool ok[4]) const
    {
        const int o = base + k0 * s_k;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int dk, dmn;
            tile_step<MAP, TILE>(j, dk, dmn);
            ok[j] = mn + dmn < MN && k0 + kk + dk < Kd;
            off[j] = ok[j] ? o + dmn * s_mn + dk * s_k : 0;
        }
    }
};
