/* gemm.h: the blocked GEMM pieces shared by the conv2d_*.c files and matmul.c, the GEMM ladder,
 * and the per-thread workspaces.
 *
 * C (m x n) (+)= A (m x k) . B (k x n), built the GotoBLAS/BLIS way:
 *
 *   pack A into MR-row panels  (a[kk*MR + i]: for each kk, MR consecutive rows side by side)
 *   pack B into NR-column panels (b[kk*NR + j]: for each kk, NR consecutive columns side by side)
 *   micro-kernel: an MR x NR tile of C held in vector registers, updated by one rank-1 product
 *                 (MR broadcasts of A times NR/VL vector loads of B) per kk.
 *
 * Packing lets every operand be read with any row/column strides (so transposes cost nothing
 * extra) and lets conv2d pack its B panels straight from the image (implicit im2col) instead of
 * building a column matrix. Panels are zero-padded past the last row/column, never past k, so
 * padded lanes only ever produce results that are thrown away.
 *
 * Indirect B: when row kk of B is already NR-contiguous in memory at b + off[kk] + j (a zero-padded
 * image in conv2d_forward.c: every column-matrix row is a shifted copy of the image), the macro kernel
 * can read it in place (pc_gemm_macro_indirect) instead of packing it; the reads run up to NR - 1
 * values past the last column, which the caller must keep readable. Same sums, same order.
 *
 * Each C element is the sum over k in ascending order, KC terms at a time, whatever tile or thread
 * computes it: results do not depend on the blocking of m and n, nor on the thread count.
 */
#ifndef PYCONV_GEMM_H
#define PYCONV_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Vector width and register tile. AVX-512 has 32 vector registers: an 8 x 2-vector tile uses 16
 * accumulators, 2 for B and 1 broadcast. AVX2 and SSE have 16: a 6 x 2-vector tile (12 + 3). */
#if defined(PC_VEC_BYTES) && defined(PC_MR)
/* set on the command line (PYCONV_CFLAGS) to try other tiles */
#elif defined(__AVX512F__)
#define PC_VEC_BYTES 64
#define PC_MR 8
#elif defined(__AVX__)
#define PC_VEC_BYTES 32
#define PC_MR 6
#else
#define PC_VEC_BYTES 16
#define PC_MR 6
#endif
#define PC_NR_f32 (2 * PC_VEC_BYTES / 4)
#define PC_NR_f64 (2 * PC_VEC_BYTES / 8)

/* Cache blocking: a KC x NR panel of B (KC*NR*4 = 32 KiB in float on AVX-512) stays in L1 while
 * the micro-kernel walks the MC x KC block of A held in L2 (128 KiB); NC bounds the packed B block. */
#ifndef PC_KC
#define PC_KC 256
#endif
#ifndef PC_MC
#define PC_MC 128
#endif
#ifndef PC_NC
#define PC_NC 512
#endif

/* pc_gemm_block reads b in place (no packing) when b's rows are contiguous and it is at most
 * this big: half of the 1 MiB L2 of the development machine */
#ifndef PC_INPLACE_B_BYTES
#define PC_INPLACE_B_BYTES (512 * 1024)
#endif

#if defined(__clang__)
#define PC_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define PC_UNROLL _Pragma("GCC unroll 16")
#else
#define PC_UNROLL
#endif

#define PC_STR_(x) #x
#define PC_STR(x) PC_STR_(x)

static inline int64_t pc_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t pc_max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t pc_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t pc_round_up(int64_t a, int64_t b) { return pc_ceil_div(a, b) * b; }

#ifdef _OPENMP
#include <omp.h>
static inline int pc_tid(void) { return omp_get_thread_num(); }
#else
static inline int pc_tid(void) { return 0; }
#endif

/* Number of threads a kernel runs with (pc_set_num_threads, else OMP_NUM_THREADS, else cores).
 * pc_threads_for(n): the same for a caller that asks for n threads itself (n <= 0: the default);
 * both return 1 in a child forked after a parallel region, and are to be called just before
 * opening one (they record that the pool now exists, for the fork rule). */
int pc_threads(void);
int pc_threads_for(int n);

/* Per-thread workspaces, kept across calls: slot `slot` of thread `tid` is grown to `bytes` (never
 * shrunk) by pc_ws_reserve, called once before a parallel region for all `nthreads` threads, so no
 * thread allocates inside it. Fresh memory costs about 1.1 us per 4 KiB page on the development
 * machine (a page fault each): reusing the buffers saves 15-30% on large layers. Returns PC_OK or
 * PC_ENOMEM. Buffers are 64-byte aligned. */
enum { PC_WS_A = 0, PC_WS_B = 1, PC_WS_COL = 2, PC_WS_PAD = 3, PC_WS_SHARED = 4, PC_WS_SHARED2 = 5,
       PC_WS_GEMM_A = 6, PC_WS_GEMM_B = 7, PC_WS_SLOTS = 8 };
int pc_ws_reserve(int nthreads, int slot, size_t bytes);
void *pc_ws_get(int tid, int slot);
/* slot `slot` of thread `tid` if it has been reserved with at least `bytes`, else NULL */
void *pc_ws_find(int tid, int slot, size_t bytes);
/* bytes of `count` elements of `elem` bytes, or SIZE_MAX when that overflows */
size_t pc_bytes(int64_t count, size_t elem);

#define PC_GEMM_DECLARE(T, SFX)                                                                   \
    void pc_pack_a##SFX(int64_t mc, int64_t kc, const T *a, int64_t rs, int64_t cs, T *dst);      \
    void pc_pack_b##SFX(int64_t kc, int64_t nc, const T *b, int64_t rs, int64_t cs, T *dst);      \
    void pc_gemm_macro##SFX(int64_t mc, int64_t nc, int64_t kc, const T *pa, const T *pb,         \
                            T *c, int64_t ldc, int accumulate);                                   \
    void pc_gemm_macro_indirect##SFX(int64_t mc, int64_t nc, int64_t kc, const T *pa,          \
                                     const T *b, const int64_t *off, T *c, int64_t ldc,          \
                                     int accumulate);                                            \
    void pc_gemm_block##SFX(int64_t m, int64_t n, int64_t k, const T *a, int64_t a_rs,            \
                            int64_t a_cs, const T *b, int64_t b_rs, int64_t b_cs, T *c,           \
                            int64_t ldc, int accumulate, T *pa, T *pb);

/* The GEMM ladder, one idea per step; all compute C (m x n) (+)= A (m x k) . B (k x n) with
 * strided operands (A[i][kk] = a[i*a_rs + kk*a_cs], likewise B; C rows ldc apart) and return
 * PC_OK or PC_ENOMEM. matmul.c runs them as its steps; conv2d's im2col steps run them on the
 * column matrix. accumulate = 0 overwrites C, 1 adds to it.
 *   1 naive      the i, j, kk triple loop, one dot product per element of C
 *   2 blocked    loops tiled so a block of B and a row of C stay in cache; still scalar
 *   3 packed     panels of A and B packed, an MR x NR register-tiled vector micro-kernel
 *   4 parallel   3 with the tiles of C shared among OpenMP threads (each C element one owner)
 * Steps 3 and 4 sum every C element in ascending kk, KC terms at a time, whatever the tiling or
 * thread count: their results are bit-identical to each other.
 *
 * Threads and workspaces. Steps 1-3 run on the calling thread, which may be any thread of a
 * parallel region the caller opened (one image per thread, say). Step 3 packs into that thread's
 * own PC_WS_GEMM_A / PC_WS_GEMM_B workspaces, slots no other kernel uses, so a caller's own
 * workspaces survive the call. The rule: call pc_gemm_3_reserve(nthreads) before opening the
 * parallel region whose threads call step 3 (workspaces must not be allocated inside one). A
 * thread that finds no reserved workspace packs into buffers malloc'ed for that call: correct,
 * but each call then pays for fresh pages. Step 4 opens its own parallel region (pc_threads()
 * threads) and reserves its workspaces itself: call it outside any parallel region.
 * pc_gemm_4_batched is step 4 over `batch` independent products (a + t*a_bs, b + t*b_bs,
 * c + t*c_bs), their tiles shared among the threads together: matmul's batched step 4. */
int pc_gemm_3_reserve(int nthreads);
#define PC_GEMM_LADDER(T, SFX)                                                                    \
    int pc_gemm_1_naive##SFX(int64_t m, int64_t n, int64_t k, const T *a, int64_t a_rs,          \
                             int64_t a_cs, const T *b, int64_t b_rs, int64_t b_cs, T *c,         \
                             int64_t ldc, int accumulate);                                       \
    int pc_gemm_2_blocked##SFX(int64_t m, int64_t n, int64_t k, const T *a, int64_t a_rs,        \
                               int64_t a_cs, const T *b, int64_t b_rs, int64_t b_cs, T *c,       \
                               int64_t ldc, int accumulate);                                     \
    int pc_gemm_3_packed##SFX(int64_t m, int64_t n, int64_t k, const T *a, int64_t a_rs,         \
                              int64_t a_cs, const T *b, int64_t b_rs, int64_t b_cs, T *c,        \
                              int64_t ldc, int accumulate);                                      \
    int pc_gemm_4_parallel##SFX(int64_t m, int64_t n, int64_t k, const T *a, int64_t a_rs,       \
                                int64_t a_cs, const T *b, int64_t b_rs, int64_t b_cs, T *c,      \
                                int64_t ldc, int accumulate);                                    \
    int pc_gemm_4_batched##SFX(int64_t batch, int64_t m, int64_t n, int64_t k, const T *a,       \
                               int64_t a_bs, int64_t a_rs, int64_t a_cs, const T *b,            \
                               int64_t b_bs, int64_t b_rs, int64_t b_cs, T *c, int64_t c_bs,    \
                               int64_t ldc, int accumulate);
PC_GEMM_LADDER(float, _f32)
PC_GEMM_LADDER(double, _f64)
#undef PC_GEMM_LADDER

PC_GEMM_DECLARE(float, _f32)
PC_GEMM_DECLARE(double, _f64)
#undef PC_GEMM_DECLARE

#endif
