/* conv2d_common.c: the shape check of every conv2d entry point, and the explicit im2col and
 * col2im of the teaching steps 2-5 (see conv2d.h for the shapes and the GEMMs they feed).
 *
 * im2col  col (CRS, PQ) of one image: row (c,r,s), column j = p*Q + q holds x[c, h, v] with
 *         h = p*sh - pt + r*dh, v = q*sw - pl + s*dw (0 in the padding). No FLOPs; it reads
 *         each input value up to R*S times and writes CRS*PQ values: R*S times the image when
 *         the stride is 1, which is the memory the fast path (step 6) never spends.
 * im2row  the same values transposed, col^T (PQ, CRS): one row per output pixel, so that the
 *         weight gradient's GEMM (dy . col^T) reads its B operand along rows.
 * col2im  the adjoint: every dcol value is added to the input pixel it was read from (values
 *         that land in the padding are dropped). CRS*PQ additions, scattered.
 * Both are written with bounds checks in the inner loop: the plain version, not the fast one.
 */
#ifndef REAL

#include <stdlib.h>
#include <string.h>

#include "conv2d.h"

int pc_conv2d_prepare(const pc_conv_shape *in, pc_conv_shape *s, int *direct)
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

void *pc_conv2d_alloc_col(int64_t rows, int64_t cols, size_t elem, int *err)
{
    const int64_t count = pc_smul(rows, cols);
    if (count >= PC_SIZE_MAX) {
        *err = PC_EINVAL;
        return NULL;
    }
    const size_t bytes = pc_bytes(count, elem);
    void *col = bytes == SIZE_MAX ? NULL : malloc(bytes > 0 ? bytes : 1);
    *err = col ? PC_OK : PC_ENOMEM;
    return col;
}

#endif /* outer pass */

#ifdef REAL /* the kernels for one element type */

void SFX(pc_conv2d_im2col)(const pc_conv_shape *s, const REAL *xn, int64_t i0, int64_t i1, REAL *col)
{
    const int64_t H = s->H, W = s->W, P = s->P, Q = s->Q;
    pc_crs t = crs_of(i0, s->R, s->S);
    for (int64_t i = i0; i < i1; i++, crs_next(&t, s->R, s->S)) {
        const REAL *xc = xn + t.c * H * W;
        REAL *row = col + (i - i0) * P * Q;
        for (int64_t p = 0; p < P; p++) {
            const int64_t h = p * s->sh - s->pt + t.r * s->dh;
            for (int64_t q = 0; q < Q; q++) {
                const int64_t v = q * s->sw - s->pl + t.s * s->dw;
                row[p * Q + q] = h >= 0 && h < H && v >= 0 && v < W ? xc[h * W + v] : 0;
            }
        }
    }
}

void SFX(pc_conv2d_im2row)(const pc_conv_shape *s, const REAL *xn, REAL *colt)
{
    const int64_t H = s->H, W = s->W, Q = s->Q, CRS = s->C * s->R * s->S;
    for (int64_t j = 0; j < s->P * Q; j++) {
        const int64_t p = j / Q, q = j % Q;
        REAL *row = colt + j * CRS;
        pc_crs t = crs_of(0, s->R, s->S);
        for (int64_t i = 0; i < CRS; i++, crs_next(&t, s->R, s->S)) {
            const int64_t h = p * s->sh - s->pt + t.r * s->dh, v = q * s->sw - s->pl + t.s * s->dw;
            row[i] = h >= 0 && h < H && v >= 0 && v < W ? xn[(t.c * H + h) * W + v] : 0;
        }
    }
}

void SFX(pc_conv2d_col2im)(const pc_conv_shape *s, const REAL *dcol, int64_t c0, int64_t c1, REAL *dxn)
{
    const int64_t H = s->H, W = s->W, R = s->R, S = s->S, P = s->P, Q = s->Q;
    for (int64_t c = c0; c < c1; c++) {
        REAL *dxc = dxn + c * H * W;
        memset(dxc, 0, sizeof(REAL) * H * W);
        for (int64_t r = 0; r < R; r++)
            for (int64_t t = 0; t < S; t++) {
                const REAL *row = dcol + ((c * R + r) * S + t) * P * Q;
                for (int64_t p = 0; p < P; p++) {
                    const int64_t h = p * s->sh - s->pt + r * s->dh;
                    if (h < 0 || h >= H)
                        continue;
                    for (int64_t q = 0; q < Q; q++) {
                        const int64_t v = q * s->sw - s->pl + t * s->dw;
                        if (v >= 0 && v < W)
                            dxc[h * W + v] += row[p * Q + q];
                    }
                }
            }
    }
}

#endif /* REAL */

#ifndef REAL /* the outer pass: compile the kernels above once per element type */

#define PC_SELF "conv2d_common.c"
#include "instantiate.h"

#endif
