/* matmul.c: batched matrix product c[b] = a[b] . b[b] and, through strides, its gradients.
 *
 * Shapes: a (B,M,K), b (B,K,N), c (B,M,N). The operands are read through (row, column) strides,
 * A[i][k] = a[batch*M*K + i*a_rs + k*a_cs], so the Python side passes transposed views for
 *   da = dc . b^T  (a = dc, b = b read with rs=1, cs=N)   and   db = a^T . dc  (a read transposed).
 * c is always a fresh contiguous (B,M,N) array.
 *
 * FLOPs: 2*B*M*N*K on every step. Bytes: a, b and c once each at best (4 or 8 bytes an element:
 * B*(M*K + K*N + M*N)); for 1024^3 the product is compute-bound (2 GFLOP against 12 MB), so what
 * separates the steps is how often they re-read a and b from memory and how many FLOPs a cycle
 * their inner loop issues.
 *
 * The ladder: each step is the GEMM step of the same number (gemm.h, gemm.c), run over the batch.
 *   1 naive     the i, j, k triple loop, a dot product per element of c; b read down its columns
 *               for every element: B*M*N*K reads, scalar, one thread
 *   2 blocked   loops reordered (i, k, j) and tiled so a block of b stays in L2 and a segment of
 *               a c row in L1: each b element read from memory once per call; scalar, one thread
 *   3 packed    a and b packed into panels, an MR x NR tile of c held in vector registers and
 *               updated by fused multiply-adds (the register-tiled micro-kernel); one thread
 *   4 parallel  3 with the tiles of c (batch, row block, column block) shared among OpenMP
 *               threads, the default. Tiles span all of M unless there are fewer tiles than
 *               threads; then they shrink (to multiples of the register tile) to feed them all.
 * Steps 3 and 4 sum over k in ascending order, KC terms at a time, whatever the tiling: no two
 * threads write the same element and their results are bit-identical, for any thread count.
 * Measured, GFLOP/s, 2-core AVX2 machine, float32, 2 threads, FMA peak 181
 * (python -m pyconv bench --ladder --op matmul; benchmarks/NOTES.md),
 * 512x512 @ 512x512 / 64x400 @ 400x120:
 *   1: 1.0 / 1.4   2: 11.8 / 13.2   3: 45.2 / 45.5   4: 85.7 / 31.2
 * (the small product has too few tiles for 2 threads)
 *
 * Workspaces: one packed A block and one packed B block per thread (gemm.h's PC_WS_GEMM_A/B),
 * reused across calls.
 */
#ifndef REAL

#include "pyconv.h"
#include "checked.h"
#include "gemm.h"
#include "steps.h"

/* The shape check of both entry points: PC_EINVAL for negative sizes or strides, a count past
 * PC_SIZE_MAX, or strides that would read outside one batch's (rows x cols) block. */
static int operand_ok(int64_t rows, int64_t cols, int64_t rs, int64_t cs)
{
    if (rows < 0 || cols < 0 || rs < 0 || cs < 0)
        return 0;
    if (rows == 0 || cols == 0)
        return 1;
    int64_t last = pc_sadd(pc_smul(rows - 1, rs), pc_smul(cols - 1, cs));
    return last < pc_smul(rows, cols);
}

static int matmul_check(int64_t B, int64_t M, int64_t N, int64_t K, int64_t a_rs, int64_t a_cs,
                        int64_t b_rs, int64_t b_cs)
{
    if (B < 0 || pc_smul3(B, M, K) >= PC_SIZE_MAX || pc_smul3(B, K, N) >= PC_SIZE_MAX ||
        pc_smul3(B, M, N) >= PC_SIZE_MAX || !operand_ok(M, K, a_rs, a_cs) ||
        !operand_ok(K, N, b_rs, b_cs))
        return PC_EINVAL;
    return PC_OK;
}

static const pc_step_info matmul_steps[] = {
    {"naive", "the i, j, k triple loop, one dot product per element of c"},
    {"blocked", "loops tiled so a block of b and a row of c stay in cache; scalar"},
    {"packed", "packed panels, register-tiled vector micro-kernel; one thread"},
    {"parallel", "the tiles of c shared among OpenMP threads"},
};
const pc_step_table pc_matmul_steps = {"matmul", matmul_steps, PC_STEP_COUNT(matmul_steps)};

#define PC_SELF "matmul.c"
#include "instantiate.h"

/* The entry points: the shape check, then the step's function. */
int pc_matmul_f32(int64_t B, int64_t M, int64_t N, int64_t K, const float *a, int64_t a_rs,
                  int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float *c, int step,
                  int *ran)
{
    const int k = pc_step_choose(&pc_matmul_steps, step);
    if (ran)
        *ran = k;
    if (matmul_check(B, M, N, K, a_rs, a_cs, b_rs, b_cs))
        return PC_EINVAL;
    switch (k) {
    case 1: return matmul_1_naive_f32(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
    case 2: return matmul_2_blocked_f32(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
    case 3: return matmul_3_packed_f32(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
    case 4: return matmul_4_parallel_f32(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
    default: return PC_EINVAL;
    }
}

int pc_matmul_f64(int64_t B, int64_t M, int64_t N, int64_t K, const double *a, int64_t a_rs,
                  int64_t a_cs, const double *b, int64_t b_rs, int64_t b_cs, double *c, int step,
                  int *ran)
{
    const int k = pc_step_choose(&pc_matmul_steps, step);
    if (ran)
        *ran = k;
    if (matmul_check(B, M, N, K, a_rs, a_cs, b_rs, b_cs))
        return PC_EINVAL;
    switch (k) {
    case 1: return matmul_1_naive_f64(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
    case 2: return matmul_2_blocked_f64(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
    case 3: return matmul_3_packed_f64(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
    case 4: return matmul_4_parallel_f64(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
    default: return PC_EINVAL;
    }
}

#else /* REAL defined: the steps for one element type; the arguments have passed matmul_check */

typedef int (*SFX(gemm_step))(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t a_rs,
                              int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c,
                              int64_t ldc, int accumulate);

/* Steps 1-3: their GEMM step on each product of the batch in turn, on this thread. */
static int SFX(matmul_each)(SFX(gemm_step) gemm, int64_t B, int64_t M, int64_t N, int64_t K,
                            const REAL *a, int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs,
                            int64_t b_cs, REAL *c)
{
    for (int64_t t = 0; t < B; t++) {
        int err = gemm(M, N, K, a + t * M * K, a_rs, a_cs, b + t * K * N, b_rs, b_cs,
                       c + t * M * N, N, 0);
        if (err)
            return err;
    }
    return PC_OK;
}

static int SFX(matmul_1_naive)(int64_t B, int64_t M, int64_t N, int64_t K, const REAL *a,
                               int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs,
                               int64_t b_cs, REAL *c)
{
    return SFX(matmul_each)(SFX(pc_gemm_1_naive), B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
}

static int SFX(matmul_2_blocked)(int64_t B, int64_t M, int64_t N, int64_t K, const REAL *a,
                                 int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs,
                                 int64_t b_cs, REAL *c)
{
    return SFX(matmul_each)(SFX(pc_gemm_2_blocked), B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
}

static int SFX(matmul_3_packed)(int64_t B, int64_t M, int64_t N, int64_t K, const REAL *a,
                                int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs,
                                int64_t b_cs, REAL *c)
{
    int err = pc_gemm_3_reserve(1); /* this thread's packing buffers, kept across calls */
    if (err)
        return err;
    return SFX(matmul_each)(SFX(pc_gemm_3_packed), B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c);
}

/* Step 4: the tiles of all products shared among the threads together. */
static int SFX(matmul_4_parallel)(int64_t B, int64_t M, int64_t N, int64_t K, const REAL *a,
                                  int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs,
                                  int64_t b_cs, REAL *c)
{
    return SFX(pc_gemm_4_batched)(B, M, N, K, a, M * K, a_rs, a_cs, b, K * N, b_rs, b_cs, c,
                                  M * N, N, 0);
}

#endif
