/* conv2d_forward.c: the forward convolution y = conv(x, w) + b, as a ladder of six steps.
 *
 * Shapes (conv2d.h): x (N,C,H,W), w (K,C,R,S), b (K,) or NULL, y (N,K,P,Q). Tap (r,s) of output
 * pixel (p,q) reads x[n, c, p*sh - pt + r*dh, q*sw - pl + s*dw], zero outside the image.
 * Per image one GEMM:  y[n] (K, PQ) = w (K, CRS) . col[n] (CRS, PQ) + b.
 * FLOPs: 2*N*K*C*R*S*P*Q in every step (step 6 also computes a few junk columns, see below).
 * Bytes: x, w and y once each from memory; what each step adds is said below.
 *
 * Steps (pyconv.kernels.use("conv2d_forward", step); the default is the last):
 *   1 naive            the seven-deep loop nest, one output at a time, every read bounds-checked.
 *                      Threads: one (n,k) output plane each (it is also what step 6 falls back to).
 *   2 im2col+naive     im2col builds the column matrix col (CRS, PQ) of one image, then the
 *                      triple-loop GEMM (pc_gemm_1_naive) computes y[n]. Bytes: + CRS*PQ written
 *                      and read back per image (R*S times the image at unit stride). One thread.
 *   3 im2col+blocked   the GEMM cache-blocked (pc_gemm_2_blocked): a block of col and a row of y
 *                      stay in cache while they are reused. One thread.
 *   4 im2col+packed    the GEMM on packed panels with a register-tiled vector micro-kernel
 *                      (pc_gemm_3_packed). One thread.
 *   5 im2col+parallel  OpenMP: im2col split over channels (channel c writes only its R*S rows of
 *                      col), the GEMM's tiles of y shared among threads (pc_gemm_4_parallel: each
 *                      y element has one owner and the same sum order whatever the thread count).
 *   6 implicit         no column matrix: the GEMM reads its B panels straight from a zero-padded,
 *                      stride-phased copy of the image, in place; 1x1 kernels pack x[n] itself.
 *                      Threads: (image, block of output pixels). Falls back to step 1, and
 *                      reports 1, when the padded copy would dwarf the data (pc_conv2d_prepare).
 * Steps 2-5 malloc their column matrix (CRS*PQ elements) on every call; step 6 keeps everything
 * in per-thread workspaces that grow and are reused across calls (pc_ws_reserve), one image and
 * one K x NCF block per thread.
 *
 * Measured, GFLOP/s, 2-core AVX2 machine, float32, 2 threads, FMA peak 181
 * (python -m pyconv bench --ladder --op conv2d_forward; benchmarks/NOTES.md has the
 * table), VGG 3x3 layer / LeNet's second layer:
 *   1: 1.2 / 1.8   2: 0.47 / 2.0   3: 16.1 / 12.4   4: 35.7 / 20.0   5: 33.6 / 16.8   6: 63.7 / 35.1
 */
#ifndef REAL

#include <stdlib.h>
#include <string.h>

#include "conv2d.h"

/* Output pixels per work item of step 6 */
#define NCF 512

/* For t in [0, len), input column w = base + t*sw; [*lo, *hi) is where 0 <= w < W. */
static inline void valid_range(int64_t base, int64_t sw, int64_t len, int64_t W, int64_t *lo,
                               int64_t *hi)
{
    int64_t a, b;
    if (sw == 1) {              /* the common case, without divisions */
        a = base >= 0 ? 0 : -base;
        b = W - base;
    } else {
        a = base >= 0 ? 0 : (-base + sw - 1) / sw;
        b = W - base <= 0 ? 0 : (W - base + sw - 1) / sw;
    }
    *lo = pc_min64(a, len);
    *hi = pc_max64(*lo, pc_min64(b, len));
}

#endif /* outer pass */

#ifdef REAL /* the kernels for one element type */

#define MR PC_MR

/* ---- step 1: the direct loop nest ------------------------------------------------------------ */

static int SFX(conv2d_forward_1_naive)(const pc_conv_shape *s, const REAL *x, const REAL *w,
                                       const REAL *b, REAL *y)
{
    const int64_t N = s->N, C = s->C, H = s->H, W = s->W, K = s->K, R = s->R, S = s->S;
    const int64_t P = s->P, Q = s->Q;
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t nk = 0; nk < N * K; nk++) {
        int64_t n = nk / K, k = nk % K;
        for (int64_t p = 0; p < P; p++)
            for (int64_t q = 0; q < Q; q++) {
                REAL acc = 0;
                for (int64_t c = 0; c < C; c++)
                    for (int64_t r = 0; r < R; r++)
                        for (int64_t t = 0; t < S; t++) {
                            int64_t h = p * s->sh - s->pt + r * s->dh;
                            int64_t v = q * s->sw - s->pl + t * s->dw;
                            REAL xv = (h >= 0 && h < H && v >= 0 && v < W)
                                          ? x[((n * C + c) * H + h) * W + v] : 0;
                            acc += w[((k * C + c) * R + r) * S + t] * xv;
                        }
                y[(nk * P + p) * Q + q] = b ? acc + b[k] : acc;
            }
    }
    return PC_OK;
}

/* ---- steps 2-4: im2col, then one GEMM per image ---------------------------------------------- */

/* yn (K, PQ) += b[k] on row k (nothing when b is NULL) */
static void SFX(forward_add_bias)(const REAL *b, int64_t K, int64_t PQ, REAL *yn)
{
    for (int64_t k = 0; b && k < K; k++)
        for (int64_t j = 0; j < PQ; j++)
            yn[k * PQ + j] += b[k];
}

/* For each image: col = im2col(x[n]) (CRS, PQ), y[n] (K, PQ) = w (K, CRS) . col by `gemm`, + b. */
static int SFX(forward_im2col)(const pc_conv_shape *s, const REAL *x, const REAL *w, const REAL *b,
                               REAL *y, SFX(pc_gemm_fn) *gemm)
{
    const int64_t K = s->K, CRS = s->C * s->R * s->S, PQ = s->P * s->Q, CHW = s->C * s->H * s->W;
    int err;
    REAL *col = pc_conv2d_alloc_col(CRS, PQ, sizeof(REAL), &err);
    if (!col)
        return err;
    for (int64_t n = 0; n < s->N && !err; n++) {
        REAL *yn = y + n * K * PQ;
        SFX(pc_conv2d_im2col)(s, x + n * CHW, 0, CRS, col);
        err = gemm(K, PQ, CRS, w, CRS, 1, col, PQ, 1, yn, PQ, 0);
        SFX(forward_add_bias)(b, K, PQ, yn);
    }
    free(col);
    return err;
}

static int SFX(conv2d_forward_2_im2col_naive)(const pc_conv_shape *s, const REAL *x, const REAL *w,
                                              const REAL *b, REAL *y)
{
    return SFX(forward_im2col)(s, x, w, b, y, SFX(pc_gemm_1_naive));
}

static int SFX(conv2d_forward_3_im2col_blocked)(const pc_conv_shape *s, const REAL *x,
                                                const REAL *w, const REAL *b, REAL *y)
{
    return SFX(forward_im2col)(s, x, w, b, y, SFX(pc_gemm_2_blocked));
}

static int SFX(conv2d_forward_4_im2col_packed)(const pc_conv_shape *s, const REAL *x,
                                               const REAL *w, const REAL *b, REAL *y)
{
    int err = pc_gemm_3_reserve(1);
    return err ? err : SFX(forward_im2col)(s, x, w, b, y, SFX(pc_gemm_3_packed));
}

/* ---- step 5: the same with OpenMP ------------------------------------------------------------ */

/* im2col split over channels: channel c writes rows c*RS .. (c+1)*RS - 1 of col and nothing else.
 * The GEMM shares the tiles of y[n] among threads (one owner per element, sums in a fixed order),
 * and the bias pass one row of y[n] per thread, so no two threads write the same element. */
static int SFX(conv2d_forward_5_im2col_parallel)(const pc_conv_shape *s, const REAL *x,
                                                 const REAL *w, const REAL *b, REAL *y)
{
    const int64_t C = s->C, K = s->K, RS = s->R * s->S, PQ = s->P * s->Q;
    const int nt = pc_threads();
    int err;
    REAL *col = pc_conv2d_alloc_col(C * RS, PQ, sizeof(REAL), &err);
    if (!col)
        return err;
    for (int64_t n = 0; n < s->N && !err; n++) {
        const REAL *xn = x + n * C * s->H * s->W;
        REAL *yn = y + n * K * PQ;
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t c = 0; c < C; c++)
            SFX(pc_conv2d_im2col)(s, xn, c * RS, (c + 1) * RS, col + c * RS * PQ);
        err = SFX(pc_gemm_4_parallel)(K, PQ, C * RS, w, C * RS, 1, col, PQ, 1, yn, PQ, 0);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t k = 0; k < K; k++)
            SFX(forward_add_bias)(b ? b + k : NULL, 1, PQ, yn + k * PQ);
    }
    free(col);
    return err;
}

/* ---- step 6: implicit GEMM on padded copies read in place ------------------------------------
 *
 * The column matrix is never built: the GEMM's B panels come straight from x. The GEMM core runs
 * near peak (gemm.h), so what remains to pay is reading the image R*S times into panels, and each
 * packed element feeds only 2*K flops (at K = 64, ~4 cycles of FMA work): packing must cost well
 * under a cycle per element. A straight copy does; the bounds-checked gathers of small images
 * (Q = 10, runs of 10) do not. So the image is first copied once into a layout where a panel row
 * is a straight run with the padding already in place (forward_padded), and a 1x1 kernel with
 * unit stride and no padding packs x[n], its own column matrix, directly (forward_pointwise).
 * Bytes: x, w, y once each, plus per thread one padded image copy and a K x NCF block of y. */

/* Pointwise kernels (x[n] is its own column matrix, packed by pc_pack_b) and filters without
 * input channels (C = 0: y = b). Work item = (image, block of NCF output pixels). */
static void SFX(forward_pointwise)(const pc_conv_shape *s, const REAL *x, const REAL *pw,
                                   const REAL *b, REAL *y, int nt)
{
    const int64_t K = s->K, CRS = s->C * s->R * s->S, PQ = s->P * s->Q, Kp = pc_round_up(K, MR);
    const int64_t nblk = pc_ceil_div(PQ, NCF), items = s->N * nblk;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t n = it / nblk, j0 = it % nblk * NCF, nc = pc_min64(NCF, PQ - j0);
        REAL *pb = pc_ws_get(pc_tid(), PC_WS_B);
        REAL *yb = y + n * K * PQ + j0;
        const REAL *xn = x + n * s->C * s->H * s->W;
        for (int64_t pc = 0; pc < CRS; pc += PC_KC) {
            int64_t kc = pc_min64(PC_KC, CRS - pc);
            SFX(pc_pack_b)(kc, nc, xn + pc * PQ + j0, PQ, 1, pb);
            SFX(pc_gemm_macro)(K, nc, kc, pw + Kp * pc, pb, yb, PQ, pc > 0);
        }
        if (CRS == 0)
            for (int64_t k = 0; k < K; k++)
                memset(yb + k * PQ, 0, sizeof(REAL) * nc);
        if (b)
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < nc; j++)
                    yb[k * PQ + j] += b[k];
    }
}

/* The geometry of forward_padded's stride-phase planes (see there) */
typedef struct {
    int64_t Hp, Wp, plane;
} SFX(phases);

/* Copy image xn (C,H,W) into the zero-padded stride-phase planes xp (C, sh, sw, Hp, Wp), plus
 * `tail` zeros after them. */
static inline void SFX(forward_copy_phases)(const pc_conv_shape *s, const REAL *xn,
                                            SFX(phases) g, int64_t tail, REAL *xp)
{
    const int64_t C = s->C, H = s->H, W = s->W, sh = s->sh, sw = s->sw;
    const int64_t Hp = g.Hp, Wp = g.Wp, plane = g.plane;
    memset(xp, 0, sizeof(REAL) * (C * sh * sw * plane + tail));
    for (int64_t c = 0; c < C; c++)
        for (int64_t a = 0; a < sh; a++)
            for (int64_t i = 0; i < Hp; i++) {
                int64_t h = i * sh + a - s->pt;   /* the input row of phase row i */
                if (h < 0 || h >= H)
                    continue;
                const REAL *xrow = xn + (c * H + h) * W;
                for (int64_t bp = 0; bp < sw; bp++) {
                    /* phase column q reads input column q*sw + bp - pl */
                    REAL *dst = xp + ((c * sh + a) * sw + bp) * plane + i * Wp;
                    int64_t lo, hi;
                    valid_range(bp - s->pl, sw, Wp, W, &lo, &hi);
                    const REAL *src = xrow + lo * sw + bp - s->pl;
                    if (sw == 1)
                        memcpy(dst + lo, src, sizeof(REAL) * (hi - lo));
                    else
                        for (int64_t q = 0; q < hi - lo; q++)
                            dst[lo + q] = src[q * sw];
                }
            }
}

/* cb (K, nc) = w . col for the plane-width pixels j0 .. j0+nc-1, reading col's rows in place in
 * the phase planes xp through a table of row offsets, KC rows at a time. */
static inline void SFX(forward_padded_block)(const pc_conv_shape *s, const REAL *pw,
                                             const REAL *xp, SFX(phases) g, int64_t j0,
                                             int64_t nc, REAL *cb)
{
    const int64_t sh = s->sh, sw = s->sw, CRS = s->C * s->R * s->S, Kp = pc_round_up(s->K, MR);
    int64_t off[PC_KC]; /* where each column-matrix row of the KC slice starts in xp */
    for (int64_t pc = 0; pc < CRS; pc += PC_KC) {
        int64_t kc = pc_min64(PC_KC, CRS - pc);
        pc_crs t = crs_of(pc, s->R, s->S);
        for (int64_t kk = 0; kk < kc; kk++, crs_next(&t, s->R, s->S)) {
            int64_t hr = t.r * s->dh, ws = t.s * s->dw;
            off[kk] = ((t.c * sh + hr % sh) * sw + ws % sw) * g.plane + hr / sh * g.Wp + ws / sw;
        }
        SFX(pc_gemm_macro_indirect)(s->K, nc, kc, pw + Kp * pc, xp + j0, off, cb, nc, pc > 0);
    }
}

/* y[n] (+ b) = the valid columns (q < Q) of the block cb (K, nc) of plane-width pixels j0.. */
static inline void SFX(forward_store_block)(const pc_conv_shape *s, const REAL *cb, int64_t Wp,
                                            int64_t n, int64_t j0, int64_t nc, const REAL *b,
                                            REAL *y)
{
    const int64_t K = s->K, P = s->P, Q = s->Q;
    /* runs of constant output row p */
    for (int64_t j = j0; j < j0 + nc;) {
        int64_t p = j / Wp, q = j % Wp, run = pc_min64(Wp - q, j0 + nc - j);
        if (q < Q) {
            int64_t len = pc_min64(run, Q - q);
            for (int64_t k = 0; k < K; k++) {
                REAL *yrow = y + ((n * K + k) * P + p) * Q + q;
                const REAL *crow = cb + k * nc + (j - j0);
                REAL bk = b ? b[k] : 0;
                if (b)
                    for (int64_t t = 0; t < len; t++)
                        yrow[t] = crow[t] + bk;
                else
                    memcpy(yrow, crow, sizeof(REAL) * len);
            }
        }
        j += run;
    }
}

/* Any stride: the image is copied once into a zero-padded buffer xp, split into stride phases:
 * plane (c, a, b) holds the padded input rows a, a+sh, a+2*sh, ... and of those the columns
 * b, b+sw, ... (a < sh, b < sw; at unit stride there is one phase, the padded image itself).
 * Each plane is Hp x Wp with Hp = P + (R-1)*dh/sh and Wp = Q + (S-1)*dw/sw (integer division).
 * Number the output pixels in the plane width, j = p*Wp + q (the columns q >= Q are junk). Tap
 * (r,s) of output (p,q) reads padded row p*sh + r*dh, i.e. row p + r*dh/sh of phase (r*dh)%sh,
 * and likewise for columns, so row (c,r,s) of the column matrix is contiguous in j:
 *   col[c,r,s][j] = xp[plane(c, (r*dh)%sh, (s*dw)%sw) + (r*dh/sh)*Wp + (s*dw/sw) + j].
 * A B panel row is thus NR consecutive values of xp, with no bounds checks and no short runs:
 * the GEMM reads them in place through a table of row offsets (pc_gemm_macro_indirect) instead
 * of copying them into a packed panel. The image (a few KiB to 300 KiB) stays in L1/L2, and each
 * packed element used to feed only 2*K flops, so the copy cost LeNet conv2 (K = 16) a quarter of
 * its forward time; at stride 2 the gather with bounds checks it replaces ran at ~77 GFLOP/s
 * per core. The GEMM writes a K x NCF block of these plane-width pixels to a per-thread buffer;
 * the valid columns are then copied to y. Junk columns cost (Wp-Q)/Wp of the work (11% for
 * 16x16 3x3, 4% for 56x56, 3% for 56x56 3x3 stride 2).
 * Work item = (image, group of pixel blocks); the group count only changes with the thread count
 * when there are fewer images than threads, and never changes any sum. */
static void SFX(forward_padded)(const pc_conv_shape *s, const REAL *x, const REAL *pw,
                                const REAL *b, REAL *y, int nt, int64_t groups)
{
    const int64_t Hp = s->P + (s->R - 1) * s->dh / s->sh, Wp = s->Q + (s->S - 1) * s->dw / s->sw;
    const SFX(phases) g = {Hp, Wp, Hp * Wp};
    const int64_t J = s->P * Wp, nblk = pc_ceil_div(J, NCF), per_group = pc_ceil_div(nblk, groups);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < s->N * groups; it++) {
        int64_t n = it / groups, blk0 = it % groups * per_group;
        int64_t blk1 = pc_min64(nblk, blk0 + per_group);
        if (blk0 >= blk1)
            continue;
        int tid = pc_tid();
        REAL *xp = pc_ws_get(tid, PC_WS_COL), *cb = pc_ws_get(tid, PC_WS_A);
        SFX(forward_copy_phases)(s, x + n * s->C * s->H * s->W, g, Wp + 2 * NR, xp);
        for (int64_t blk = blk0; blk < blk1; blk++) {
            int64_t j0 = blk * NCF, nc = pc_min64(NCF, J - j0);
            SFX(forward_padded_block)(s, pw, xp, g, j0, nc, cb);
            SFX(forward_store_block)(s, cb, Wp, n, j0, nc, b, y);
        }
    }
}

int SFX(pc_conv2d_forward_6_implicit)(const pc_conv_shape *s, const REAL *x, const REAL *w,
                                      const REAL *b, REAL *y)
{
    const int64_t K = s->K, CRS = s->C * s->R * s->S, Kp = pc_round_up(K, MR);
    const int nt = pc_threads();
    const int padded = CRS > 0 && !is_pointwise(s);
    int err = pc_ws_reserve(1, PC_WS_SHARED, pc_bytes(Kp * CRS, sizeof(REAL)));
    if (!err && !padded)
        err = pc_ws_reserve(nt, PC_WS_B, pc_bytes(PC_KC * pc_round_up(NCF, NR), sizeof(REAL)));
    if (!err && padded) {
        int64_t Wp = s->Q + (s->S - 1) * s->dw / s->sw, Hp = s->P + (s->R - 1) * s->dh / s->sh;
        err = pc_ws_reserve(nt, PC_WS_COL, pc_bytes(s->C * s->sh * s->sw * Hp * Wp + Wp + 2 * NR,
                                                    sizeof(REAL)));
        if (!err)
            err = pc_ws_reserve(nt, PC_WS_A, pc_bytes(K * pc_round_up(NCF, NR), sizeof(REAL)));
    }
    if (err)
        return err;
    /* the filters are the A operand of every image: pack them once, KC-deep slice after slice */
    REAL *pw = pc_ws_get(0, PC_WS_SHARED);
    for (int64_t pc = 0; pc < CRS; pc += PC_KC)
        SFX(pc_pack_a)(K, pc_min64(PC_KC, CRS - pc), w + pc, CRS, 1, pw + Kp * pc);
    if (padded)
        SFX(forward_padded)(s, x, pw, b, y, nt, s->N >= nt ? 1 : pc_ceil_div(nt, s->N));
    else
        SFX(forward_pointwise)(s, x, pw, b, y, nt);
    return PC_OK;
}

/* ---- the ladder: step number -> kernel ------------------------------------------------------- */

static int SFX(conv2d_forward)(const pc_conv_shape *shape, const REAL *x, const REAL *w,
                               const REAL *b, REAL *y, int step, int *ran)
{
    const int chosen = pc_step_choose(&pc_conv2d_forward_steps, step);
    if (ran)
        *ran = chosen;
    pc_conv_shape s;
    int direct, err = chosen ? pc_conv2d_prepare(shape, &s, &direct) : PC_EINVAL;
    if (err)
        return err;
    switch (chosen) {
    case 1: return SFX(conv2d_forward_1_naive)(&s, x, w, b, y);
    case 2: return SFX(conv2d_forward_2_im2col_naive)(&s, x, w, b, y);
    case 3: return SFX(conv2d_forward_3_im2col_blocked)(&s, x, w, b, y);
    case 4: return SFX(conv2d_forward_4_im2col_packed)(&s, x, w, b, y);
    case 5: return SFX(conv2d_forward_5_im2col_parallel)(&s, x, w, b, y);
    case 6:
        if (!direct)
            return SFX(pc_conv2d_forward_6_implicit)(&s, x, w, b, y);
        if (ran)   /* mostly padding: the direct loops are the fast way (pc_conv2d_prepare) */
            *ran = 1;
        return SFX(conv2d_forward_1_naive)(&s, x, w, b, y);
    }
    return PC_EINVAL;
}

#undef MR

#endif /* REAL */

#ifndef REAL /* the outer pass: the kernels once per element type, the step table, entry points */

#define PC_SELF "conv2d_forward.c"
#include "instantiate.h"

static const pc_step_info forward_steps[] = {
    {"naive", "the seven-deep loop nest, one output at a time"},
    {"im2col+naive", "column matrix of one image, then the triple-loop GEMM"},
    {"im2col+blocked", "the GEMM cache-blocked"},
    {"im2col+packed", "the GEMM on packed panels, register-tiled vector micro-kernel"},
    {"im2col+parallel", "OpenMP: im2col over channels, GEMM tiles of y over threads"},
    {"implicit", "no column matrix: GEMM reads padded stride-phase copies in place"},
};
const pc_step_table pc_conv2d_forward_steps = {"conv2d_forward", forward_steps,
                                               PC_STEP_COUNT(forward_steps)};

int pc_conv2d_forward_f32(const pc_conv_shape *s, const float *x, const float *w, const float *b,
                          float *y, int step, int *ran)
{
    return conv2d_forward_f32(s, x, w, b, y, step, ran);
}

int pc_conv2d_forward_f64(const pc_conv_shape *s, const double *x, const double *w,
                          const double *b, double *y, int step, int *ran)
{
    return conv2d_forward_f64(s, x, w, b, y, step, ran);
}

#endif
