/* matmul.c: batched matrix product c[b] = a[b] . b[b] and, through strides, its gradients.
 *
 * Shapes: a (B,M,K), b (B,K,N), c (B,M,N). The operands are read through (row, column) strides,
 * A[i][k] = a[batch*M*K + i*a_rs + k*a_cs], so the Python side passes transposed views for
 *   da = dc . b^T  (a = dc, b = b read with rs=1, cs=N)   and   db = a^T . dc  (a read transposed).
 * c is always a fresh contiguous (B,M,N) array.
 *
 * FLOPs: 2*B*M*N*K. Bytes: a and b are re-read once per tile row/column of c, from cache;
 * for 1024^3 the kernel is compute-bound (2 GFLOP against 12 MB).
 *
 * Threading: work item = (batch, row block, NC-column block) of c; row blocks are all of M
 * unless there are fewer tiles than threads. Each thread computes whole
 * tiles of c over the full depth K, summing in ascending k whatever the tiling (gemm.h), so no two
 * threads write the same element and results do not depend on the thread count. When there are
 * fewer tiles than threads, the tiles shrink (to multiples of the register tile) to feed them all.
 *
 * Workspaces: one packed A block and one packed B block per thread, reused across calls.
 * pc_matmul_naive is the triple loop the fast kernel is tested against.
 */
#ifndef REAL

#include <string.h>

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
    {"naive", "the i, j, k triple loop"},
    {"fast", "packed panels, register-tiled micro-kernel, OpenMP tiles"},
};
const pc_step_table pc_matmul_steps = {"matmul", matmul_steps, PC_STEP_COUNT(matmul_steps)};

#define REAL float
#define SFX(name) name##_f32
#define NR PC_NR_f32
#include "matmul.c"
#undef REAL
#undef SFX
#undef NR

#define REAL double
#define SFX(name) name##_f64
#define NR PC_NR_f64
#include "matmul.c"
#undef REAL
#undef SFX
#undef NR

#else /* REAL defined: the kernels for one element type */

static int SFX(step2)(int64_t B, int64_t M, int64_t N, int64_t K, const REAL *a, int64_t a_rs,
                   int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c)
{
    if (matmul_check(B, M, N, K, a_rs, a_cs, b_rs, b_cs))
        return PC_EINVAL;
    const int nt = pc_threads();
    /* A tile spans all rows of c, so each packed KC x NC block of b serves the whole height
     * (packing b once per tile, a once per column block); tiles narrow or shorten until every
     * thread has one (halving keeps them multiples of NR and MR). Two threads sharing a column
     * block both pack all of its b, two sharing a row block all of its a: when b's rows are
     * contiguous (b_cs == 1) its panels are row copies, cheaper per element than a's panels
     * (stores MR apart), so the rows are split first. On the 6 MFLOP (64x400)@(400x120), 2
     * threads: forward 48 -> 45 us, grad b 44 -> 40; grad a (b read transposed) keeps
     * narrowing: shortening made it 47 -> 53 us. */
    const int rows_first = b_cs == 1;
    int64_t mc = pc_round_up(pc_max64(M, 1), PC_MR);
    int64_t nc = pc_min64(PC_NC, pc_round_up(pc_max64(N, 1), NR));
    while (B * pc_ceil_div(M, mc) * pc_ceil_div(N, nc) < nt) {
        if (rows_first && mc >= 2 * PC_MR)
            mc = pc_round_up(mc / 2, PC_MR);
        else if (nc >= 2 * NR)
            nc = pc_round_up(nc / 2, NR);
        else if (mc >= 2 * PC_MR)
            mc = pc_round_up(mc / 2, PC_MR);
        else
            break;
    }
    int err = pc_ws_reserve(nt, PC_WS_A, pc_bytes(pc_round_up(pc_min64(mc, PC_MC), PC_MR) * PC_KC,
                                                 sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_B, pc_bytes(PC_KC * nc, sizeof(REAL)));
    if (err)
        return err;
    const int64_t mblk = pc_ceil_div(M, mc), nblk = pc_ceil_div(N, nc), items = B * mblk * nblk;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t bt = it / (mblk * nblk), i0 = it / nblk % mblk * mc, j0 = it % nblk * nc;
        int tid = pc_tid();
        SFX(pc_gemm_block)(pc_min64(mc, M - i0), pc_min64(nc, N - j0), K,
                           a + bt * M * K + i0 * a_rs, a_rs, a_cs,
                           b + bt * K * N + j0 * b_cs, b_rs, b_cs,
                           c + bt * M * N + i0 * N + j0, N, 0,
                           pc_ws_get(tid, PC_WS_A), pc_ws_get(tid, PC_WS_B));
    }
    return PC_OK;
}

static int SFX(step1)(int64_t B, int64_t M, int64_t N, int64_t K, const REAL *a, int64_t a_rs,
                         int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c)
{
    if (matmul_check(B, M, N, K, a_rs, a_cs, b_rs, b_cs))
        return PC_EINVAL;
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t bi = 0; bi < B * M; bi++) {
        int64_t bt = bi / M, i = bi % M;
        const REAL *ab = a + bt * M * K, *bb = b + bt * K * N;
        for (int64_t j = 0; j < N; j++) {
            REAL acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += ab[i * a_rs + k * a_cs] * bb[k * b_rs + j * b_cs];
            c[bi * N + j] = acc;
        }
    }
    return PC_OK;
}

int SFX(pc_matmul)(int64_t B, int64_t M, int64_t N, int64_t K, const REAL *a, int64_t a_rs,
                   int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs, REAL *c, int step, int *ran)
{
    int k = pc_step_choose(&pc_matmul_steps, step);
    if (ran)
        *ran = k;
    return k == 1 ? SFX(step1)(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c)
         : k == 2 ? SFX(step2)(B, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c) : PC_EINVAL;
}

#endif
