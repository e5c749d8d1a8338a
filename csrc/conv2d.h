/* conv2d.h: what the conv2d files share (internal; the public entry points are in pyconv.h).
 *
 * 2-D convolution (cross-correlation, as in PyTorch), forward and backward, one file per direction:
 *   conv2d_forward.c          y  = conv(x, w) + b
 *   conv2d_backward_input.c   dx from dy and w
 *   conv2d_backward_weight.c  dw from dy and x, and db from dy
 *   conv2d_common.c           the shape check, im2col and col2im of the teaching steps
 *
 * Shapes: x (N,C,H,W) input, w (K,C,R,S) filters, b (K,), y (N,K,P,Q) output.
 * Output pixel (p,q) with kernel tap (r,s) reads input row h = p*sh - pt + r*dh and column
 * v = q*sw - pl + s*dw; outside [0,H) x [0,W) it reads zero (padding). Bottom and right padding
 * only shape P and Q, so the kernels never see them.
 *
 * Each direction is one GEMM per image on the column matrix col[n] (C*R*S, P*Q) of im2col, whose
 * row (c,r,s) holds, for every output pixel j = p*Q + q, the input value tap (r,s) reads:
 *
 *   forward          y[n]  (K, PQ)   = w (K, CRS)      . col[n] (CRS, PQ)          + b
 *   backward input   dcol  (CRS, PQ) = w^T (CRS, K)    . dy[n] (K, PQ);  dx[n] = col2im(dcol)
 *   backward weight  dw    (K, CRS)  = sum_n dy[n] (K, PQ) . col[n]^T (PQ, CRS)
 *   backward bias    db[k]           = sum_{n,p,q} dy[n,k,p,q]
 *
 * FLOPs: 2*N*K*C*R*S*P*Q for each of forward, backward input and backward weight.
 *
 * The ladder of each direction (pyconv.kernels, steps.h): 1 the direct loop nest, 2-4 the explicit
 * column matrix with the GEMM ladder's steps 1-3 (naive, blocked, packed), 5 the same with OpenMP,
 * 6 the fast path (implicit GEMM on padded copies, per-thread workspaces reused across calls).
 * Threads (OpenMP, pc_threads()): in every step each output element is written by one thread, in
 * an order that does not depend on the thread count, so results are the same bits on 1 or 16
 * threads and no atomics are needed; each file says how its work is split.
 *
 * Each .c file is compiled once per element type: the outer pass (REAL undefined) includes the
 * file itself twice, with REAL = float and SFX(name) = name_f32, then double and _f64; the
 * kernels are written once, inside `#ifdef REAL`.
 */
#ifndef PYCONV_CONV2D_H
#define PYCONV_CONV2D_H

#include <stddef.h>
#include <stdint.h>

#include "pyconv.h"
#include "checked.h"
#include "gemm.h"
#include "steps.h"

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
int pc_conv2d_prepare(const pc_conv_shape *in, pc_conv_shape *s, int *direct);

/* The column matrix of the teaching steps 2-5: malloc'ed rows x cols elements of `elem` bytes.
 * NULL with *err = PC_EINVAL when the element count reaches PC_SIZE_MAX (checked.h), PC_ENOMEM
 * when that much memory cannot be allocated. */
void *pc_conv2d_alloc_col(int64_t rows, int64_t cols, size_t elem, int *err);

/* im2col of one image xn (C,H,W): rows i0..i1-1 of col (CRS, PQ), row i = (c,r,s), written to
 * col (i1-i0, PQ); taps that fall in the padding get 0. Reads and writes (i1-i0)*PQ values.
 * im2row: the whole col^T (PQ, CRS) of one image, row j = (p,q).
 * col2im of channels c0..c1-1 of one image: dxn[c] (H,W) = the sum of the dcol (CRS, PQ) values
 * read from each input pixel, added in the order (r, s, p, q); writes only dxn[c0..c1).
 * pc_gemm_fn: the signature of the GEMM ladder's steps (gemm.h), which the teaching steps take
 * as an argument. pc_conv2d_forward_6_implicit is step 6 of the forward direction
 * (conv2d_forward.c); the input gradient's gather runs it on dy with flipped filters. */
#define PC_CONV2D_DECLARE(T, SFX)                                                                 \
    typedef int pc_gemm_fn##SFX(int64_t m, int64_t n, int64_t k, const T *a, int64_t a_rs,        \
                                int64_t a_cs, const T *b, int64_t b_rs, int64_t b_cs, T *c,       \
                                int64_t ldc, int accumulate);                                     \
    void pc_conv2d_im2col##SFX(const pc_conv_shape *s, const T *xn, int64_t i0, int64_t i1,      \
                               T *col);                                                           \
    void pc_conv2d_im2row##SFX(const pc_conv_shape *s, const T *xn, T *colt);                    \
    void pc_conv2d_col2im##SFX(const pc_conv_shape *s, const T *dcol, int64_t c0, int64_t c1,    \
                               T *dxn);                                                           \
    int pc_conv2d_forward_6_implicit##SFX(const pc_conv_shape *s, const T *x, const T *w,         \
                                          const T *b, T *y);
PC_CONV2D_DECLARE(float, _f32)
PC_CONV2D_DECLARE(double, _f64)
#undef PC_CONV2D_DECLARE

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

#endif
