/* conv2d.c: 2-D convolution (cross-correlation, as in PyTorch), forward and backward.
 *
 * Shapes: x (N,C,H,W) input, w (K,C,R,S) filters, b (K,), y (N,K,P,Q) output.
 * Output pixel (p,q) with kernel tap (r,s) reads input row h = p*sh - pt + r*dh and column
 * w = q*sw - pl + s*dw; outside [0,H) x [0,W) it reads zero (padding).
 *
 * Each direction is one GEMM per image, written as "implicit GEMM": the column matrix
 * col (C*R*S, P*Q) of im2col is never built; the GEMM's B panels are packed straight from x.
 *
 *   forward          y[n]  (K, PQ)   = w (K, CRS)      . col[n] (CRS, PQ)          + b
 *   backward input   dcol  (CRS, PQ) = w^T (CRS, K)    . dy[n] (K, PQ);  dx[n] = col2im(dcol)
 *   backward weight  dw    (K, CRS)  = sum_n dy[n] (K, PQ) . col[n]^T (PQ, CRS)
 *   backward bias    db[k]           = sum_{n,p,q} dy[n,k,p,q]
 *
 * What makes it fast is cheap packing: the GEMM core runs near peak (gemm.h), so the cost that
 * remains is reading the image R*S times into panels. Each path therefore first copies the image
 * once into a layout where a panel row is a straight copy, with the padding already in place:
 *   forward                zero-padded copy (C, Hp, Wp), split into sh*sw stride phases when the
 *                          stride is not 1; a panel row is NR consecutive positions of one row of
 *                          a phase (the Wp-Q junk columns per row are computed and dropped), so the
 *                          micro-kernel reads it in place: no packing at all.
 *   backward input         unit stride, C >= 2*MR, finite w: the forward kernel applied to dy with
 *                          transposed, flipped filters (a gather, no col2im). Otherwise the GEMM
 *                          above, then col2im into a zero-padded per-thread copy of dx[n] (at unit
 *                          stride with finite w, in padded-width numbering: one run per dcol row).
 *   backward weight        channels-last zero-padded copy (Hp, Wp, C) and dw columns in (r,s,c)
 *                          order: a panel row (one pixel) is NR channels of one tap, read in
 *                          place when C is a multiple of NR, else a few runs copied into a
 *                          packed panel. The result is permuted back to (K,C,R,S).
 *                          Tiny layers (K*C <= DOT_PAIRS, unit stride): no GEMM, one
 *                          vectorised dot product per dw element over padded rows.
 *   1x1, stride 1, no pad  x[n] is its own column matrix; dx is written by the GEMM directly.
 *
 * FLOPs: 2*N*K*C*R*S*P*Q for each of forward, backward input and backward weight.
 * Bytes: x, w, y (and dy, dx, dw) once each from memory, plus per-thread copies of one image and
 * a packed B block (KC x NC, L2-resident) rewritten for every KC-deep slice. Each packed element
 * feeds 2*K flops (K filters): at K = 64 that is ~4 cycles of FMA work per element, so packing
 * must cost well under a cycle per element, which the straight copies achieve and the bounds-
 * checked gathers of small images (Q = 10, runs of 10) do not.
 *
 * Threading plan (OpenMP, `pc_threads()` threads), chosen so each output element is written by one
 * thread in an order that does not depend on the thread count (bitwise-reproducible, no atomics):
 *   forward          work item = (image n, block of output pixels): a disjoint block of y.
 *   backward input   work item = (image n, group of input channels): col2im of channel c only
 *                    writes dx[n,c], so groups never overlap; inside a group the scatter-adds run
 *                    in a fixed order (pixel blocks, then r, s, p, q ascending). The gather path
 *                    is the forward kernel: one owner per dx element.
 *   backward weight  work item = a block of dw columns; the thread sums over all images and pixels
 *                    itself, in order, so the reduction over N*P*Q needs no atomics.
 *   backward bias    work item = one filter k.
 * Splitting images or channels into more groups changes which thread computes an element, never
 * the order of its sum (see gemm.h), so 1 and 2 threads give identical bits.
 *
 * Workspaces: the image copies, packed panels and the dcol block live in per-thread buffers that
 * grow and are reused across calls (pc_ws_reserve): one image and KC*NC or C*R*S*NCI elements per
 * thread, never a whole-batch column matrix. Fresh memory costs ~1.1 us per 4 KiB page here (a
 * page fault each), which is why nothing is malloc'ed per call once the buffers have grown.
 *
 * Entry points check every size first (conv_prepare: PC_EINVAL when a count or padded extent
 * would overflow). When the padded copies above would dwarf the data (huge strides, dilations or
 * paddings around a small output) they run the direct loop nests instead, which need no
 * workspace. The _naive functions always run those: the reference for tests, not for speed.
 */
#ifndef REAL

#include <string.h>

#include "pyconv.h"
#include "checked.h"
#include "gemm.h"
#include "steps.h"

/* Output pixels per forward work item; dcol columns per backward-input block; most image chunks
 * of backward weight. */
#define NCF 512
#define NCI 128
#define WCHUNKS 8
/* backward weight takes dot products up to this many filter/channel pairs (K*C): LeNet's first
 * layer (6) gains 4x; at 96 (its second) the channels-last GEMM was already 1.7x faster */
#define DOT_PAIRS 32

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

/* (c, r, s) of a column-matrix row, stepped one row at a time without divisions */
typedef struct {
    int64_t c, r, s;
} pc_crs;

static inline pc_crs crs_of(int64_t i, int64_t R, int64_t S)
{
    return (pc_crs){i / (R * S), i / S % R, i % S};
}

static inline void crs_next(pc_crs *t, int64_t R, int64_t S)
{
    if (++t->s == S) {
        t->s = 0;
        if (++t->r == R) {
            t->r = 0;
            t->c++;
        }
    }
}

/* A 1x1 kernel with unit stride and no padding: the column matrix is the image itself. */
static inline int is_pointwise(const pc_conv_shape *s)
{
    return s->R == 1 && s->S == 1 && s->sh == 1 && s->sw == 1 && s->P == s->H && s->Q == s->W;
}

/* Fast paths run while one image's padded copy, C*(P*sh + (R-1)*dh)*(Q*sw + (S-1)*dw) elements
 * (the largest per-thread workspace any of them builds), stays within this many times the real
 * data of one image (x[n], y[n] and w) or below DIRECT_FLOOR elements. Past that the geometry is
 * mostly padding or skipped pixels (stride 2^40 over a 1x300 row, a dilation wider than the
 * image) and the direct loops, which need no workspace and cost exactly the FLOPs, are the fast
 * way. */
#define DIRECT_RATIO 8
#define DIRECT_FLOOR ((int64_t)1 << 20)

/* The shape check of every conv2d entry point: PC_EINVAL for a shape the kernels cannot index
 * (a negative size, a zero stride or dilation, an element count or padded extent past
 * PC_SIZE_MAX). `s` gets the shape with what cannot change the result removed: the stride of a
 * single output row or column, the dilation of a single tap. *direct says whether the fast
 * paths' workspaces would be out of proportion (see DIRECT_RATIO). */
static int conv_prepare(const pc_conv_shape *in, pc_conv_shape *s, int *direct)
{
    *s = *in;
    if (s->N < 0 || s->C < 0 || s->H < 0 || s->W < 0 || s->K < 0 || s->R < 1 || s->S < 1 ||
        s->P < 0 || s->Q < 0 || s->sh < 1 || s->sw < 1 || s->pt < 0 || s->pl < 0 || s->dh < 1 ||
        s->dw < 1)
        return PC_EINVAL;
    if (s->P == 1)
        s->sh = 1;
    if (s->Q == 1)
        s->sw = 1;
    if (s->R == 1)
        s->dh = 1;
    if (s->S == 1)
        s->dw = 1;
    const int64_t image = pc_smul3(s->C, s->H, s->W), out = pc_smul3(s->K, s->P, s->Q);
    const int64_t filters = pc_smul4(s->K, s->C, s->R, s->S);
    const int64_t rows = pc_sadd(pc_smul(s->P, s->sh), pc_smul(s->R - 1, s->dh));
    const int64_t cols = pc_sadd(pc_smul(s->Q, s->sw), pc_smul(s->S - 1, s->dw));
    if (pc_smul(s->N, image) >= PC_SIZE_MAX || pc_smul(s->N, out) >= PC_SIZE_MAX ||
        filters >= PC_SIZE_MAX || rows >= PC_SIZE_MAX || cols >= PC_SIZE_MAX ||
        s->pt >= PC_SIZE_MAX || s->pl >= PC_SIZE_MAX)
        return PC_EINVAL;
    const int64_t padded = pc_smul3(s->C, rows, cols);
    const int64_t data = pc_smul(DIRECT_RATIO, pc_sadd(pc_sadd(image, out), filters));
    *direct = padded > pc_max64(DIRECT_FLOOR, data);
    return PC_OK;
}

static const pc_step_info forward_steps[] = {
    {"naive", "the seven-deep loop nest, one output at a time"},
    {"fast", "implicit GEMM on padded copies read in place"},
};
const pc_step_table pc_conv2d_forward_steps = {"conv2d_forward", forward_steps, PC_STEP_COUNT(forward_steps)};
static const pc_step_info input_steps[] = {
    {"naive", "the loop nest, one input gradient at a time"},
    {"fast", "GEMM + col2im, or the flipped-filter gather"},
};
const pc_step_table pc_conv2d_backward_input_steps = {"conv2d_backward_input", input_steps, PC_STEP_COUNT(input_steps)};
static const pc_step_info weight_steps[] = {
    {"naive", "the loop nest, one weight gradient at a time"},
    {"fast", "channels-last GEMM, or dot products for tiny layers"},
};
const pc_step_table pc_conv2d_backward_weight_steps = {"conv2d_backward_weight", weight_steps, PC_STEP_COUNT(weight_steps)};

#define REAL float
#define SFX(name) name##_f32
#define NR PC_NR_f32
#include "conv2d.c"
#undef REAL
#undef SFX
#undef NR

#define REAL double
#define SFX(name) name##_f64
#define NR PC_NR_f64
#include "conv2d.c"
#undef REAL
#undef SFX
#undef NR

#else /* REAL defined: the kernels for one element type */

#define MR PC_MR

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

/* ---- forward --------------------------------------------------------------------------------- */

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
    const int64_t C = s->C, H = s->H, W = s->W, K = s->K, P = s->P, Q = s->Q;
    const int64_t sh = s->sh, sw = s->sw, CRS = C * s->R * s->S, Kp = pc_round_up(K, MR);
    const int64_t Hp = P + (s->R - 1) * s->dh / sh, Wp = Q + (s->S - 1) * s->dw / sw;
    const int64_t plane = Hp * Wp;
    const int64_t J = P * Wp, nblk = pc_ceil_div(J, NCF), per_group = pc_ceil_div(nblk, groups);
    const int64_t xp_size = C * sh * sw * plane + Wp + 2 * NR;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < s->N * groups; it++) {
        int64_t n = it / groups, blk0 = it % groups * per_group;
        int64_t blk1 = pc_min64(nblk, blk0 + per_group);
        if (blk0 >= blk1)
            continue;
        int tid = pc_tid();
        REAL *xp = pc_ws_get(tid, PC_WS_COL), *cb = pc_ws_get(tid, PC_WS_A);
        int64_t off[PC_KC]; /* where each column-matrix row of the KC slice starts in xp */
        const REAL *xn = x + n * C * H * W;
        memset(xp, 0, sizeof(REAL) * xp_size);
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
        for (int64_t blk = blk0; blk < blk1; blk++) {
            int64_t j0 = blk * NCF, nc = pc_min64(NCF, J - j0);
            for (int64_t pc = 0; pc < CRS; pc += PC_KC) {
                int64_t kc = pc_min64(PC_KC, CRS - pc);
                pc_crs t = crs_of(pc, s->R, s->S);
                for (int64_t kk = 0; kk < kc; kk++, crs_next(&t, s->R, s->S)) {
                    int64_t hr = t.r * s->dh, ws = t.s * s->dw;
                    off[kk] = ((t.c * sh + hr % sh) * sw + ws % sw) * plane + hr / sh * Wp + ws / sw;
                }
                SFX(pc_gemm_macro_indirect)(K, nc, kc, pw + Kp * pc, xp + j0, off, cb, nc, pc > 0);
            }
            /* keep the valid columns: runs of constant output row p */
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
    }
}

static int SFX(forward_fast)(const pc_conv_shape *s, const REAL *x, const REAL *w, const REAL *b,
                             REAL *y)
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

/* ---- backward input -------------------------------------------------------------------------- */

/* Unit stride, finite filters: backward input is the forward convolution of dy with the filters
 * transposed (K <-> C) and flipped (r -> R-1-r, s -> S-1-s), padded by (R-1)*dh - pt on top and
 * (S-1)*dw - pl on the left (negative padding crops). It runs on forward_padded: a gather, no
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
    return SFX(forward_fast)(&g, dy, wt, NULL, dx);
}

static int SFX(backward_input_fast)(const pc_conv_shape *s, const REAL *dy, const REAL *w, REAL *dx)
{
    const int unit = s->sh == 1 && s->sw == 1 && !is_pointwise(s);
    int finite = 1;
    for (int64_t i = 0; unit && i < s->K * s->C * s->R * s->S; i++)
        finite &= (w[i] - w[i]) == 0;   /* false for inf and NaN */
    if (unit && finite && s->K > 0 && s->C >= 2 * MR)
        return SFX(backward_input_as_forward)(s, dy, w, dx);

    const int64_t C = s->C, K = s->K, RS = s->R * s->S, CRS = C * RS, PQ = s->P * s->Q;
    const int64_t HW = s->H * s->W;
    const int nt = pc_threads();
    /* enough channel groups to keep every thread busy when there are fewer images than threads */
    const int64_t groups = s->N >= nt ? 1 : pc_min64(C, pc_ceil_div(nt, pc_max64(s->N, 1)));
    const int64_t cg = pc_ceil_div(C, groups), mmax = pc_round_up(cg * RS, MR);
    /* pointwise: col2im is the identity, the GEMM writes dx directly */
    const int direct = is_pointwise(s);
    /* Unit stride, finite w (the few-channel layers that reach this path): number the dcol columns
     * in the padded width, j = p*Wp + q, with dy copied into zero-filled Wp-wide rows (dyp). Row
     * (c,r,s) of dcol then adds into dxp as one contiguous run, at offset r*dh*Wp + s*dw, instead of
     * P runs of Q; the junk columns hold w^T . 0 = 0 and add nothing. */
    const int flat = unit && finite;
    const int64_t Wq = flat ? (s->Q - 1) + (s->S - 1) * s->dw + 1 : s->Q;
    const int64_t J = flat ? s->P * Wq : PQ;
    int err = pc_ws_reserve(1, PC_WS_SHARED, pc_bytes(groups * mmax * pc_max64(K, 1), sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_B, pc_bytes(PC_KC * pc_round_up(NCI, NR), sizeof(REAL)));
    /* the input as the kernel windows see it: rows p*sh + r*dh, columns q*sw + s*dw */
    const int64_t Hp = (s->P - 1) * s->sh + (s->R - 1) * s->dh + 1;
    const int64_t Wp = (s->Q - 1) * s->sw + (s->S - 1) * s->dw + 1;
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_COL, pc_bytes(cg * RS * NCI, sizeof(REAL)));
    if (!err && !direct)   /* + slack: the last flat run may pass the end of the plane by (S-1)*dw */
        err = pc_ws_reserve(nt, PC_WS_PAD, pc_bytes(cg * Hp * Wp + Wp, sizeof(REAL)));
    if (!err && flat)
        err = pc_ws_reserve(nt, PC_WS_A, pc_bytes(K * J, sizeof(REAL)));
    if (err)
        return err;

    /* A = w^T restricted to each group's rows (c,r,s): A[i][k] = w[k*CRS + c0*RS + i], packed once
     * for all images */
    REAL *pw = pc_ws_get(0, PC_WS_SHARED);
    for (int64_t c0 = 0; c0 < C; c0 += cg) {
        int64_t m = (pc_min64(C, c0 + cg) - c0) * RS, mp = pc_round_up(m, MR);
        for (int64_t pc = 0; pc < K; pc += PC_KC)
            SFX(pc_pack_a)(m, pc_min64(PC_KC, K - pc), w + pc * CRS + c0 * RS, 1, CRS,
                           pw + c0 / cg * mmax * K + mp * pc);
    }

    const int64_t items = s->N * groups;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t n = it / groups, c0 = it % groups * cg, c1 = pc_min64(C, c0 + cg);
        if (c0 >= c1)
            continue;
        int tid = pc_tid();
        REAL *pb = pc_ws_get(tid, PC_WS_B), *dcol = pc_ws_get(tid, PC_WS_COL);
        int64_t m = (c1 - c0) * RS, mp = pc_round_up(m, MR);
        const REAL *pa = pw + it % groups * mmax * K;
        REAL *dxg = dx + (n * C + c0) * HW;
        const REAL *dyn = dy + n * K * PQ;
        REAL *dxp = pc_ws_get(tid, PC_WS_PAD);
        if (K == 0) {
            memset(dxg, 0, sizeof(REAL) * (c1 - c0) * HW);
            continue;
        }
        if (!direct)
            memset(dxp, 0, sizeof(REAL) * ((c1 - c0) * Hp * Wp + Wp));
        if (flat) {
            REAL *dyp = pc_ws_get(tid, PC_WS_A);
            memset(dyp, 0, sizeof(REAL) * K * J);
            for (int64_t k = 0; k < K; k++)
                for (int64_t p = 0; p < s->P; p++)
                    memcpy(dyp + k * J + p * Wq, dyn + (k * s->P + p) * s->Q, sizeof(REAL) * s->Q);
            dyn = dyp;
        }
        for (int64_t j0 = 0; j0 < J; j0 += NCI) {
            int64_t nc = pc_min64(NCI, J - j0);
            for (int64_t pc = 0; pc < K; pc += PC_KC) {
                int64_t kc = pc_min64(PC_KC, K - pc);
                SFX(pc_pack_b)(kc, nc, dyn + pc * J + j0, J, 1, pb);
                if (direct)
                    SFX(pc_gemm_macro)(m, nc, kc, pa + mp * pc, pb, dxg + j0, HW, pc > 0);
                else
                    SFX(pc_gemm_macro)(m, nc, kc, pa + mp * pc, pb, dcol, nc, pc > 0);
            }
            if (flat) {
                pc_crs t = {0, 0, 0};
                for (int64_t i = 0; i < m; i++, crs_next(&t, s->R, s->S)) {
                    REAL *run = dxp + t.c * Hp * Wp + t.r * s->dh * Wp + t.s * s->dw + j0;
                    const REAL *src = dcol + i * nc;
                    for (int64_t u = 0; u < nc; u++)
                        run[u] += src[u];
                }
            } else if (!direct) {
                SFX(col2im_add)(s, dcol, m, j0, nc, dxp, Hp, Wp);
            }
        }
        if (!direct)
            SFX(crop_padded)(s, dxp, c1 - c0, Hp, Wp, dxg);
    }
    return PC_OK;
}

/* ---- backward weight and bias ---------------------------------------------------------------- */

/* Columns of dw per work item for backward weight: PC_NC at most, fewer so every thread has work. */
static int64_t SFX(weight_block)(int64_t cols, int64_t mblk, int nt)
{
    int64_t nblk = pc_round_up(pc_max64(pc_ceil_div(cols, PC_NC), pc_ceil_div(nt, mblk)), nt);
    return pc_round_up(pc_ceil_div(cols, nblk), NR);
}

/* Backward weight: each image is first copied, zero-padded, into channels-last order
 * xt (Hp, Wp, C). Numbering the columns of dw (r, s, c) instead of (c, r, s), a B panel row (one
 * output pixel, NR consecutive columns) reads NR values at fixed offsets from the pixel: a straight
 * copy when they are NR channels of one tap (C a multiple of NR), else a few runs of consecutive
 * addresses (C channels, or S taps when C = 1), with no bounds checks (the padding is in xt). The (K, R, S, C) result is permuted to
 * (K, C, R, S) at the end. Every dw element sums the same products in the same
 * order as the general path (images, then pixels), so the two paths agree bit for bit. */
static int SFX(backward_weight_cl)(const pc_conv_shape *s, const REAL *dy, const REAL *x, REAL *dw)
{
    const int64_t C = s->C, H = s->H, W = s->W, K = s->K, R = s->R, S = s->S, Q = s->Q;
    const int64_t CRS = C * R * S, PQ = s->P * Q;
    const int64_t Hp = (s->P - 1) * s->sh + (R - 1) * s->dh + 1;
    const int64_t Wp = (Q - 1) * s->sw + (S - 1) * s->dw + 1;
    const int nt = pc_threads();
    const int64_t mblk = pc_ceil_div(K, PC_MC), ncw = SFX(weight_block)(CRS, mblk, nt);
    const int64_t nblk = pc_ceil_div(CRS, ncw);
    /* A small dw (LeNet-sized) gives too few column blocks to share: the images are then split
     * into up to WCHUNKS fixed chunks, each summed into its own partial dw, and the partials are
     * added in chunk order. The split depends on the shapes only, never on the thread count. */
    const int64_t chunks = mblk * pc_ceil_div(CRS, PC_NC) < 4 ? pc_min64(s->N, WCHUNKS) : 1;
    const int64_t per_chunk = pc_ceil_div(s->N, chunks);
    int err = pc_ws_reserve(nt, PC_WS_A, pc_bytes(pc_round_up(PC_MC, MR) * PC_KC, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_B, pc_bytes(PC_KC * ncw, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_COL, pc_bytes(Hp * Wp * C, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(1, PC_WS_SHARED2, pc_bytes(chunks * K * CRS, sizeof(REAL)));
    if (err)
        return err;
    REAL *dwt = pc_ws_get(0, PC_WS_SHARED2); /* chunks x (K, R, S, C) */
    const int64_t h0 = pc_max64(0, -s->pt), h1 = pc_min64(H, Hp - s->pt);
    const int64_t w0 = pc_max64(0, -s->pl), w1 = pc_min64(W, Wp - s->pl);

#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < chunks * mblk * nblk; it++) {
        int64_t chunk = it / (mblk * nblk), blk = it % (mblk * nblk);
        int64_t k0 = blk / nblk * PC_MC, mk = pc_min64(PC_MC, K - k0);
        int64_t j0 = blk % nblk * ncw, nc = pc_min64(ncw, CRS - j0);
        int64_t n0 = chunk * per_chunk, n1 = pc_min64(s->N, n0 + per_chunk);
        int tid = pc_tid();
        REAL *pa = pc_ws_get(tid, PC_WS_A), *pb = pc_ws_get(tid, PC_WS_B);
        REAL *xt = pc_ws_get(tid, PC_WS_COL);
        REAL *part = dwt + chunk * K * CRS;
        if (n0 >= n1)
            for (int64_t k = k0; k < k0 + mk; k++)
                memset(part + k * CRS + j0, 0, sizeof(REAL) * nc);
        for (int64_t n = n0; n < n1; n++) {
            const REAL *xn = x + n * C * H * W;
            memset(xt, 0, sizeof(REAL) * Hp * Wp * C);
            /* transpose in blocks of 16 channels: each pixel's 16 values are one contiguous store,
             * read from 16 channel rows that advance together */
            for (int64_t h = h0; h < h1; h++) {
                REAL *row = xt + (h + s->pt) * Wp * C + s->pl * C;
                const REAL *xh = xn + h * W;
                for (int64_t c0 = 0; c0 < C; c0 += 16) {
                    int64_t cn = pc_min64(16, C - c0);
                    for (int64_t w = w0; w < w1; w++)
                        for (int64_t c = c0; c < c0 + cn; c++)
                            row[w * C + c] = xh[c * H * W + w];
                }
            }
            for (int64_t pc = 0; pc < PQ; pc += PC_KC) {
                int64_t kc = pc_min64(PC_KC, PQ - pc);
                SFX(pc_pack_a)(mk, kc, dy + (n * K + k0) * PQ + pc, PQ, 1, pa);
                if (C % NR == 0) {
                    /* every panel is NR channels of one tap: read it in place, at the tap's offset
                     * from each pixel (same tiles, same sums as the packed panels below) */
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
                        SFX(pc_gemm_macro_indirect)(mk, NR, kc, pa, xt + toff, off,
                                                    part + k0 * CRS + col, CRS, n > n0 || pc > 0);
                    }
                    continue;
                }
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
                SFX(pc_gemm_macro)(mk, nc, kc, pa, pb, part + k0 * CRS + j0, CRS, n > n0 || pc > 0);
            }
        }
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t rs = 0; rs < R * S; rs++) {
                REAL sum = dwt[(k * R * S + rs) * C + c];
                for (int64_t chunk = 1; chunk < chunks; chunk++)
                    sum += dwt[chunk * K * CRS + (k * R * S + rs) * C + c];
                dw[(k * C + c) * R * S + rs] = sum;
            }
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

static int SFX(backward_weight_dot)(const pc_conv_shape *s, const REAL *dy, const REAL *x, REAL *dw)
{
    typedef SFX(dvec) dvec;
    enum { VL = PC_VEC_BYTES / (int)sizeof(REAL), KB = 8 };
    const int64_t C = s->C, H = s->H, W = s->W, K = s->K, R = s->R, S = s->S, P = s->P, Q = s->Q;
    const int64_t Hp = P + (R - 1) * s->dh, Wp = Q + (S - 1) * s->dw, plane = Hp * Wp;
    const int64_t L = pc_round_up(P * Wp, VL), KCRS = K * C * R * S, Kp = pc_round_up(K, KB);
    const int nt = pc_threads();
    const int64_t chunks = pc_min64(s->N, WCHUNKS), per_chunk = pc_ceil_div(s->N, chunks);
    int err = pc_ws_reserve(nt, PC_WS_COL, pc_bytes(C * plane + L + Wp, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(nt, PC_WS_PAD, pc_bytes(Kp * L, sizeof(REAL)));
    if (!err)
        err = pc_ws_reserve(1, PC_WS_SHARED2, pc_bytes(chunks * KCRS * VL, sizeof(REAL)));
    if (err)
        return err;
    /* per chunk, one vector of lane partial sums per dw element: lanes are added only at the end */
    dvec *parts = pc_ws_get(0, PC_WS_SHARED2);
    const int64_t h0 = pc_max64(0, -s->pt), h1 = pc_min64(H, Hp - s->pt);
    const int64_t w0 = pc_max64(0, -s->pl), w1 = pc_min64(W, Wp - s->pl);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t chunk = 0; chunk < chunks; chunk++) {
        int tid = pc_tid();
        REAL *xp = pc_ws_get(tid, PC_WS_COL), *dyp = pc_ws_get(tid, PC_WS_PAD);
        dvec *part = parts + chunk * KCRS;
        for (int64_t i = 0; i < KCRS; i++)
            part[i] = (dvec){0};
        for (int64_t n = chunk * per_chunk; n < pc_min64(s->N, (chunk + 1) * per_chunk); n++) {
            const REAL *xn = x + n * C * H * W, *dyn = dy + n * K * P * Q;
            memset(xp, 0, sizeof(REAL) * (C * plane + L + Wp));
            for (int64_t c = 0; c < C; c++)
                for (int64_t h = h0; h < h1; h++)
                    if (w1 > w0)
                        memcpy(xp + c * plane + (h + s->pt) * Wp + w0 + s->pl,
                               xn + (c * H + h) * W + w0, sizeof(REAL) * (w1 - w0));
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
 * batches take this path; every other shape the channels-last one above. */
static int SFX(backward_weight_fast)(const pc_conv_shape *s, const REAL *dy, const REAL *x, REAL *dw)
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

int SFX(pc_conv2d_backward_bias)(const pc_conv_shape *s, const REAL *dy, REAL *db)
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

/* ---- direct loops: the textbook loop nests, the reference of the tests, and the path for shapes
 * that are mostly padding (see conv_prepare) ----------------------------------------------------- */

static int SFX(forward_direct)(const pc_conv_shape *s, const REAL *x, const REAL *w, const REAL *b,
                               REAL *y)
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

static int SFX(backward_input_direct)(const pc_conv_shape *s, const REAL *dy, const REAL *w,
                                      REAL *dx)
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

static int SFX(backward_weight_direct)(const pc_conv_shape *s, const REAL *dy, const REAL *x,
                                       REAL *dw)
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
                            if (h >= 0 && h < H && v >= 0 && v < W)
                                acc += dy[((n * K + k) * P + p) * Q + q] * x[((n * C + c) * H + h) * W + v];
                        }
                dw[(kc * R + r) * S + t] = acc;
            }
    }
    return PC_OK;
}

/* ---- entry points ----------------------------------------------------------------------------
 * Each checks and normalises the shape (conv_prepare), then runs the fast path, or the direct
 * loops when the fast path's workspaces would be out of proportion. The _naive twins always run
 * the direct loops. */

static int SFX(step2_forward)(const pc_conv_shape *shape, const REAL *x, const REAL *w, const REAL *b,
                           REAL *y)
{
    pc_conv_shape s;
    int direct, err = conv_prepare(shape, &s, &direct);
    if (err)
        return err;
    return direct ? SFX(forward_direct)(&s, x, w, b, y) : SFX(forward_fast)(&s, x, w, b, y);
}

static int SFX(step1_forward)(const pc_conv_shape *shape, const REAL *x, const REAL *w,
                                 const REAL *b, REAL *y)
{
    pc_conv_shape s;
    int direct, err = conv_prepare(shape, &s, &direct);
    return err ? err : SFX(forward_direct)(&s, x, w, b, y);
}

static int SFX(step2_backward_input)(const pc_conv_shape *shape, const REAL *dy, const REAL *w,
                                  REAL *dx)
{
    pc_conv_shape s;
    int direct, err = conv_prepare(shape, &s, &direct);
    if (err)
        return err;
    return direct ? SFX(backward_input_direct)(&s, dy, w, dx) : SFX(backward_input_fast)(&s, dy, w, dx);
}

static int SFX(step1_backward_input)(const pc_conv_shape *shape, const REAL *dy, const REAL *w,
                                        REAL *dx)
{
    pc_conv_shape s;
    int direct, err = conv_prepare(shape, &s, &direct);
    return err ? err : SFX(backward_input_direct)(&s, dy, w, dx);
}

static int SFX(step2_backward_weight)(const pc_conv_shape *shape, const REAL *dy, const REAL *x,
                                   REAL *dw)
{
    pc_conv_shape s;
    int direct, err = conv_prepare(shape, &s, &direct);
    if (err)
        return err;
    return direct ? SFX(backward_weight_direct)(&s, dy, x, dw) : SFX(backward_weight_fast)(&s, dy, x, dw);
}

static int SFX(step1_backward_weight)(const pc_conv_shape *shape, const REAL *dy, const REAL *x,
                                         REAL *dw)
{
    pc_conv_shape s;
    int direct, err = conv_prepare(shape, &s, &direct);
    return err ? err : SFX(backward_weight_direct)(&s, dy, x, dw);
}

int SFX(pc_conv2d_forward)(const pc_conv_shape *shape, const REAL *x, const REAL *w, const REAL *b, REAL *y, int step, int *ran)
{
    int s = pc_step_choose(&pc_conv2d_forward_steps, step);
    if (ran)
        *ran = s;
    return s == 1 ? SFX(step1_forward)(shape, x, w, b, y) : s == 2 ? SFX(step2_forward)(shape, x, w, b, y) : PC_EINVAL;
}

int SFX(pc_conv2d_backward_input)(const pc_conv_shape *shape, const REAL *dy, const REAL *w, REAL *dx, int step, int *ran)
{
    int s = pc_step_choose(&pc_conv2d_backward_input_steps, step);
    if (ran)
        *ran = s;
    return s == 1 ? SFX(step1_backward_input)(shape, dy, w, dx) : s == 2 ? SFX(step2_backward_input)(shape, dy, w, dx) : PC_EINVAL;
}

int SFX(pc_conv2d_backward_weight)(const pc_conv_shape *shape, const REAL *dy, const REAL *x, REAL *dw, int step, int *ran)
{
    int s = pc_step_choose(&pc_conv2d_backward_weight_steps, step);
    if (ran)
        *ran = s;
    return s == 1 ? SFX(step1_backward_weight)(shape, dy, x, dw) : s == 2 ? SFX(step2_backward_weight)(shape, dy, x, dw) : PC_EINVAL;
}

#undef MR

#endif
