/* conv2d_backward_input.c: the gradient of the convolution with respect to its input, dx from dy
 * and w, as a ladder of six steps.
 *
 * Shapes (conv2d.h): dy (N,K,P,Q), w (K,C,R,S), dx (N,C,H,W). Input pixel x[n,c,h,v] was read by
 * tap (r,s) of output (p,q) when h = p*sh - pt + r*dh and v = q*sw - pl + s*dw, so
 *   dx[n,c,h,v] = sum over those (k,r,s,p,q) of w[k,c,r,s] * dy[n,k,p,q].
 * Per image one GEMM and a scatter:  dcol (CRS, PQ) = w^T (CRS, K) . dy[n] (K, PQ);
 * dx[n] = col2im(dcol), which adds every dcol value to the input pixel it came from.
 * FLOPs: 2*N*K*C*R*S*P*Q in every step. Bytes: dy, w and dx once each from memory, plus what each
 * step adds below.
 *
 * Steps (pyconv.kernels.use("conv2d_backward_input", step); the default is the last):
 *   1 naive            the gather loop nest: each dx element sums the (k,r,s) that read it, every
 *                      index checked. Threads: one (n,c) input plane each (it is also what step 6
 *                      falls back to).
 *   2 col2im+naive     dcol (CRS, PQ) of one image by the triple-loop GEMM (pc_gemm_1_naive), then
 *                      col2im into dx[n]. Bytes: + CRS*PQ written and read back per image. One
 *                      thread.
 *   3 col2im+blocked   the GEMM cache-blocked (pc_gemm_2_blocked): a block of dy[n] and a row of
 *                      dcol stay in cache while they are reused. One thread.
 *   4 col2im+packed    the GEMM on packed panels with a register-tiled vector micro-kernel
 *                      (pc_gemm_3_packed). One thread.
 *   5 col2im+parallel  OpenMP: the GEMM's tiles of dcol shared among threads (pc_gemm_4_parallel,
 *                      one owner per element), col2im split over channels: col2im of channel c
 *                      only writes dx[n,c], in a fixed order (r, s, p, q), so no two threads write
 *                      the same element and the thread count changes no sum.
 *   6 fast             unit stride with C >= 2*MR and finite w: a gather, the forward kernel
 *                      (conv2d_forward.c step 6) run on dy with the filters transposed and
 *                      flipped, no col2im. Otherwise the packed GEMM into a per-thread dcol block
 *                      and col2im into a zero-padded per-thread copy of the input channels, with
 *                      no bounds checks; 1x1 kernels write dx from the GEMM directly. Falls back
 *                      to step 1, and reports 1, when the padded copy would dwarf the data.
 * Steps 2-5 malloc their column matrix (CRS*PQ elements) on every call; step 6 keeps everything
 * in per-thread workspaces that grow and are reused across calls (pc_ws_reserve): a dcol block of
 * C*R*S*NCI elements and one padded image per thread, never a whole column matrix.
 *
 * Measured, GFLOP/s, 2-core AVX2 machine, float32, 2 threads, FMA peak 181
 * (python -m pyconv bench --ladder --op conv2d_backward_input; benchmarks/NOTES.md has the
 * table), VGG 3x3 / LeNet's second layer:
 *   1: 0.58 / 0.48   2: 0.57 / 1.4   3: 21.6 / 11.6   4: 26.0 / 15.8   5: 38.0 / 10.2   6: 45.4 / 37.0
 */
#ifndef REAL

#include <stdlib.h>
#include <string.h>

#include "conv2d.h"

/* dcol columns per block of step 6 */
#define NCI 128

/* A run of consecutive flattened pixels j = p*Q + q that share the output row p:
 * q = q0 .. q0+len-1, stored at offset `off` of the panel. */
typedef struct {
    int64_t p, q0, len, off;
} pc_seg;

/* Split the flattened pixels [j0, j0+n) of a P x Q plane into runs of constant p. */
static int64_t split_rows(int64_t j0, int64_t n, int64_t Q, pc_seg *seg)
{
    int64_t count = 0;
    for (int64_t off = 0; off < n;) {
        int64_t j = j0 + off, p = j / Q, q = j % Q;
        int64_t len = pc_min64(Q - q, n - off);
        seg[count++] = (pc_seg){p, q, len, off};
        off += len;
    }
    return count;
}

/* How step 6's GEMM + col2im path cuts the work (see backward_input_plan). */
typedef struct {
    int64_t groups, cg, mmax; /* channel groups per image, channels per group, packed rows each */
    int direct;               /* pointwise: col2im is the identity, the GEMM writes dx directly */
    int flat;                 /* dcol columns numbered in a padded width (unit stride, finite w) */
    int64_t Wq, J;            /* dcol row width and column count */
    int64_t Hp, Wp;           /* the input as the kernel windows see it, padding included */
} pc_input_plan;

static pc_input_plan backward_input_plan(const pc_conv_shape *s, int nt, int unit_finite)
{
    pc_input_plan g;
    const int64_t RS = s->R * s->S;
    /* enough channel groups to keep every thread busy when there are fewer images than threads */
    g.groups = s->N >= nt ? 1 : pc_min64(s->C, pc_ceil_div(nt, pc_max64(s->N, 1)));
    g.cg = pc_ceil_div(s->C, g.groups);
    g.mmax = pc_round_up(g.cg * RS, PC_MR);
    g.direct = is_pointwise(s);
    /* Unit stride, finite w (the few-channel layers that reach this path): number the dcol columns
     * in the padded width, j = p*Wq + q, with dy copied into zero-filled Wq-wide rows (dyp). Row
     * (c,r,s) of dcol then adds into dxp as one contiguous run, at offset r*dh*Wp + s*dw, instead
     * of P runs of Q; the junk columns hold w^T . 0 = 0 and add nothing. */
    g.flat = unit_finite;
    g.Wq = g.flat ? (s->Q - 1) + (s->S - 1) * s->dw + 1 : s->Q;
    g.J = g.flat ? s->P * g.Wq : s->P * s->Q;
    /* the input as the kernel windows see it: rows p*sh + r*dh, columns q*sw + s*dw */
    g.Hp = (s->P - 1) * s->sh + (s->R - 1) * s->dh + 1;
    g.Wp = (s->Q - 1) * s->sw + (s->S - 1) * s->dw + 1;
    return g;
}

#endif /* outer pass */

#ifdef REAL /* the kernels for one element type */

#define MR PC_MR

/* ---- step 1: the direct loop nest ------------------------------------------------------------ */

static int SFX(conv2d_backward_input_1_naive)(const pc_conv_shape *s, const REAL *dy,
                                              const REAL *w, REAL *dx)
{
    const int64_t N = s->N, C = s->C, H = s->H, W = s->W, K = s->K, R = s->R, S = s->S;
    const int64_t P = s->P, Q = s->Q;
    /* gather form: input pixel (h,v) collects every (k,r,s,p,q) that read it */
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t n = nc / C, c = nc % C;
        for (int64_t h = 0; h < H; h++)
            for (int64_t v = 0; v < W; v++) {
                REAL acc = 0;
                for (int64_t k = 0; k < K; k++)
                    for (int64_t r = 0; r < R; r++)
                        for (int64_t t = 0; t < S; t++) {
                            int64_t ph = h + s->pt - r * s->dh, qw = v + s->pl - t * s->dw;
                            if (ph < 0 || qw < 0 || ph % s->sh || qw % s->sw)
                                continue;
                            int64_t p = ph / s->sh, q = qw / s->sw;
                            if (p >= P || q >= Q)
                                continue;
                            acc += w[((k * C + c) * R + r) * S + t] * dy[((n * K + k) * P + p) * Q + q];
                        }
                dx[(nc * H + h) * W + v] = acc;
            }
    }
    return PC_OK;
}

/* ---- steps 2-4: one GEMM per image, then col2im ---------------------------------------------- */

/* For each image: dcol (CRS, PQ) = w^T (CRS, K) . dy[n] (K, PQ) by `gemm`, dx[n] = col2im(dcol). */
static int SFX(backward_input_col2im)(const pc_conv_shape *s, const REAL *dy, const REAL *w,
                                      REAL *dx, SFX(pc_gemm_fn) *gemm)
{
    const int64_t C = s->C, K = s->K, CRS = C * s->R * s->S, PQ = s->P * s->Q;
    int err;
    REAL *dcol = pc_conv2d_alloc_col(CRS, PQ, sizeof(REAL), &err);
    if (!dcol)
        return err;
    for (int64_t n = 0; n < s->N && !err; n++) {
        err = gemm(CRS, PQ, K, w, 1, CRS, dy + n * K * PQ, PQ, 1, dcol, PQ, 0);
        SFX(pc_conv2d_col2im)(s, dcol, 0, C, dx + n * C * s->H * s->W);
    }
    free(dcol);
    return err;
}

static int SFX(conv2d_backward_input_2_col2im_naive)(const pc_conv_shape *s, const REAL *dy,
                                                     const REAL *w, REAL *dx)
{
    return SFX(backward_input_col2im)(s, dy, w, dx, SFX(pc_gemm_1_naive));
}

static int SFX(conv2d_backward_input_3_col2im_blocked)(const pc_conv_shape *s, const REAL *dy,
                                                       const REAL *w, REAL *dx)
{
    return SFX(backward_input_col2im)(s, dy, w, dx, SFX(pc_gemm_2_blocked));
}

static int SFX(conv2d_backward_input_4_col2im_packed)(const pc_conv_shape *s, const REAL *dy,
                                                      const REAL *w, REAL *dx)
{
    int err = pc_gemm_3_reserve(1);
    return err ? err : SFX(backward_input_col2im)(s, dy, w, dx, SFX(pc_gemm_3_packed));
}

/* ---- step 5: the same with OpenMP ------------------------------------------------------------ */

/* The GEMM shares the tiles of dcol among threads (one owner per element, sums in a fixed order);
 * col2im of channel c reads rows c*RS .. (c+1)*RS - 1 of dcol and writes only dx[n,c], so the
 * channels are split among threads without two ever writing the same element. */
static int SFX(conv2d_backward_input_5_col2im_parallel)(const pc_conv_shape *s, const REAL *dy,
                                                        const REAL *w, REAL *dx)
{
    const int64_t C = s->C, K = s->K, CRS = C * s->R * s->S, PQ = s->P * s->Q;
    const int nt = pc_threads();
    int err;
    REAL *dcol = pc_conv2d_alloc_col(CRS, PQ, sizeof(REAL), &err);
    if (!dcol)
        return err;
    for (int64_t n = 0; n < s->N && !err; n++) {
        REAL *dxn = dx + n * C * s->H * s->W;
        err = SFX(pc_gemm_4_parallel)(CRS, PQ, K, w, 1, CRS, dy + n * K * PQ, PQ, 1, dcol, PQ, 0);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t c = 0; c < C; c++)
            SFX(pc_conv2d_col2im)(s, dcol, c, c + 1, dxn);
    }
    free(dcol);
    return err;
}

/* ---- step 6: the flipped-filter gather, or GEMM + col2im into padded per-thread copies -------- */

/* Unit stride, finite filters: backward input is the forward convolution of dy with the filters
 * transposed (K <-> C) and flipped (r -> R-1-r, s -> S-1-s), padded by (R-1)*dh - pt on top and
 * (S-1)*dw - pl on the left (negative padding crops). It runs on the forward step 6: a gather, no
 * col2im, and the reduction is over K*R*S instead of K. It needs C >= 2*MR rows to fill the
 * register tile (C is the GEMM height here); below that, and for infinite filters, the col2im
 * path runs. With infinite filters the col2im path is the right one anyway,
 * where padded positions never meet the filters, so 0 * inf cannot make a NaN the reference
 * does not have. */
static int SFX(backward_input_as_forward)(const pc_conv_shape *s, const REAL *dy, const REAL *w,
                                          REAL *dx)
{
    const int64_t C = s->C, K = s->K, R = s->R, S = s->S;
    int err = pc_ws_reserve(1, PC_WS_SHARED2, pc_bytes(K * C * R * S, sizeof(REAL)));
    if (err)
        return err;
    REAL *wt = pc_ws_get(0, PC_WS_SHARED2);
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t r = 0; r < R; r++)
                for (int64_t t = 0; t < S; t++)
                    wt[((c * K + k) * R + (R - 1 - r)) * S + (S - 1 - t)] = w[((k * C + c) * R + r) * S + t];
    pc_conv_shape g = {.N = s->N, .C = K, .H = s->P, .W = s->Q, .K = C, .R = R, .S = S,
                       .P = s->H, .Q = s->W, .sh = 1, .sw = 1, .pt = (R - 1) * s->dh - s->pt,
                       .pl = (S - 1) * s->dw - s->pl, .dh = s->dh, .dw = s->dw};
    return SFX(pc_conv2d_forward_6_implicit)(&g, dy, wt, NULL, dx);
}

/* col2im of a block: dcol rows are (c,r,s) for the group's channels, columns pixels j0..j0+nc-1;
 * every value is added to the input pixel it was read from, in a zero-padded buffer dxp
 * (channels, Hp, Wp), so the loops need no bounds checks: values that land in the padding are
 * simply never copied out. */
static void SFX(col2im_add)(const pc_conv_shape *s, const REAL *dcol, int64_t rows, int64_t j0,
                            int64_t nc, REAL *dxp, int64_t Hp, int64_t Wp)
{
    pc_seg seg[NCI];
    int64_t nseg = split_rows(j0, nc, s->Q, seg);
    pc_crs t = {0, 0, 0};
    for (int64_t i = 0; i < rows; i++, crs_next(&t, s->R, s->S)) {
        REAL *dc = dxp + t.c * Hp * Wp + t.r * s->dh * Wp + t.s * s->dw;
        const REAL *src = dcol + i * nc;
        for (int64_t g = 0; g < nseg; g++) {
            REAL *drow = dc + seg[g].p * s->sh * Wp + seg[g].q0 * s->sw;
            const REAL *srow = src + seg[g].off;
            if (s->sw == 1)
                for (int64_t u = 0; u < seg[g].len; u++)
                    drow[u] += srow[u];
            else
                for (int64_t u = 0; u < seg[g].len; u++)
                    drow[u * s->sw] += srow[u];
        }
    }
}

/* col2im of a block in the flat numbering (pc_input_plan.flat): row (c,r,s) of dcol adds into dxp
 * as one contiguous run at offset r*dh*Wp + s*dw + j0. */
static void SFX(col2im_add_flat)(const pc_conv_shape *s, const REAL *dcol, int64_t rows,
                                 int64_t j0, int64_t nc, REAL *dxp, int64_t Hp, int64_t Wp)
{
    pc_crs t = {0, 0, 0};
    for (int64_t i = 0; i < rows; i++, crs_next(&t, s->R, s->S)) {
        REAL *run = dxp + t.c * Hp * Wp + t.r * s->dh * Wp + t.s * s->dw + j0;
        const REAL *src = dcol + i * nc;
        for (int64_t u = 0; u < nc; u++)
            run[u] += src[u];
    }
}

/* dx (channels, H, W) = the interior of the padded buffer dxp; rows and columns of x that no
 * output reads get zero. */
static void SFX(crop_padded)(const pc_conv_shape *s, const REAL *dxp, int64_t channels, int64_t Hp,
                             int64_t Wp, REAL *dxg)
{
    const int64_t H = s->H, W = s->W;
    const int64_t w0 = pc_min64(W, pc_max64(0, -s->pl)), w1 = pc_max64(w0, pc_min64(W, Wp - s->pl));
    for (int64_t c = 0; c < channels; c++)
        for (int64_t h = 0; h < H; h++) {
            REAL *row = dxg + (c * H + h) * W;
            int64_t hp = h + s->pt;
            if (hp < 0 || hp >= Hp || w1 == w0) {
                memset(row, 0, sizeof(REAL) * W);
                continue;
            }
            memset(row, 0, sizeof(REAL) * w0);
            memcpy(row + w0, dxp + (c * Hp + hp) * Wp + w0 + s->pl, sizeof(REAL) * (w1 - w0));
            memset(row + w1, 0, sizeof(REAL) * (W - w1));
        }
}

/* The per-thread workspaces of the GEMM + col2im path: the packed filters (shared), a packed B
 * panel, a dcol block, the padded dx copy (+ slack: the last flat run may pass the end of the
 * plane by (S-1)*dw) and, in the flat numbering, dy copied into Wq-wide rows. */
static int SFX(backward_input_reserve)(const pc_conv_shape *s, const pc_input_plan *g, int nt)
{
    const int64_t K = s->K, RS = s->R * s->S;
    int err = pc_ws_reserve(1, PC_WS_SHARED, pc_bytes(g->groups * g->mmax * pc_max64(K, 1), sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_B, pc_bytes(PC_KC * pc_round_up(NCI, NR), sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_COL, pc_bytes(g->cg * RS * NCI, sizeof(REAL)));
    if (!err && !g->direct)
        err = pc_ws_reserve(nt, PC_WS_PAD, pc_bytes(g->cg * g->Hp * g->Wp + g->Wp, sizeof(REAL)));
    if (!err && g->flat)
        err = pc_ws_reserve(nt, PC_WS_A, pc_bytes(K * g->J, sizeof(REAL)));
    return err;
}

/* A = w^T restricted to each group's rows (c,r,s): A[i][k] = w[k*CRS + c0*RS + i], packed once
 * for all images into pw, mmax*K elements per group */
static void SFX(backward_input_pack_w)(const pc_conv_shape *s, const pc_input_plan *g,
                                       const REAL *w, REAL *pw)
{
    const int64_t C = s->C, K = s->K, RS = s->R * s->S, CRS = C * RS, cg = g->cg;
    for (int64_t c0 = 0; c0 < C; c0 += cg) {
        int64_t m = (pc_min64(C, c0 + cg) - c0) * RS, mp = pc_round_up(m, MR);
        for (int64_t pc = 0; pc < K; pc += PC_KC)
            SFX(pc_pack_a)(m, pc_min64(PC_KC, K - pc), w + pc * CRS + c0 * RS, 1, CRS,
                           pw + c0 / cg * g->mmax * K + mp * pc);
    }
}

/* One work item: dxg (channels, H, W), the group's channels of one image, from dyn = dy[n] and
 * the group's packed filters pa. Runs on the calling thread with its own workspaces. */
static void SFX(backward_input_group)(const pc_conv_shape *s, const pc_input_plan *g,
                                      const REAL *pa, const REAL *dyn, int64_t channels, REAL *dxg)
{
    const int64_t K = s->K, HW = s->H * s->W, J = g->J, Hp = g->Hp, Wp = g->Wp;
    const int64_t m = channels * s->R * s->S, mp = pc_round_up(m, MR);
    const int tid = pc_tid();
    REAL *pb = pc_ws_get(tid, PC_WS_B), *dcol = pc_ws_get(tid, PC_WS_COL);
    REAL *dxp = pc_ws_get(tid, PC_WS_PAD);
    if (K == 0) {
        memset(dxg, 0, sizeof(REAL) * channels * HW);
        return;
    }
    if (!g->direct)
        memset(dxp, 0, sizeof(REAL) * (channels * Hp * Wp + Wp));
    if (g->flat) {
        REAL *dyp = pc_ws_get(tid, PC_WS_A);
        memset(dyp, 0, sizeof(REAL) * K * J);
        for (int64_t k = 0; k < K; k++)
            for (int64_t p = 0; p < s->P; p++)
                memcpy(dyp + k * J + p * g->Wq, dyn + (k * s->P + p) * s->Q, sizeof(REAL) * s->Q);
        dyn = dyp;
    }
    for (int64_t j0 = 0; j0 < J; j0 += NCI) {
        int64_t nc = pc_min64(NCI, J - j0);
        for (int64_t pc = 0; pc < K; pc += PC_KC) {
            int64_t kc = pc_min64(PC_KC, K - pc);
            SFX(pc_pack_b)(kc, nc, dyn + pc * J + j0, J, 1, pb);
            if (g->direct)
                SFX(pc_gemm_macro)(m, nc, kc, pa + mp * pc, pb, dxg + j0, HW, pc > 0);
            else
                SFX(pc_gemm_macro)(m, nc, kc, pa + mp * pc, pb, dcol, nc, pc > 0);
        }
        if (g->flat)
            SFX(col2im_add_flat)(s, dcol, m, j0, nc, dxp, Hp, Wp);
        else if (!g->direct)
            SFX(col2im_add)(s, dcol, m, j0, nc, dxp, Hp, Wp);
    }
    if (!g->direct)
        SFX(crop_padded)(s, dxp, channels, Hp, Wp, dxg);
}

/* Work item = (image n, group of input channels): col2im of channel c only writes dx[n,c], so
 * groups never overlap; inside a group the scatter-adds run in a fixed order (pixel blocks, then
 * r, s, p, q ascending). The gather path is the forward kernel: one owner per dx element. */
static int SFX(conv2d_backward_input_6_fast)(const pc_conv_shape *s, const REAL *dy, const REAL *w,
                                             REAL *dx)
{
    const int unit = s->sh == 1 && s->sw == 1 && !is_pointwise(s);
    int finite = 1;
    for (int64_t i = 0; unit && i < s->K * s->C * s->R * s->S; i++)
        finite &= (w[i] - w[i]) == 0;   /* false for inf and NaN */
    if (unit && finite && s->K > 0 && s->C >= 2 * MR)
        return SFX(backward_input_as_forward)(s, dy, w, dx);

    const int64_t C = s->C, K = s->K, PQ = s->P * s->Q, HW = s->H * s->W;
    const int nt = pc_threads();
    const pc_input_plan g = backward_input_plan(s, nt, unit && finite);
    int err = SFX(backward_input_reserve)(s, &g, nt);
    if (err)
        return err;
    REAL *pw = pc_ws_get(0, PC_WS_SHARED);
    SFX(backward_input_pack_w)(s, &g, w, pw);

    const int64_t items = s->N * g.groups;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t n = it / g.groups, c0 = it % g.groups * g.cg, c1 = pc_min64(C, c0 + g.cg);
        if (c0 < c1)
            SFX(backward_input_group)(s, &g, pw + it % g.groups * g.mmax * K, dy + n * K * PQ,
                                      c1 - c0, dx + (n * C + c0) * HW);
    }
    return PC_OK;
}

/* ---- the ladder: step number -> kernel ------------------------------------------------------- */

static int SFX(conv2d_backward_input)(const pc_conv_shape *shape, const REAL *dy, const REAL *w,
                                      REAL *dx, int step, int *ran)
{
    const int chosen = pc_step_choose(&pc_conv2d_backward_input_steps, step);
    if (ran)
        *ran = chosen;
    pc_conv_shape s;
    int direct, err = chosen ? pc_conv2d_prepare(shape, &s, &direct) : PC_EINVAL;
    if (err)
        return err;
    switch (chosen) {
    case 1: return SFX(conv2d_backward_input_1_naive)(&s, dy, w, dx);
    case 2: return SFX(conv2d_backward_input_2_col2im_naive)(&s, dy, w, dx);
    case 3: return SFX(conv2d_backward_input_3_col2im_blocked)(&s, dy, w, dx);
    case 4: return SFX(conv2d_backward_input_4_col2im_packed)(&s, dy, w, dx);
    case 5: return SFX(conv2d_backward_input_5_col2im_parallel)(&s, dy, w, dx);
    case 6:
        if (!direct)
            return SFX(conv2d_backward_input_6_fast)(&s, dy, w, dx);
        if (ran)   /* mostly padding: the direct loops are the fast way (pc_conv2d_prepare) */
            *ran = 1;
        return SFX(conv2d_backward_input_1_naive)(&s, dy, w, dx);
    }
    return PC_EINVAL;
}

#undef MR

#endif /* REAL */

#ifndef REAL /* the outer pass: the kernels once per element type, the step table, entry points */

#define PC_SELF "conv2d_backward_input.c"
#include "instantiate.h"

static const pc_step_info input_steps[] = {
    {"naive", "the gather loop nest, one input gradient at a time"},
    {"col2im+naive", "dcol = w^T . dy by the triple-loop GEMM, then col2im"},
    {"col2im+blocked", "the GEMM cache-blocked"},
    {"col2im+packed", "the GEMM on packed panels, register-tiled vector micro-kernel"},
    {"col2im+parallel", "OpenMP: GEMM tiles over threads, col2im over channels"},
    {"fast", "flipped-filter gather, or col2im into padded per-thread copies"},
};
const pc_step_table pc_conv2d_backward_input_steps = {"conv2d_backward_input", input_steps,
                                                      PC_STEP_COUNT(input_steps)};

int pc_conv2d_backward_input_f32(const pc_conv_shape *s, const float *dy, const float *w,
                                 float *dx, int step, int *ran)
{
    return conv2d_backward_input_f32(s, dy, w, dx, step, ran);
}

int pc_conv2d_backward_input_f64(const pc_conv_shape *s, const double *dy, const double *w,
                                 double *dx, int step, int *ran)
{
    return conv2d_backward_input_f64(s, dy, w, dx, step, ran);
}

#endif
