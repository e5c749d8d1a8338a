/* conv2d_backward_weight.c: the gradients of the convolution with respect to its filters, dw from
 * dy and x as a ladder of six steps, and to its bias, db from dy.
 *
 * Shapes (conv2d.h): dy (N,K,P,Q), x (N,C,H,W), dw (K,C,R,S), db (K,).
 *   dw[k,c,r,s] = sum_{n,p,q} dy[n,k,p,q] * x[n, c, p*sh - pt + r*dh, q*sw - pl + s*dw]  (0 outside)
 * One GEMM per image, summed over the images:  dw (K, CRS) = sum_n dy[n] (K, PQ) . col[n]^T (PQ, CRS).
 * FLOPs: 2*N*K*C*R*S*P*Q in every step. Bytes: dy, x and dw once each from memory, plus what each
 * step adds below.
 *
 * Steps (pyconv.kernels.use("conv2d_backward_weight", step); the default is the last):
 *   1 naive            the loop nest: each dw element sums over its images and pixels, every read
 *                      bounds-checked (a tap in the padding multiplies dy by 0, as the column
 *                      matrix of steps 2-6 does). Threads: one (k,c) filter slice each (it is also what step
 *                      6 falls back to).
 *   2 im2col+naive     im2row builds col[n]^T (PQ, CRS) (the column matrix, transposed, so the
 *                      GEMM's B operand has contiguous rows), then the triple-loop GEMM
 *                      (pc_gemm_1_naive) adds dy[n] . col[n]^T to dw, image after image. Bytes:
 *                      + CRS*PQ written and read back per image. One thread.
 *   3 im2col+blocked   the GEMM cache-blocked (pc_gemm_2_blocked): a block of col^T and a row of
 *                      dw stay in cache while they are reused. One thread.
 *   4 im2col+packed    the GEMM on packed panels with a register-tiled vector micro-kernel
 *                      (pc_gemm_3_packed). One thread.
 *   5 im2col+parallel  OpenMP: each thread owns a block of dw columns (c,r,s), builds those rows of
 *                      col[n] itself and sums over all images, in image order: the reduction over
 *                      N*P*Q needs no atomics, and the sums are those of step 4, bit for bit.
 *   6 channels-last    no column matrix: a channels-last zero-padded copy (Hp, Wp, C) of each
 *                      image and dw columns in (r,s,c) order, so a B panel row is NR channels of
 *                      one tap read in place (C a multiple of NR) or a few runs copied; tiny layers
 *                      (K*C <= DOT_PAIRS, unit stride) take one vectorised dot product per dw
 *                      element instead, 1x1 kernels pack x[n] itself. Threads: blocks of dw columns
 *                      (and fixed chunks of images for small dw). Falls back to step 1, and
 *                      reports 1, when the padded copy would dwarf the data.
 * Steps 2-5 malloc their column matrix (CRS*PQ elements; step 5 a block per thread) on every call;
 * step 6 keeps everything in per-thread workspaces that grow and are reused across calls
 * (pc_ws_reserve): one padded image and one packed panel per thread.
 *
 * Bias: db[k] = sum_{n,p,q} dy[n,k,p,q], one filter per thread, a memory-bound pass (N*K*P*Q
 * additions, dy read once); it has a single step.
 *
 * Measured, GFLOP/s, 2-core AVX2 machine, float32, 2 threads, FMA peak 181
 * (python -m pyconv bench --ladder --op conv2d_backward_weight; benchmarks/NOTES.md has the
 * table), VGG 3x3 / LeNet's second layer:
 *   1: 2.7 / 2.4   2: 1.1 / 1.1   3: 8.0 / 5.7   4: 14.2 / 7.6   5: 41.3 / 9.1   6: 36.9 / 19.6
 * (step 5 beat step 6 on the VGG layer on this AVX2 machine: see NOTES)
 */
#ifndef REAL

#include <stdlib.h>
#include <string.h>

#include "conv2d.h"

/* Most image chunks of step 6 (each with its own partial dw) */
#define WCHUNKS 8
/* Step 6 takes dot products up to this many filter/channel pairs (K*C): LeNet's first layer (6)
 * gains 4x; at 96 (its second) the channels-last GEMM was already 1.7x faster */
#define DOT_PAIRS 32
/* Filters per block of step 6's dot products (one vector accumulator each) */
#define DOT_KB 8

/* How step 6's channels-last path cuts the work (see backward_weight_cl). */
typedef struct {
    int64_t Hp, Wp;            /* the channels-last padded image is (Hp, Wp, C) */
    int64_t mblk, ncw, nblk;   /* blocks of PC_MC filters; blocks of ncw dw columns */
    int64_t chunks, per_chunk; /* image chunks, each summed into its own partial dw */
    int64_t h0, h1, w0, w1;    /* the input rows and columns the padded copy holds */
} pc_weight_plan;

/* The padded-width geometry of step 6's dot products (see backward_weight_dot). */
typedef struct {
    int64_t Hp, Wp, plane, L;  /* padded plane Hp x Wp; L: P*Wp rounded up to the vector length */
    int64_t h0, h1, w0, w1;    /* the input rows and columns the padded copy holds */
} pc_dot_plan;

#endif /* outer pass */

#ifdef REAL /* the kernels for one element type */

#define MR PC_MR

/* ---- step 1: the direct loop nest ------------------------------------------------------------ */

static int SFX(conv2d_backward_weight_1_naive)(const pc_conv_shape *s, const REAL *dy,
                                               const REAL *x, REAL *dw)
{
    const int64_t N = s->N, C = s->C, H = s->H, W = s->W, K = s->K, R = s->R, S = s->S;
    const int64_t P = s->P, Q = s->Q;
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t kc = 0; kc < K * C; kc++) {
        int64_t k = kc / C, c = kc % C;
        for (int64_t r = 0; r < R; r++)
            for (int64_t t = 0; t < S; t++) {
                REAL acc = 0;
                for (int64_t n = 0; n < N; n++)
                    for (int64_t p = 0; p < P; p++)
                        for (int64_t q = 0; q < Q; q++) {
                            int64_t h = p * s->sh - s->pt + r * s->dh;
                            int64_t v = q * s->sw - s->pl + t * s->dw;
                            /* a tap in the padding reads 0 and is multiplied all the same:
                             * an Inf or NaN dy there gives NaN (CONTRACT.md, non-finite values) */
                            REAL xv = (h >= 0 && h < H && v >= 0 && v < W)
                                          ? x[((n * C + c) * H + h) * W + v] : 0;
                            acc += dy[((n * K + k) * P + p) * Q + q] * xv;
                        }
                dw[(kc * R + r) * S + t] = acc;
            }
    }
    return PC_OK;
}

/* ---- steps 2-4: im2col, then one GEMM per image added into dw -------------------------------- */

/* dw (K, CRS) = sum over images of dy[n] (K, PQ) . col[n]^T (PQ, CRS), with col[n]^T built
 * directly (im2row), so that B's rows are contiguous: read through swapped strides instead, the
 * blocked GEMM's inner loop over dw's columns jumped PQ values per element and ran at 0.46
 * GFLOP/s on the 3x3 VGG layer, 4x slower than the naive GEMM (benchmarks/NOTES.md). */
static int SFX(backward_weight_im2col)(const pc_conv_shape *s, const REAL *dy, const REAL *x,
                                       REAL *dw, SFX(pc_gemm_fn) *gemm)
{
    const int64_t K = s->K, CRS = s->C * s->R * s->S, PQ = s->P * s->Q, CHW = s->C * s->H * s->W;
    int err;
    REAL *col = pc_conv2d_alloc_col(CRS, PQ, sizeof(REAL), &err);
    if (!col)
        return err;
    if (s->N == 0)
        memset(dw, 0, sizeof(REAL) * K * CRS);
    for (int64_t n = 0; n < s->N && !err; n++) {
        SFX(pc_conv2d_im2row)(s, x + n * CHW, col);
        err = gemm(K, CRS, PQ, dy + n * K * PQ, PQ, 1, col, CRS, 1, dw, CRS, n > 0);
    }
    free(col);
    return err;
}

static int SFX(conv2d_backward_weight_2_im2col_naive)(const pc_conv_shape *s, const REAL *dy,
                                                      const REAL *x, REAL *dw)
{
    return SFX(backward_weight_im2col)(s, dy, x, dw, SFX(pc_gemm_1_naive));
}

static int SFX(conv2d_backward_weight_3_im2col_blocked)(const pc_conv_shape *s, const REAL *dy,
                                                        const REAL *x, REAL *dw)
{
    return SFX(backward_weight_im2col)(s, dy, x, dw, SFX(pc_gemm_2_blocked));
}

static int SFX(conv2d_backward_weight_4_im2col_packed)(const pc_conv_shape *s, const REAL *dy,
                                                       const REAL *x, REAL *dw)
{
    int err = pc_gemm_3_reserve(1);
    return err ? err : SFX(backward_weight_im2col)(s, dy, x, dw, SFX(pc_gemm_3_packed));
}

/* ---- step 5: the same with OpenMP, threads owning columns of dw ------------------------------ */

/* Work item = a block of cw columns (c,r,s) of dw: its thread builds those rows of col[n] in its
 * own buffer (cw x PQ) and adds dy[n] . rows^T into them for n = 0, 1, ..., N-1. No other thread
 * writes these columns, so the sum over images needs no atomics. The block width depends on the
 * thread count, but step 3 of the GEMM sums every element in ascending kk, KC terms at a time,
 * whatever the tiling (gemm.h): the result is that of step 4, bit for bit, for any thread count. */
static int SFX(conv2d_backward_weight_5_im2col_parallel)(const pc_conv_shape *s, const REAL *dy,
                                                         const REAL *x, REAL *dw)
{
    const int64_t K = s->K, CRS = s->C * s->R * s->S, PQ = s->P * s->Q, CHW = s->C * s->H * s->W;
    const int nt_all = pc_threads();
    const int64_t cw = pc_round_up(pc_max64(1, pc_ceil_div(CRS, 2 * (int64_t)nt_all)), NR);
    const int64_t nblk = pc_ceil_div(CRS, cw);
    /* no more threads than blocks: each holds a cw x PQ buffer, about CRS*PQ in all */
    const int nt = (int)pc_max64(1, pc_min64(nt_all, nblk));
    int err = pc_gemm_3_reserve(nt);
    REAL *cols = err ? NULL : pc_conv2d_alloc_col(pc_smul(nt, cw), PQ, sizeof(REAL), &err);
    if (!cols)
        return err;
    if (s->N == 0)
        memset(dw, 0, sizeof(REAL) * K * CRS);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t blk = 0; blk < nblk; blk++) {
        const int64_t j0 = blk * cw, nc = pc_min64(cw, CRS - j0);
        REAL *col = cols + pc_tid() * cw * PQ;
        for (int64_t n = 0; n < s->N; n++) {
            SFX(pc_conv2d_im2col)(s, x + n * CHW, j0, j0 + nc, col);
            int e = SFX(pc_gemm_3_packed)(K, nc, PQ, dy + n * K * PQ, PQ, 1, col, 1, PQ, dw + j0,
                                          CRS, n > 0);
            if (e) {
#pragma omp atomic write
                err = e;
            }
        }
    }
    free(cols);
    return err;
}

/* ---- step 6: channels-last padded copies read in place, dot products for tiny layers ---------- */

/* Columns of dw per work item of the channels-last path: PC_NC at most, fewer so every thread has
 * work. */
static int64_t SFX(weight_block)(int64_t cols, int64_t mblk, int nt)
{
    int64_t nblk = pc_round_up(pc_max64(pc_ceil_div(cols, PC_NC), pc_ceil_div(nt, mblk)), nt);
    return pc_round_up(pc_ceil_div(cols, nblk), NR);
}

static pc_weight_plan SFX(weight_plan)(const pc_conv_shape *s, int nt)
{
    pc_weight_plan g;
    const int64_t CRS = s->C * s->R * s->S;
    g.Hp = (s->P - 1) * s->sh + (s->R - 1) * s->dh + 1;
    g.Wp = (s->Q - 1) * s->sw + (s->S - 1) * s->dw + 1;
    g.mblk = pc_ceil_div(s->K, PC_MC);
    g.ncw = SFX(weight_block)(CRS, g.mblk, nt);
    g.nblk = pc_ceil_div(CRS, g.ncw);
    /* A small dw (LeNet-sized) gives too few column blocks to share: the images are then split
     * into up to WCHUNKS fixed chunks, each summed into its own partial dw, and the partials are
     * added in chunk order. The split depends on the shapes only, never on the thread count. */
    g.chunks = g.mblk * pc_ceil_div(CRS, PC_NC) < 4 ? pc_min64(s->N, WCHUNKS) : 1;
    g.per_chunk = pc_ceil_div(s->N, g.chunks);
    g.h0 = pc_max64(0, -s->pt);
    g.h1 = pc_min64(s->H, g.Hp - s->pt);
    g.w0 = pc_max64(0, -s->pl);
    g.w1 = pc_min64(s->W, g.Wp - s->pl);
    return g;
}

/* xt (Hp, Wp, C) = image xn (C, H, W), zero-padded and channels-last. */
static inline void SFX(weight_cl_transpose)(const pc_conv_shape *s, const pc_weight_plan *g,
                                            const REAL *xn, REAL *xt)
{
    const int64_t C = s->C, H = s->H, W = s->W, Wp = g->Wp, w0 = g->w0, w1 = g->w1;
    memset(xt, 0, sizeof(REAL) * g->Hp * Wp * C);
    /* transpose in blocks of 16 channels: each pixel's 16 values are one contiguous store, read
     * from 16 channel rows that advance together */
    for (int64_t h = g->h0; h < g->h1; h++) {
        REAL *row = xt + (h + s->pt) * Wp * C + s->pl * C;
        const REAL *xh = xn + h * W;
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            int64_t cn = pc_min64(16, C - c0);
            for (int64_t w = w0; w < w1; w++)
                for (int64_t c = c0; c < c0 + cn; c++)
                    row[w * C + c] = xh[c * H * W + w];
        }
    }
}

/* C a multiple of NR: every panel is NR channels of one tap, read in place at the tap's offset
 * from each pixel (same tiles, same sums as the packed panels of weight_cl_pack). Adds the KC
 * slice of pixels pc.. to dw columns j0..j0+nc-1 of rows dwk (the block's first filter). */
static inline void SFX(weight_cl_inplace)(const pc_conv_shape *s, const pc_weight_plan *g,
                                          const REAL *pa, const REAL *xt, int64_t pc, int64_t kc,
                                          int64_t mk, int64_t j0, int64_t nc, REAL *dwk,
                                          int accumulate)
{
    const int64_t C = s->C, S = s->S, Q = s->Q, Wp = g->Wp, CRS = C * s->R * S;
    int64_t off[PC_KC];
    for (int64_t kk = 0, p = pc / Q, q = pc % Q; kk < kc; kk++) {
        off[kk] = (p * s->sh * Wp + q * s->sw) * C;
        if (++q == Q) {
            q = 0;
            p++;
        }
    }
    for (int64_t jp = 0; jp < nc; jp += NR) {
        int64_t col = j0 + jp, tap = col / C;
        int64_t toff = ((tap / S) * s->dh * Wp + (tap % S) * s->dw) * C + col % C;
        SFX(pc_gemm_macro_indirect)(mk, NR, kc, pa, xt + toff, off, dwk + col, CRS, accumulate);
    }
}

/* Pack the B panels (KC slice of pixels pc.., dw columns j0..j0+nc-1) from xt into pb. */
static inline void SFX(weight_cl_pack)(const pc_conv_shape *s, const pc_weight_plan *g,
                                       const REAL *xt, int64_t pc, int64_t kc, int64_t j0,
                                       int64_t nc, REAL *pb)
{
    const int64_t C = s->C, S = s->S, Q = s->Q, Wp = g->Wp;
    REAL *dst = pb;
    for (int64_t jp = 0; jp < nc; jp += NR) {
        /* where the panel's columns sit relative to the pixel's (0,0) tap, as runs of
         * consecutive addresses: channels of one tap, or taps along a row when C = 1 */
        int64_t nr = pc_min64(NR, nc - jp), run_src[NR], run_dst[NR], run_len[NR];
        int64_t runs = 0;
        for (int64_t j = 0; j < nr; j++) {
            int64_t col = j0 + jp + j, tap = col / C;
            int64_t off = ((tap / S) * s->dh * Wp + (tap % S) * s->dw) * C + col % C;
            if (runs > 0 && off == run_src[runs - 1] + run_len[runs - 1]) {
                run_len[runs - 1]++;
            } else {
                run_src[runs] = off;
                run_dst[runs] = j;
                run_len[runs++] = 1;
            }
        }
        int64_t p = pc / Q, q = pc % Q;
        for (int64_t kk = 0; kk < kc; kk++, dst += NR) {
            const REAL *src = xt + (p * s->sh * Wp + q * s->sw) * C;
            if (runs == 1 && nr == NR)  /* NR channels of one tap: a straight copy */
                for (int j = 0; j < NR; j++)
                    dst[j] = src[run_src[0] + j];
            else
                for (int64_t g = 0; g < runs; g++)
                    for (int64_t t = 0; t < run_len[g]; t++)
                        dst[run_dst[g] + t] = src[run_src[g] + t];
            for (int64_t j = nr; j < NR; j++)
                dst[j] = 0;
            if (++q == Q) {
                q = 0;
                p++;
            }
        }
    }
}

/* One work item `it` of backward_weight_cl: filters k0.. (a PC_MC block) by dw columns j0.. (an
 * ncw block) of the partial dw of one image chunk, summed over the chunk's images in order. */
static void SFX(weight_cl_item)(const pc_conv_shape *s, const pc_weight_plan *g, const REAL *dy,
                                const REAL *x, REAL *dwt, int64_t it)
{
    const int64_t C = s->C, K = s->K, CRS = C * s->R * s->S, PQ = s->P * s->Q;
    int64_t chunk = it / (g->mblk * g->nblk), blk = it % (g->mblk * g->nblk);
    int64_t k0 = blk / g->nblk * PC_MC, mk = pc_min64(PC_MC, K - k0);
    int64_t j0 = blk % g->nblk * g->ncw, nc = pc_min64(g->ncw, CRS - j0);
    int64_t n0 = chunk * g->per_chunk, n1 = pc_min64(s->N, n0 + g->per_chunk);
    int tid = pc_tid();
    REAL *pa = pc_ws_get(tid, PC_WS_A), *pb = pc_ws_get(tid, PC_WS_B);
    REAL *xt = pc_ws_get(tid, PC_WS_COL);
    REAL *part = dwt + chunk * K * CRS;
    if (n0 >= n1)
        for (int64_t k = k0; k < k0 + mk; k++)
            memset(part + k * CRS + j0, 0, sizeof(REAL) * nc);
    for (int64_t n = n0; n < n1; n++) {
        SFX(weight_cl_transpose)(s, g, x + n * C * s->H * s->W, xt);
        for (int64_t pc = 0; pc < PQ; pc += PC_KC) {
            int64_t kc = pc_min64(PC_KC, PQ - pc);
            SFX(pc_pack_a)(mk, kc, dy + (n * K + k0) * PQ + pc, PQ, 1, pa);
            if (C % NR == 0) {
                SFX(weight_cl_inplace)(s, g, pa, xt, pc, kc, mk, j0, nc, part + k0 * CRS,
                                       n > n0 || pc > 0);
                continue;
            }
            SFX(weight_cl_pack)(s, g, xt, pc, kc, j0, nc, pb);
            SFX(pc_gemm_macro)(mk, nc, kc, pa, pb, part + k0 * CRS + j0, CRS, n > n0 || pc > 0);
        }
    }
}

/* dw (K, C, R, S) = the sum, in chunk order, of the partials dwt (chunks, K, R, S, C). */
static void SFX(weight_cl_reduce)(const pc_conv_shape *s, int64_t chunks, const REAL *dwt,
                                  REAL *dw, int nt)
{
    const int64_t C = s->C, K = s->K, RS = s->R * s->S, CRS = C * RS;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t rs = 0; rs < RS; rs++) {
                REAL sum = dwt[(k * RS + rs) * C + c];
                for (int64_t chunk = 1; chunk < chunks; chunk++)
                    sum += dwt[chunk * K * CRS + (k * RS + rs) * C + c];
                dw[(k * C + c) * RS + rs] = sum;
            }
}

/* Backward weight: each image is first copied, zero-padded, into channels-last order
 * xt (Hp, Wp, C). Numbering the columns of dw (r, s, c) instead of (c, r, s), a B panel row (one
 * output pixel, NR consecutive columns) reads NR values at fixed offsets from the pixel: a straight
 * copy when they are NR channels of one tap (C a multiple of NR), else a few runs of consecutive
 * addresses (C channels, or S taps when C = 1), with no bounds checks (the padding is in xt). The
 * (K, R, S, C) result is permuted to (K, C, R, S) at the end. Every dw element sums the same
 * products in the same order as the pointwise path (images, then pixels), so the two paths agree
 * bit for bit. Work item = (image chunk, block of filters, block of dw columns). */
static int SFX(backward_weight_cl)(const pc_conv_shape *s, const REAL *dy, const REAL *x, REAL *dw)
{
    const int64_t C = s->C, K = s->K, CRS = C * s->R * s->S;
    const int nt = pc_threads();
    const pc_weight_plan g = SFX(weight_plan)(s, nt);
    int err = pc_ws_reserve(nt, PC_WS_A, pc_bytes(pc_round_up(PC_MC, MR) * PC_KC, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_B, pc_bytes(PC_KC * g.ncw, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_COL, pc_bytes(g.Hp * g.Wp * C, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(1, PC_WS_SHARED2, pc_bytes(g.chunks * K * CRS, sizeof(REAL)));
    if (err)
        return err;
    REAL *dwt = pc_ws_get(0, PC_WS_SHARED2); /* chunks x (K, R, S, C) */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < g.chunks * g.mblk * g.nblk; it++)
        SFX(weight_cl_item)(s, &g, dy, x, dwt, it);
    SFX(weight_cl_reduce)(s, g.chunks, dwt, dw, nt);
    return PC_OK;
}

/* Backward weight with few filter/channel pairs (K*C <= DOT_PAIRS, e.g. LeNet's first layer), unit
 * stride and finite x: there every packed element would feed only 2*K flops, so packing dominates.
 * Instead each dw[k,c,r,s] is one dot product, of dy[k] with x[c] shifted by (r*dh, s*dw), both
 * numbered in the padded width (j = p*Wp + q): dyp holds dy with zeros in the Wp-Q junk columns and
 * after the end, xp the zero-padded image, so the dot runs over contiguous vectors. Junk and tail
 * terms are 0 * (finite x) = 0; with an inf or NaN in x they would not be, hence the condition.
 * Work item = a fixed chunk of images with its own partial dw; the partials are added in chunk
 * order, so the result does not depend on the thread count. */
typedef REAL SFX(dvec) __attribute__((vector_size(PC_VEC_BYTES)));

/* Add one image's dot products (xn (C,H,W), dyn (K,P,Q)) to the lane partial sums part
 * (K*C*R*S vectors), through the padded copies xp and dyp. */
static inline void SFX(weight_dot_image)(const pc_conv_shape *s, const pc_dot_plan *g,
                                         const REAL *xn, const REAL *dyn, REAL *xp, REAL *dyp,
                                         SFX(dvec) *part)
{
    typedef SFX(dvec) dvec;
    enum { VL = PC_VEC_BYTES / (int)sizeof(REAL), KB = DOT_KB };
    const int64_t C = s->C, H = s->H, W = s->W, K = s->K, R = s->R, S = s->S, P = s->P, Q = s->Q;
    const int64_t Wp = g->Wp, plane = g->plane, L = g->L, Kp = pc_round_up(K, KB);
    memset(xp, 0, sizeof(REAL) * (C * plane + L + Wp));
    for (int64_t c = 0; c < C; c++)
        for (int64_t h = g->h0; h < g->h1; h++)
            if (g->w1 > g->w0)
                memcpy(xp + c * plane + (h + s->pt) * Wp + g->w0 + s->pl,
                       xn + (c * H + h) * W + g->w0, sizeof(REAL) * (g->w1 - g->w0));
    memset(dyp, 0, sizeof(REAL) * Kp * L); /* rows K..Kp-1 stay zero */
    for (int64_t k = 0; k < K; k++)
        for (int64_t p = 0; p < P; p++)
            memcpy(dyp + k * L + p * Wp, dyn + (k * P + p) * Q, sizeof(REAL) * Q);
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t t = 0; t < S; t++) {
                const REAL *xs = xp + c * plane + r * s->dh * Wp + t * s->dw;
                for (int64_t k0 = 0; k0 < K; k0 += KB) {
                    int64_t kb = pc_min64(KB, K - k0);
                    /* always KB rows (zero past K): a fixed count keeps acc in registers */
                    dvec acc[KB];
                    for (int i = 0; i < KB; i++)
                        acc[i] = i < kb ? part[(((k0 + i) * C + c) * R + r) * S + t] : (dvec){0};
                    for (int64_t j = 0; j < L; j += VL) {
                        dvec xv;
                        memcpy(&xv, xs + j, sizeof xv);
                        PC_UNROLL
                        for (int i = 0; i < KB; i++)
                            acc[i] += *(const dvec *)(dyp + (k0 + i) * L + j) * xv;
                    }
                    for (int64_t i = 0; i < kb; i++)
                        part[(((k0 + i) * C + c) * R + r) * S + t] = acc[i];
                }
            }
}

static int SFX(backward_weight_dot)(const pc_conv_shape *s, const REAL *dy, const REAL *x, REAL *dw)
{
    typedef SFX(dvec) dvec;
    enum { VL = PC_VEC_BYTES / (int)sizeof(REAL), KB = DOT_KB };
    const int64_t C = s->C, H = s->H, W = s->W, K = s->K, R = s->R, S = s->S, P = s->P, Q = s->Q;
    const int64_t Hp = P + (R - 1) * s->dh, Wp = Q + (S - 1) * s->dw;
    const pc_dot_plan g = {Hp, Wp, Hp * Wp, pc_round_up(P * Wp, VL), pc_max64(0, -s->pt),
                           pc_min64(H, Hp - s->pt), pc_max64(0, -s->pl), pc_min64(W, Wp - s->pl)};
    const int64_t KCRS = K * C * R * S, Kp = pc_round_up(K, KB);
    const int nt = pc_threads();
    const int64_t chunks = pc_min64(s->N, WCHUNKS), per_chunk = pc_ceil_div(s->N, chunks);
    int err = pc_ws_reserve(nt, PC_WS_COL, pc_bytes(C * g.plane + g.L + Wp, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_PAD, pc_bytes(Kp * g.L, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(1, PC_WS_SHARED2, pc_bytes(chunks * KCRS * VL, sizeof(REAL)));
    if (err)
        return err;
    /* per chunk, one vector of lane partial sums per dw element: lanes are added only at the end */
    dvec *parts = pc_ws_get(0, PC_WS_SHARED2);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t chunk = 0; chunk < chunks; chunk++) {
        int tid = pc_tid();
        REAL *xp = pc_ws_get(tid, PC_WS_COL), *dyp = pc_ws_get(tid, PC_WS_PAD);
        dvec *part = parts + chunk * KCRS;
        for (int64_t i = 0; i < KCRS; i++)
            part[i] = (dvec){0};
        for (int64_t n = chunk * per_chunk; n < pc_min64(s->N, (chunk + 1) * per_chunk); n++)
            SFX(weight_dot_image)(s, &g, x + n * C * H * W, dy + n * K * P * Q, xp, dyp, part);
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < KCRS; i++) {
        REAL sum = 0;
        for (int64_t chunk = 0; chunk < chunks; chunk++)
            for (int l = 0; l < VL; l++)
                sum += parts[chunk * KCRS + i][l];
        dw[i] = sum;
    }
    return PC_OK;
}

/* Pointwise kernels (the image is its own column matrix, col^T packs with strides) and empty
 * batches. Work item = a block of dw; the thread sums over all images and pixels itself. */
static int SFX(backward_weight_pointwise)(const pc_conv_shape *s, const REAL *dy, const REAL *x,
                                          REAL *dw)
{
    const int64_t K = s->K, CRS = s->C * s->R * s->S, PQ = s->P * s->Q, CHW = s->C * s->H * s->W;
    const int nt = pc_threads();
    const int64_t mblk = pc_ceil_div(K, PC_MC), ncw = SFX(weight_block)(CRS, mblk, nt);
    const int64_t nblk = pc_ceil_div(CRS, ncw);
    int err = pc_ws_reserve(nt, PC_WS_A, pc_bytes(pc_round_up(PC_MC, MR) * PC_KC, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_B, pc_bytes(PC_KC * ncw, sizeof(REAL)));
    if (err)
        return err;

    const int64_t items = mblk * nblk;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t k0 = it / nblk * PC_MC, mk = pc_min64(PC_MC, K - k0);
        int64_t j0 = it % nblk * ncw, nc = pc_min64(ncw, CRS - j0);
        int tid = pc_tid();
        REAL *pa = pc_ws_get(tid, PC_WS_A), *pb = pc_ws_get(tid, PC_WS_B);
        REAL *dwb = dw + k0 * CRS + j0;
        if (s->N == 0 || PQ == 0)
            for (int64_t k = 0; k < mk; k++)
                memset(dwb + k * CRS, 0, sizeof(REAL) * nc);
        for (int64_t n = 0; n < s->N; n++) {
            for (int64_t pc = 0; pc < PQ; pc += PC_KC) {
                int64_t kc = pc_min64(PC_KC, PQ - pc);
                SFX(pc_pack_a)(mk, kc, dy + (n * K + k0) * PQ + pc, PQ, 1, pa);
                SFX(pc_pack_b)(kc, nc, x + n * CHW + j0 * PQ + pc, 1, PQ, pb);
                SFX(pc_gemm_macro)(mk, nc, kc, pa, pb, dwb, CRS, n > 0 || pc > 0);
            }
        }
    }
    return PC_OK;
}

/* The dot products for tiny layers with finite x, the channels-last GEMM for every other shape,
 * the pointwise GEMM for 1x1 kernels and empty batches. */
static int SFX(conv2d_backward_weight_6_channels_last)(const pc_conv_shape *s, const REAL *dy,
                                                       const REAL *x, REAL *dw)
{
    if (s->N > 0 && s->P * s->Q > 0 && s->sh == 1 && s->sw == 1 && s->K * s->C <= DOT_PAIRS &&
        !is_pointwise(s)) {
        int finite = 1;
        for (int64_t i = 0; i < s->N * s->C * s->H * s->W; i++)
            finite &= (x[i] - x[i]) == 0;
        if (finite)
            return SFX(backward_weight_dot)(s, dy, x, dw);
    }
    if (s->N > 0 && s->P * s->Q > 0 && !is_pointwise(s))
        return SFX(backward_weight_cl)(s, dy, x, dw);
    return SFX(backward_weight_pointwise)(s, dy, x, dw);
}

/* ---- the ladder: step number -> kernel ------------------------------------------------------- */

static int SFX(conv2d_backward_weight)(const pc_conv_shape *shape, const REAL *dy, const REAL *x,
                                       REAL *dw, int step, int *ran)
{
    const int chosen = pc_step_choose(&pc_conv2d_backward_weight_steps, step);
    if (ran)
        *ran = chosen;
    pc_conv_shape s;
    int direct, err = chosen ? pc_conv2d_prepare(shape, &s, &direct) : PC_EINVAL;
    if (err)
        return err;
    switch (chosen) {
    case 1: return SFX(conv2d_backward_weight_1_naive)(&s, dy, x, dw);
    case 2: return SFX(conv2d_backward_weight_2_im2col_naive)(&s, dy, x, dw);
    case 3: return SFX(conv2d_backward_weight_3_im2col_blocked)(&s, dy, x, dw);
    case 4: return SFX(conv2d_backward_weight_4_im2col_packed)(&s, dy, x, dw);
    case 5: return SFX(conv2d_backward_weight_5_im2col_parallel)(&s, dy, x, dw);
    case 6:
        if (!direct)
            return SFX(conv2d_backward_weight_6_channels_last)(&s, dy, x, dw);
        if (ran)   /* mostly padding: the direct loops are the fast way (pc_conv2d_prepare) */
            *ran = 1;
        return SFX(conv2d_backward_weight_1_naive)(&s, dy, x, dw);
    }
    return PC_EINVAL;
}

/* ---- bias ------------------------------------------------------------------------------------ */

/* db[k] = sum_{n,p,q} dy[n,k,p,q]. Work item = one filter k, summed by its thread alone. */
static int SFX(conv2d_backward_bias)(const pc_conv_shape *s, const REAL *dy, REAL *db)
{
    if (s->N < 0 || s->K < 0 || s->P < 0 || s->Q < 0 || pc_smul4(s->N, s->K, s->P, s->Q) >= PC_SIZE_MAX)
        return PC_EINVAL;
    const int64_t K = s->K, PQ = s->P * s->Q;
    enum { LANES = 16 }; /* independent partial sums: the compiler turns them into vector adds */
    /* a memory-bound pass: below ~1M elements waking a second thread costs more than it saves */
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (s->N * K * PQ >= (1 << 20))
    for (int64_t k = 0; k < K; k++) {
        REAL part[LANES] = {0};
        for (int64_t n = 0; n < s->N; n++) {
            const REAL *d = dy + (n * K + k) * PQ;
            int64_t j = 0;
            for (; j + LANES <= PQ; j += LANES)
                for (int l = 0; l < LANES; l++)
                    part[l] += d[j + l];
            for (; j < PQ; j++)
                part[j % LANES] += d[j];
        }
        REAL total = 0;
        for (int l = 0; l < LANES; l++)
            total += part[l];
        db[k] = total;
    }
    return PC_OK;
}

#undef MR

#endif /* REAL */

#ifndef REAL /* the outer pass: the kernels once per element type, the step table, entry points */

#define PC_SELF "conv2d_backward_weight.c"
#include "instantiate.h"

static const pc_step_info weight_steps[] = {
    {"naive", "the loop nest, one weight gradient at a time"},
    {"im2col+naive", "col^T of each image (im2row), dw += dy . col^T by the triple-loop GEMM"},
    {"im2col+blocked", "the GEMM cache-blocked"},
    {"im2col+packed", "the GEMM on packed panels, register-tiled vector micro-kernel"},
    {"im2col+parallel", "OpenMP: threads own columns of dw and sum over all images"},
    {"channels-last", "channels-last padded copies read in place, or dot products for tiny layers"},
};
const pc_step_table pc_conv2d_backward_weight_steps = {"conv2d_backward_weight", weight_steps,
                                                       PC_STEP_COUNT(weight_steps)};

int pc_conv2d_backward_weight_f32(const pc_conv_shape *s, const float *dy, const float *x,
                                  float *dw, int step, int *ran)
{
    return conv2d_backward_weight_f32(s, dy, x, dw, step, ran);
}

int pc_conv2d_backward_weight_f64(const pc_conv_shape *s, const double *dy, const double *x,
                                  double *dw, int step, int *ran)
{
    return conv2d_backward_weight_f64(s, dy, x, dw, step, ran);
}

int pc_conv2d_backward_bias_f32(const pc_conv_shape *s, const float *dy, float *db)
{
    return conv2d_backward_bias_f32(s, dy, db);
}

int pc_conv2d_backward_bias_f64(const pc_conv_shape *s, const double *dy, double *db)
{
    return conv2d_backward_bias_f64(s, dy, db);
}

#endif
