/* gemm.c: the register-tiled, cache-blocked GEMM that conv2d.c and matmul.c are built on, plus the
 * thread count and the per-thread workspaces. See gemm.h for the packed layouts.
 *
 * Shapes: C (m x n) (+)= A (m x k) . B (k x n); A[i][kk] = a[i*rs + kk*cs], likewise B.
 * FLOPs: 2*m*n*k. Bytes moved from memory: A once per NC-wide block of columns, B once per call,
 * C once per KC-deep slice; with the blocking of gemm.h the kernel is compute-bound for
 * m, n, k >= ~64.
 *
 * Threading: none here. The callers (conv2d.c, matmul.c) give each thread whole tiles of C;
 * everything below works on one tile with the calling thread's own workspaces.
 *
 * The micro-kernel uses GCC/Clang vector extensions: `vec` is a fixed-width SIMD type, `s * v`
 * broadcasts a scalar, and `acc += a * b` becomes one fused multiply-add. The same source compiles
 * to AVX-512, AVX2 or SSE2 instructions depending on -march, with no intrinsics to port.
 *
 * The file is compiled once per element type: the first pass (REAL undefined) includes this file
 * twice more with REAL = float and double; the kernels are written once, after the #else.
 */
#ifndef REAL

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pyconv.h"
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

int pc_threads(void)
{
#ifdef _OPENMP
    if (g_forked)
        return 1;
    int n = g_num_threads > 0 ? g_num_threads : omp_get_max_threads();
    if (n > 1)
        g_pool_started = 1; /* the caller is about to open a parallel region with n threads */
    return n;
#else
    return 1;
#endif
}

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

/* ---- the kernels, once per element type ------------------------------------------------------ */

#define REAL float
#define SFX(name) name##_f32
#define NR PC_NR_f32
#include "gemm.c"
#undef REAL
#undef SFX
#undef NR

#define REAL double
#define SFX(name) name##_f64
#define NR PC_NR_f64
#include "gemm.c"
#undef REAL
#undef SFX
#undef NR

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
    const int64_t nfull = b_cs == 1 && pc_bytes(k * b_rs, sizeof(REAL)) <= PC_INPLACE_B_BYTES
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

#undef vec
#undef MR
#undef VL

#endif
