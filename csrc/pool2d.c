/* pool2d.c: max, min and average pooling, forward and backward.
 *
 * Shapes: x (N,C,H,W), window R x S, stride (sh,sw), symmetric padding (ph,pw), y (N,C,P,Q).
 * Output (p,q) covers input rows h = p*sh - ph + r, columns w = q*sw - pw + s (0 <= r < R,
 * 0 <= s < S), read in that row-major order. Padding reads as -inf (max), +inf (min), 0 (avg).
 * Max/min save idx (N,C,P,Q) int64, the flat index h*W + w of the chosen element in its plane:
 * the first NaN of the window if there is one, else the first extreme (numpy's argmax rule).
 * Average divides by R*S, padding included (PyTorch's count_include_pad=True).
 *
 * FLOPs: N*C*P*Q*R*S comparisons or adds. Bytes: x read once, y (+ idx, 8 bytes per output)
 * written once; backward reads dy (+ idx) and writes dx once. Memory-bound: at ~20 GB/s per core
 * the 2x2/2 max pool of a (64,32,28,28) float batch (6.4 MB in, 4.8 MB out) takes ~0.3 ms.
 *
 * Threading: work item = one (n,c) plane. Windows only overlap inside a plane, so the backward
 * scatter-adds of different threads never touch the same dx element, and within a plane they run
 * in output order: no atomics, identical bits for any thread count. dx is zeroed plane by plane by
 * the thread that fills it, so the plane is still in cache for the scatter.
 *
 * The fast forward kernels split each row of outputs into border windows (checked against the
 * padding) and interior windows (no checks, a tight loop); the _naive ones check every read.
 */
#ifndef REAL

#include <math.h>
#include <string.h>

#include "pyconv.h"
#include "gemm.h"

#define REAL float
#define SFX(name) name##_f32
#include "pool2d.c"
#undef REAL
#undef SFX

#define REAL double
#define SFX(name) name##_f64
#include "pool2d.c"
#undef REAL
#undef SFX

#else /* REAL defined: the kernels for one element type */

/* Does v replace the current choice? sign = +1 for max, -1 for min. A NaN wins over any number,
 * and only strictly better numbers replace the current one, so the first extreme stays. */
static inline int SFX(better)(REAL v, REAL best, int sign)
{
    if (best != best)
        return 0;
    if (v != v)
        return 1;
    return sign > 0 ? v > best : v < best;
}

/* one window, every read checked: the border case of the fast kernel and the whole naive kernel */
static inline void SFX(arg_window)(const pc_pool_shape *s, const REAL *xp, int64_t h0, int64_t w0,
                                   int sign, REAL fill, REAL *y, int64_t *idx)
{
    REAL best = 0;
    int64_t bi = 0;
    for (int64_t r = 0; r < s->R; r++)
        for (int64_t t = 0; t < s->S; t++) {
            int64_t h = h0 + r, w = w0 + t;
            REAL v = (h >= 0 && h < s->H && w >= 0 && w < s->W) ? xp[h * s->W + w] : fill;
            if ((r == 0 && t == 0) || SFX(better)(v, best, sign)) {
                best = v;
                bi = h * s->W + w;
            }
        }
    *y = best;
    *idx = bi;
}

static int SFX(arg_pool_forward)(const pc_pool_shape *s, const REAL *x, REAL *y, int64_t *idx,
                                 int sign, int naive)
{
    const REAL fill = sign > 0 ? -INFINITY : INFINITY;
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
    /* outputs q in [qa, qb) have windows entirely inside the columns of the input */
    const int64_t qa = pc_min64(s->Q, pc_ceil_div(s->pw, s->sw));
    const int64_t qb = pc_max64(qa, pc_min64(s->Q, (s->W + s->pw - s->S) / s->sw + 1));
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t pl = 0; pl < s->N * s->C; pl++) {
        const REAL *xp = x + pl * HW;
        REAL *yp = y + pl * PQ;
        int64_t *ip = idx + pl * PQ;
        for (int64_t p = 0; p < s->P; p++) {
            int64_t h0 = p * s->sh - s->ph;
            int inside_rows = h0 >= 0 && h0 + s->R <= s->H;
            for (int64_t q = 0; q < s->Q; q++) {
                int64_t w0 = q * s->sw - s->pw;
                if (naive || !inside_rows || q < qa || q >= qb) {
                    SFX(arg_window)(s, xp, h0, w0, sign, fill, yp + p * s->Q + q, ip + p * s->Q + q);
                    continue;
                }
                const REAL *win = xp + h0 * s->W + w0;
                REAL best = win[0];
                int64_t bi = 0;
                for (int64_t r = 0; r < s->R; r++)
                    for (int64_t t = 0; t < s->S; t++) {
                        REAL v = win[r * s->W + t];
                        if (SFX(better)(v, best, sign)) {
                            best = v;
                            bi = r * s->W + t;
                        }
                    }
                yp[p * s->Q + q] = best;
                ip[p * s->Q + q] = h0 * s->W + w0 + bi;
            }
        }
    }
    return PC_OK;
}

int SFX(pc_max_pool2d_forward)(const pc_pool_shape *s, const REAL *x, REAL *y, int64_t *idx)
{
    return SFX(arg_pool_forward)(s, x, y, idx, +1, 0);
}

int SFX(pc_max_pool2d_forward_naive)(const pc_pool_shape *s, const REAL *x, REAL *y, int64_t *idx)
{
    return SFX(arg_pool_forward)(s, x, y, idx, +1, 1);
}

int SFX(pc_min_pool2d_forward)(const pc_pool_shape *s, const REAL *x, REAL *y, int64_t *idx)
{
    return SFX(arg_pool_forward)(s, x, y, idx, -1, 0);
}

int SFX(pc_min_pool2d_forward_naive)(const pc_pool_shape *s, const REAL *x, REAL *y, int64_t *idx)
{
    return SFX(arg_pool_forward)(s, x, y, idx, -1, 1);
}

/* max and min backward: dx[idx] += dy, plane by plane; an index outside its plane is an error */
int SFX(pc_index_pool2d_backward)(const pc_pool_shape *s, const REAL *dy, const int64_t *idx,
                                  REAL *dx)
{
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
    int bad = 0;
#pragma omp parallel for num_threads(pc_threads()) schedule(static) reduction(| : bad)
    for (int64_t pl = 0; pl < s->N * s->C; pl++) {
        REAL *dxp = dx + pl * HW;
        const REAL *dyp = dy + pl * PQ;
        const int64_t *ip = idx + pl * PQ;
        memset(dxp, 0, sizeof(REAL) * HW);
        for (int64_t j = 0; j < PQ; j++) {
            int64_t i = ip[j];
            if (i < 0 || i >= HW) {
                bad = 1;
                continue;
            }
            dxp[i] += dyp[j];
        }
    }
    return bad ? PC_EINVAL : PC_OK;
}

static int SFX(avg_forward)(const pc_pool_shape *s, const REAL *x, REAL *y, int naive)
{
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
    const REAL area = (REAL)(s->R * s->S);
    const int64_t qa = pc_min64(s->Q, pc_ceil_div(s->pw, s->sw));
    const int64_t qb = pc_max64(qa, pc_min64(s->Q, (s->W + s->pw - s->S) / s->sw + 1));
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t pl = 0; pl < s->N * s->C; pl++) {
        const REAL *xp = x + pl * HW;
        REAL *yp = y + pl * PQ;
        for (int64_t p = 0; p < s->P; p++) {
            int64_t h0 = p * s->sh - s->ph;
            int inside_rows = h0 >= 0 && h0 + s->R <= s->H;
            for (int64_t q = 0; q < s->Q; q++) {
                int64_t w0 = q * s->sw - s->pw;
                REAL sum = 0;
                if (naive || !inside_rows || q < qa || q >= qb) {
                    for (int64_t r = 0; r < s->R; r++)
                        for (int64_t t = 0; t < s->S; t++) {
                            int64_t h = h0 + r, w = w0 + t;
                            if (h >= 0 && h < s->H && w >= 0 && w < s->W)
                                sum += xp[h * s->W + w];
                        }
                } else {
                    const REAL *win = xp + h0 * s->W + w0;
                    for (int64_t r = 0; r < s->R; r++)
                        for (int64_t t = 0; t < s->S; t++)
                            sum += win[r * s->W + t];
                }
                yp[p * s->Q + q] = sum / area;
            }
        }
    }
    return PC_OK;
}

int SFX(pc_avg_pool2d_forward)(const pc_pool_shape *s, const REAL *x, REAL *y)
{
    return SFX(avg_forward)(s, x, y, 0);
}

int SFX(pc_avg_pool2d_forward_naive)(const pc_pool_shape *s, const REAL *x, REAL *y)
{
    return SFX(avg_forward)(s, x, y, 1);
}

int SFX(pc_avg_pool2d_backward)(const pc_pool_shape *s, const REAL *dy, REAL *dx)
{
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
    const REAL area = (REAL)(s->R * s->S);
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t pl = 0; pl < s->N * s->C; pl++) {
        REAL *dxp = dx + pl * HW;
        const REAL *dyp = dy + pl * PQ;
        memset(dxp, 0, sizeof(REAL) * HW);
        for (int64_t p = 0; p < s->P; p++) {
            int64_t h0 = p * s->sh - s->ph;
            int64_t ra = pc_max64(0, -h0), rb = pc_min64(s->R, s->H - h0);
            for (int64_t q = 0; q < s->Q; q++) {
                int64_t w0 = q * s->sw - s->pw;
                int64_t ta = pc_max64(0, -w0), tb = pc_min64(s->S, s->W - w0);
                REAL share = dyp[p * s->Q + q] / area;
                for (int64_t r = ra; r < rb; r++)
                    for (int64_t t = ta; t < tb; t++)
                        dxp[(h0 + r) * s->W + w0 + t] += share;
            }
        }
    }
    return PC_OK;
}

#endif
