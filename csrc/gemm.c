/* gemm.c: the GEMM ladder that matmul.c (and conv2d's im2col steps) are built on, the
 * register-tiled, cache-blocked pieces the fast conv2d paths call directly, the thread count and
 * the per-thread workspaces. See gemm.h for the packed layouts and the ladder's contract.
 *
 * Shapes: C (m x n) (+)= A (m x k) . B (k x n); A[i][kk] = a[i*rs + kk*cs], likewise B.
 * FLOPs: 2*m*n*k, on every step. Bytes moved from memory, by step:
 *   1 naive     B re-read for every row of C: m*k*n reads from wherever B lives (DRAM once B
 *               outgrows the caches), strided down B's columns;
 *   2 blocked   a B2_KB x B2_NB block of B stays in L2 while every row of A sweeps it: A read
 *               n/B2_NB times, B once, C k/B2_KB times (from L1/L2);
 *   3, 4        A once per NC-wide block of columns, B once per call, C once per KC-deep slice;
 *               compute-bound for m, n, k >= ~64.
 *
 * Threading: steps 1-3 run on the calling thread with its own workspaces; step 4 gives each
 * thread whole tiles of C (gemm_tiles chooses them, for matmul's batches too), so no two threads
 * write the same element. The fast conv2d paths that call pc_gemm_block / pc_gemm_macro directly
 * do the same with their own tiles.
 *
 * The micro-kernel uses GCC/Clang vector extensions: `vec` is a fixed-width SIMD type, `s * v`
 * broadcasts a scalar, and `acc += a * b` becomes one fused multiply-add. The same source compiles
 * to AVX-512, AVX2 or SSE2 instructions depending on -march, with no intrinsics to port.
 *
 * The file is compiled once per element type: the first pass (REAL undefined) includes this file
 * twice more through instantiate.h, with REAL = float and double; the kernels are written once,
 * after the #else.
 */
#ifndef REAL

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pyconv.h"
#include "checked.h"
#include "gemm.h"

/* ---- threads --------------------------------------------------------------------------------- */

static int g_num_threads = 0; /* 0: the OpenMP default (OMP_NUM_THREADS, else the core count) */

int pc_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Fork: libgomp's thread pool does not survive fork(). A child of a process whose kernels have
 * run a parallel region would wait forever for pool threads that were not copied. So a child
 * forked after that runs every kernel on its own thread (g_forked); a child forked before any
 * parallel region may still start a pool of its own. */
static int g_pool_started = 0;
static int g_forked = 0;

static void after_fork_in_child(void)
{
    if (g_pool_started)
        g_forked = 1;
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

int pc_forked_single_threaded(void) { return g_forked; }

void pc_set_num_threads(int n) { g_num_threads = n > 0 ? n : 0; }

int pc_threads_for(int n)
{
#ifdef _OPENMP
    if (g_forked)
        return 1;
    if (n <= 0)
        n = g_num_threads > 0 ? g_num_threads : omp_get_max_threads();
    if (n > 1)
        g_pool_started = 1; /* the caller is about to open a parallel region with n threads */
    return n;
#else
    (void)n;
    return 1;
#endif
}

int pc_threads(void) { return pc_threads_for(0); }

int pc_get_num_threads(void) { return pc_threads(); }

const char *pc_build_info(void)
{
    return "gemm tile " PC_STR(PC_MR) " rows x 2 vectors of " PC_STR(PC_VEC_BYTES) " bytes"
#ifdef _OPENMP
           ", OpenMP"
#else
           ", single-threaded (built without OpenMP)"
#endif
#ifdef __AVX512F__
           ", AVX-512"
#elif defined(__AVX2__)
           ", AVX2"
#endif
        ;
}

/* ---- per-thread workspaces ------------------------------------------------------------------- */

typedef struct {
    void *ptr;
    size_t bytes;
} pc_buffer;

static pc_buffer *g_ws = NULL; /* g_ws[tid * PC_WS_SLOTS + slot] */
static int g_ws_threads = 0;

size_t pc_bytes(int64_t count, size_t elem)
{
    if (count < 0 || (uint64_t)count > (SIZE_MAX - 64) / elem)
        return SIZE_MAX;
    return (size_t)count * elem;
}

int pc_ws_reserve(int nthreads, int slot, size_t bytes)
{
    if (bytes == SIZE_MAX)
        return PC_ENOMEM;
    if (nthreads > g_ws_threads) {
        pc_buffer *grown = realloc(g_ws, sizeof(pc_buffer) * PC_WS_SLOTS * (size_t)nthreads);
        if (!grown)
            return PC_ENOMEM;
        memset(grown + (size_t)PC_WS_SLOTS * g_ws_threads, 0,
               sizeof(pc_buffer) * PC_WS_SLOTS * (size_t)(nthreads - g_ws_threads));
        g_ws = grown;
        g_ws_threads = nthreads;
    }
    bytes = (bytes + 63) & ~(size_t)63;
    for (int t = 0; t < nthreads; t++) {
        pc_buffer *buf = &g_ws[t * PC_WS_SLOTS + slot];
        if (buf->bytes >= bytes)
            continue;
        void *p = NULL;
        if (posix_memalign(&p, 64, bytes) != 0)
            return PC_ENOMEM;
        free(buf->ptr);
        buf->ptr = p;
        buf->bytes = bytes;
    }
    return PC_OK;
}

void *pc_ws_get(int tid, int slot) { return g_ws[tid * PC_WS_SLOTS + slot].ptr; }

size_t pc_workspace_bytes(void)
{
    size_t total = 0;
    for (int i = 0; i < g_ws_threads * PC_WS_SLOTS; i++)
        total += g_ws[i].bytes;
    return total;
}

/* The next kernel grows what it needs again: the Python side calls this only between kernels
 * (under the same lock as the kernels), never while one runs. */
void pc_workspace_release(void)
{
    for (int i = 0; i < g_ws_threads * PC_WS_SLOTS; i++) {
        free(g_ws[i].ptr);
        g_ws[i].ptr = NULL;
        g_ws[i].bytes = 0;
    }
}

void *pc_ws_find(int tid, int slot, size_t bytes)
{
    if (tid < 0 || tid >= g_ws_threads || g_ws[tid * PC_WS_SLOTS + slot].bytes < bytes)
        return NULL;
    return g_ws[tid * PC_WS_SLOTS + slot].ptr;
}

/* ---- the GEMM ladder's shared pieces --------------------------------------------------------- */

/* Step 2's cache blocks: a B2_KB x B2_NB block of B (128 KiB in float, 256 KiB in double) stays in
 * L2 while every row of A sweeps it, and the B2_NB-wide segment of one C row (1-2 KiB) stays in
 * L1 across the B2_KB rank-1 updates that add to it. */
#ifndef B2_KB
#define B2_KB 128   /* PYCONV_CFLAGS="-DB2_KB=64 -DB2_NB=512" tries others */
#endif
#ifndef B2_NB
#define B2_NB 256
#endif

/* step 3's packing buffers, in elements: one MC x KC block of A, one KC x NC block of B (NC
 * rounded up to whole panels of the wider, float, NR) */
#define GEMM3_A_ELEMS ((int64_t)pc_round_up(PC_MC, PC_MR) * PC_KC)
#define GEMM3_B_ELEMS ((int64_t)PC_KC * pc_round_up(PC_NC, PC_NR_f32))

/* sized for double, so one reservation serves both element types */
int pc_gemm_3_reserve(int nthreads)
{
    int err = pc_ws_reserve(nthreads, PC_WS_GEMM_A, pc_bytes(GEMM3_A_ELEMS, sizeof(double)));
    return err ? err : pc_ws_reserve(nthreads, PC_WS_GEMM_B, pc_bytes(GEMM3_B_ELEMS, sizeof(double)));
}

/* Step 4's tiles of C for `batch` products of m x n on nt threads: *mc rows by *nc columns, each
 * computed by one thread over the full depth. A tile spans all rows of C, so each packed KC x NC
 * block of B serves the whole height (packing B once per tile, A once per column block); tiles
 * narrow or shorten until every thread has one (halving keeps them multiples of nr and PC_MR).
 * Two threads sharing a column block both pack all of its B, two sharing a row block all of its
 * A: when B's rows are contiguous (rows_first) its panels are row copies, cheaper per element
 * than A's panels (stores MR apart), so the rows are split first. On the 6 MFLOP
 * (64x400)@(400x120), 2 threads: forward 48 -> 45 us, grad b 44 -> 40; grad a (B read
 * transposed) keeps narrowing: shortening made it 47 -> 53 us. */
static void gemm_tiles(int64_t batch, int64_t m, int64_t n, int64_t nr, int rows_first, int nt,
                       int64_t *mc_out, int64_t *nc_out)
{
    int64_t mc = pc_round_up(pc_max64(m, 1), PC_MR);
    int64_t nc = pc_min64(PC_NC, pc_round_up(pc_max64(n, 1), nr));
    while (pc_smul3(batch, pc_ceil_div(m, mc), pc_ceil_div(n, nc)) < nt) {
        if (rows_first && mc >= 2 * PC_MR)
            mc = pc_round_up(mc / 2, PC_MR);
        else if (nc >= 2 * nr)
            nc = pc_round_up(nc / 2, nr);
        else if (mc >= 2 * PC_MR)
            mc = pc_round_up(mc / 2, PC_MR);
        else
            break;
    }
    *mc_out = mc;
    *nc_out = nc;
}

/* ---- the kernels, once per element type ------------------------------------------------------ */

#define PC_SELF "gemm.c"
#include "instantiate.h"

#else /* REAL defined: the kernels for one element type */

#define MR PC_MR
#define VL (PC_VEC_BYTES / (int)sizeof(REAL)) /* lanes per vector; NR = 2 * VL */

typedef REAL SFX(vec) __attribute__((vector_size(PC_VEC_BYTES)));
#define vec SFX(vec)

static inline vec SFX(load)(const REAL *p)
{
    vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void SFX(store)(REAL *p, vec v) { memcpy(p, &v, sizeof v); }

/* The micro-kernel: C[0:m, 0:n] (+)= A_panel . B_panel, with m <= MR, n <= NR.
 * a: MR-row panel (a[kk*MR + i]), kc deep. B comes in one of two forms:
 *   off == NULL  b is a packed NR-column panel (b[kk*NR + j]);
 *   otherwise    row kk of B is NR consecutive values at b + off[kk] (unpacked, "indirect").
 * It is always inlined, so each caller gets a copy with the form fixed at compile time. */
static inline __attribute__((always_inline)) void
SFX(micro_kernel_any)(int64_t kc, const REAL *restrict a, const REAL *restrict b,
                      const int64_t *restrict off, REAL *restrict c, int64_t ldc, int64_t m,
                      int64_t n, int accumulate)
{
    vec acc0[MR], acc1[MR];
    PC_UNROLL
    for (int i = 0; i < MR; i++) {
        acc0[i] = (vec){0};
        acc1[i] = (vec){0};
    }
    for (int64_t kk = 0; kk < kc; kk++) {
        vec b0, b1;
        if (off) {
            b0 = SFX(load)(b + off[kk]);
            b1 = SFX(load)(b + off[kk] + VL);
        } else {
            b0 = *(const vec *)(b + kk * NR);
            b1 = *(const vec *)(b + kk * NR + VL);
        }
        PC_UNROLL
        for (int i = 0; i < MR; i++) {
            REAL ai = a[kk * MR + i];
            acc0[i] += ai * b0;
            acc1[i] += ai * b1;
        }
    }
    if (m == MR && n == NR) {
        PC_UNROLL
        for (int i = 0; i < MR; i++) {
            REAL *ci = c + i * ldc;
            if (accumulate) {
                acc0[i] += SFX(load)(ci);
                acc1[i] += SFX(load)(ci + VL);
            }
            SFX(store)(ci, acc0[i]);
            SFX(store)(ci + VL, acc1[i]);
        }
        return;
    }
    /* edge tile: spill the registers and copy the valid part */
    REAL tile[MR * NR];
    for (int i = 0; i < MR; i++) {
        SFX(store)(tile + i * NR, acc0[i]);
        SFX(store)(tile + i * NR + VL, acc1[i]);
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
}

static void SFX(micro_kernel)(int64_t kc, const REAL *restrict a, const REAL *restrict b,
                              REAL *restrict c, int64_t ldc, int64_t m, int64_t n, int accumulate)
{
    SFX(micro_kernel_any)(kc, a, b, NULL, c, ldc, m, n, accumulate);
}

static void SFX(micro_kernel_indirect)(int64_t kc, const REAL *restrict a, const REAL *restrict b,
                                       const int64_t *restrict off, REAL *restrict c, int64_t ldc,
                                       int64_t m, int64_t n, int accumulate)
{
    SFX(micro_kernel_any)(kc, a, b, off, c, ldc, m, n, accumulate);
}

/* Pack A (mc x kc) into MR-row panels; rows past mc are zero. */
void SFX(pc_pack_a)(int64_t mc, int64_t kc, const REAL *a, int64_t rs, int64_t cs, REAL *dst)
{
    for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
        int64_t mr = pc_min64(MR, mc - i0);
        const REAL *ap = a + i0 * rs;
        if (cs == 1) {          /* rows contiguous: read along each row, write with stride MR */
            for (int64_t i = 0; i < mr; i++)
                for (int64_t kk = 0; kk < kc; kk++)
                    dst[kk * MR + i] = ap[i * rs + kk];
        } else {                /* columns contiguous (a transposed view): rows of the panel copy */
            for (int64_t kk = 0; kk < kc; kk++)
                for (int64_t i = 0; i < mr; i++)
                    dst[kk * MR + i] = ap[i * rs + kk * cs];
        }
        for (int64_t i = mr; i < MR; i++)
            for (int64_t kk = 0; kk < kc; kk++)
                dst[kk * MR + i] = 0;
    }
}

/* Pack B (kc x nc) into NR-column panels; columns past nc are zero. */
void SFX(pc_pack_b)(int64_t kc, int64_t nc, const REAL *b, int64_t rs, int64_t cs, REAL *dst)
{
    for (int64_t j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
        int64_t nr = pc_min64(NR, nc - j0);
        const REAL *bp = b + j0 * cs;
        if (cs == 1) {
            for (int64_t kk = 0; kk < kc; kk++) {
                memcpy(dst + kk * NR, bp + kk * rs, sizeof(REAL) * nr);
                for (int64_t j = nr; j < NR; j++)
                    dst[kk * NR + j] = 0;
            }
        } else {
            for (int64_t j = 0; j < nr; j++)
                for (int64_t kk = 0; kk < kc; kk++)
                    dst[kk * NR + j] = bp[j * cs + kk * rs];
            for (int64_t kk = 0; kk < kc; kk++)
                for (int64_t j = nr; j < NR; j++)
                    dst[kk * NR + j] = 0;
        }
    }
}

/* C (mc x nc) (+)= packed A (mc x kc) . packed B (kc x nc). The B panel (kc x NR) stays in L1
 * while the loop over i walks MC rows of A at a time. */
void SFX(pc_gemm_macro)(int64_t mc, int64_t nc, int64_t kc, const REAL *pa, const REAL *pb,
                        REAL *c, int64_t ldc, int accumulate)
{
    const int64_t step = PC_MC / MR * MR; /* whole panels: pa + ir*kc must start a panel */
    for (int64_t ic = 0; ic < mc; ic += step) {
        int64_t mb = pc_min64(step, mc - ic);
        for (int64_t jr = 0; jr < nc; jr += NR)
            for (int64_t ir = ic; ir < ic + mb; ir += MR)
                SFX(micro_kernel)(kc, pa + ir * kc, pb + jr * kc, c + ir * ldc + jr, ldc,
                                  pc_min64(MR, mc - ir), pc_min64(NR, nc - jr), accumulate);
    }
}

/* pc_gemm_macro without packing B: B[kk][j] = b[off[kk] + j] (see gemm.h). */
void SFX(pc_gemm_macro_indirect)(int64_t mc, int64_t nc, int64_t kc, const REAL *pa,
                                 const REAL *b, const int64_t *off, REAL *c, int64_t ldc,
                                 int accumulate)
{
    const int64_t step = PC_MC / MR * MR;
    for (int64_t ic = 0; ic < mc; ic += step) {
        int64_t mb = pc_min64(step, mc - ic);
        for (int64_t jr = 0; jr < nc; jr += NR)
            for (int64_t ir = ic; ir < ic + mb; ir += MR)
                SFX(micro_kernel_indirect)(kc, pa + ir * kc, b + jr, off, c + ir * ldc + jr, ldc,
                                           pc_min64(MR, mc - ir), pc_min64(NR, nc - jr),
                                           accumulate);
    }
}

/* One thread computes a whole m x n block of C over the full depth k.
 * pa needs round_up(min(m, MC), MR) * KC elements, pb KC * round_up(n, NR). */
void SFX(pc_gemm_block)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t a_rs,
                        int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c,
                        int64_t ldc, int accumulate, REAL *pa, REAL *pb)
{
    if (k == 0) {
        if (!accumulate)
            for (int64_t i = 0; i < m; i++)
                memset(c + i * ldc, 0, sizeof(REAL) * n);
        return;
    }
    /* Rows of b contiguous and all of b within L2 (small products such as LeNet's fully
     * connected layer): the whole NR-column panels are read in place, only the last, partial one
     * is packed (reading it in place would run past the end of b). Big b stays packed: rows a
     * multiple of 4 KiB apart would fight over the same L1 sets. */
    const int64_t nfull = b_cs == 1 && pc_bytes(pc_smul(k, b_rs), sizeof(REAL)) <= PC_INPLACE_B_BYTES
                              ? n / NR * NR : 0;
    int64_t off[PC_KC];
    for (int64_t kk = 0; kk < PC_KC; kk++)
        off[kk] = kk * b_rs;
    for (int64_t pc = 0; pc < k; pc += PC_KC) {
        int64_t kc = pc_min64(PC_KC, k - pc);
        if (n > nfull)
            SFX(pc_pack_b)(kc, n - nfull, b + pc * b_rs + nfull * b_cs, b_rs, b_cs, pb);
        for (int64_t ic = 0; ic < m; ic += PC_MC) {
            int64_t mc = pc_min64(PC_MC, m - ic);
            SFX(pc_pack_a)(mc, kc, a + ic * a_rs + pc * a_cs, a_rs, a_cs, pa);
            if (nfull > 0)
                SFX(pc_gemm_macro_indirect)(mc, nfull, kc, pa, b + pc * b_rs, off, c + ic * ldc,
                                            ldc, accumulate || pc > 0);
            if (n > nfull)
                SFX(pc_gemm_macro)(mc, n - nfull, kc, pa, pb, c + ic * ldc + nfull, ldc,
                                   accumulate || pc > 0);
        }
    }
}

/* ---- the GEMM ladder ----------------------------------------------------------------------- */

/* Step 1: one dot product per element of C, kk innermost. Each C element is read and written
 * once; B is walked down a column (stride b_rs) for every one of them. */
int SFX(pc_gemm_1_naive)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t a_rs,
                         int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c,
                         int64_t ldc, int accumulate)
{
    /* BEGIN LAB 5: step 1, C (+)= A . B by the i, j, kk loops, reading A and B through their strides */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            REAL acc = 0;
            for (int64_t kk = 0; kk < k; kk++)
                acc += a[i * a_rs + kk * a_cs] * b[kk * b_rs + j * b_cs];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc : acc;
        }
    return PC_OK;
    /* END LAB 5 */
}

/* y[0:n] += alpha * x[0:n*incx:incx]. The contiguous case is its own loop so the compiler
 * vectorises it without guessing incx. */
static inline void SFX(axpy)(int64_t n, REAL alpha, const REAL *restrict x, int64_t incx,
                             REAL *restrict y)
{
    if (incx == 1)
        for (int64_t j = 0; j < n; j++)
            y[j] += alpha * x[j];
    else
        for (int64_t j = 0; j < n; j++)
            y[j] += alpha * x[j * incx];
}

/* Step 2: the loops reordered (i, kk, j: C row += A[i][kk] * B row, contiguous along j) and
 * tiled so a B2_KB x B2_NB block of B is reused from cache by every row of A (B2_* above). The
 * inner loop is scalar code the compiler may vectorise; C is loaded and stored for every kk. */
int SFX(pc_gemm_2_blocked)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t a_rs,
                           int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c,
                           int64_t ldc, int accumulate)
{
    /* BEGIN LAB 5: step 2, the loops in i, kk, j order, tiled by B2_KB x B2_NB blocks of B (axpy does one row update) */
    if (!accumulate)
        for (int64_t i = 0; i < m; i++)
            memset(c + i * ldc, 0, sizeof(REAL) * n);
    for (int64_t j0 = 0; j0 < n; j0 += B2_NB) {
        const int64_t nb = pc_min64(B2_NB, n - j0);
        for (int64_t k0 = 0; k0 < k; k0 += B2_KB) {
            const int64_t kb = pc_min64(B2_KB, k - k0);
            for (int64_t i = 0; i < m; i++)
                for (int64_t kk = k0; kk < k0 + kb; kk++)
                    SFX(axpy)(nb, a[i * a_rs + kk * a_cs], b + kk * b_rs + j0 * b_cs, b_cs,
                              c + i * ldc + j0);
        }
    }
    return PC_OK;
    /* END LAB 5 */
}

/* Step 3: pc_gemm_block (packed panels, register-tiled micro-kernel) over NC-wide blocks of
 * columns, on the calling thread, packing into its reserved workspaces (gemm.h: the rule) or,
 * when it has none, into buffers allocated for this call. */
int SFX(pc_gemm_3_packed)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t a_rs,
                          int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c,
                          int64_t ldc, int accumulate)
{
    if (m == 0 || n == 0)
        return PC_OK;
    const size_t abytes = pc_bytes(GEMM3_A_ELEMS, sizeof(REAL));
    const size_t bbytes = pc_bytes(GEMM3_B_ELEMS, sizeof(REAL));
    REAL *pa = pc_ws_find(pc_tid(), PC_WS_GEMM_A, abytes);
    REAL *pb = pc_ws_find(pc_tid(), PC_WS_GEMM_B, bbytes);
    void *own = NULL;
    if (!pa || !pb) {
        const size_t aoff = (abytes + 63) & ~(size_t)63; /* pb 64-byte aligned, as the kernel loads it */
        if (posix_memalign(&own, 64, aoff + bbytes) != 0)
            return PC_ENOMEM;
        pa = own;
        pb = (REAL *)((char *)own + aoff);
    }
    for (int64_t j0 = 0; j0 < n; j0 += PC_NC)
        SFX(pc_gemm_block)(m, pc_min64(PC_NC, n - j0), k, a, a_rs, a_cs, b + j0 * b_cs, b_rs,
                           b_cs, c + j0, ldc, accumulate, pa, pb);
    free(own);
    return PC_OK;
}

/* Step 4 over `batch` products: work item = (product, row block, column block) of C, tiles from
 * gemm_tiles, taken dynamically by the threads. Each item is one pc_gemm_block over the full
 * depth k into its own tile of C, so no two threads write the same element and every element is
 * the same sum in the same order as in step 3, whatever the thread count. */
int SFX(pc_gemm_4_batched)(int64_t batch, int64_t m, int64_t n, int64_t k, const REAL *a,
                           int64_t a_bs, int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_bs,
                           int64_t b_rs, int64_t b_cs, REAL *c, int64_t c_bs, int64_t ldc,
                           int accumulate)
{
    const int nt = pc_threads();
    int64_t mc, nc;
    gemm_tiles(batch, m, n, NR, b_cs == 1, nt, &mc, &nc);
    int err = pc_ws_reserve(nt, PC_WS_GEMM_A, pc_bytes(pc_smul(pc_round_up(pc_min64(mc, PC_MC), MR),
                                                               PC_KC), sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_GEMM_B,
                            pc_bytes(pc_smul(PC_KC, pc_round_up(nc, NR)), sizeof(REAL)));
    if (err)
        return err;
    /* BEGIN LAB 5: step 4, every (product, mc-row block, nc-column block) tile of C by pc_gemm_block in one OpenMP loop */
    const int64_t mblk = pc_ceil_div(m, mc), nblk = pc_ceil_div(n, nc);
    const int64_t items = pc_smul3(batch, mblk, nblk);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t t = it / (mblk * nblk), i0 = it / nblk % mblk * mc, j0 = it % nblk * nc;
        int tid = pc_tid();
        SFX(pc_gemm_block)(pc_min64(mc, m - i0), pc_min64(nc, n - j0), k,
                           a + t * a_bs + i0 * a_rs, a_rs, a_cs, b + t * b_bs + j0 * b_cs, b_rs,
                           b_cs, c + t * c_bs + i0 * ldc + j0, ldc, accumulate,
                           pc_ws_get(tid, PC_WS_GEMM_A), pc_ws_get(tid, PC_WS_GEMM_B));
    }
    return PC_OK;
    /* END LAB 5 */
}

/* Step 4: step 3 with the tiles of C shared among OpenMP threads (pc_gemm_4_batched, one product). */
int SFX(pc_gemm_4_parallel)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t a_rs,
                            int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c,
                            int64_t ldc, int accumulate)
{
    return SFX(pc_gemm_4_batched)(1, m, n, k, a, 0, a_rs, a_cs, b, 0, b_rs, b_cs, c, 0, ldc,
                                  accumulate);
}

#undef vec
#undef MR
#undef VL

#endif
