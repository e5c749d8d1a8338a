/* pool2d.c: max, min and average pooling, forward and backward.
 *
 * Shapes: x (N,C,H,W), window R x S, stride (sh,sw), symmetric padding (ph,pw), y (N,C,P,Q).
 * Output (p,q) covers input rows h = p*sh - ph + r, columns w = q*sw - pw + s (0 <= r < R,
 * 0 <= s < S), read in that row-major order. Padding reads as -inf (max), +inf (min), 0 (avg).
 * Max/min save idx (N,C,P,Q) int64, the flat index h*W + w of the chosen element in its plane:
 * the first NaN of the window if there is one, else the first extreme (numpy's argmax rule),
 * always a real pixel (padding can only tie with one, and the real pixel wins).
 * Average divides by R*S, padding included (PyTorch's count_include_pad=True).
 *
 * FLOPs: N*C*P*Q*R*S comparisons or adds. Bytes: x read once, y (+ idx, 8 bytes per output)
 * written once; backward reads dy (+ idx) and writes dx once. Memory-bound: at ~20 GB/s per core
 * the 2x2/2 max pool of a (64,32,28,28) float batch (6.4 MB in, 4.8 MB out) takes ~0.3 ms.
 *
 * Threading: work item = one (n,c) plane (the naive forward steps run on one thread). Windows
 * only overlap inside a plane, so the backward scatter-adds of different threads never touch the
 * same dx element, and within a plane they run in output order: no atomics, identical bits for any
 * thread count. dx is zeroed plane by plane by the thread that fills it, so the plane is still in
 * cache for the scatter.
 *
 * The ladder of the forward kernels (same values, same idx, on every step):
 *   max/min  1 naive    every window clipped to the image, one output at a time, branchy
 *                       compare-and-select, one thread
 *            2 general  each row of outputs split into border windows (clipped) and interior
 *                       windows, computed a run of POOL_CHUNK outputs at a time so the
 *                       compare-and-selects vectorise; OpenMP over the planes
 *            3 2x2      the most common window, 2x2 with stride 2 and no padding, vector compares
 *                       and bitwise selects on whole vectors of outputs; any other window runs
 *                       step 2 (and reports ran = 2). The default.
 *   avg      1 naive    every window clipped to the image, one output at a time, one thread
 *            2 general  interior windows summed without bounds checks; OpenMP over the planes.
 *                       The default.
 * All steps do the same FLOPs and move the same bytes; they differ in how many outputs a cycle
 * they finish. Branchy compare-and-select on random data mispredicts every other output: the
 * first scalar version ran at ~20 ns per output, the vector one at ~2.
 * Measured (python -m pyconv bench --ladder --op max_pool2d_forward; benchmarks/NOTES.md), ms for
 * 64x32x28x28, float32, 2 threads, 2-core AVX2 machine: max 2x2/2: 1: 11.6  2: 3.8  3: 1.6;
 * max 3x3/2 pad 1: 1: 18.5  2: 5.5  3 (falls back to 2): 5.9; avg 2x2/2: 1: 4.7  2: 4.7.
 * The backward kernels are one step each (a loop over the outputs; nothing to climb).
 */
#ifndef REAL

#include <math.h>
#include <string.h>

#include "pyconv.h"
#include "checked.h"
#include "gemm.h"
#include "steps.h"

/* outputs per run of the vectorised interior loop of max/min pooling */
#define POOL_CHUNK 64

/* The shape check of every pooling entry point: PC_EINVAL for negative sizes, a zero stride,
 * padding over half the window, or a count or padded extent past PC_SIZE_MAX. `s` gets the shape
 * without the stride of a single output row or column. The loops clip every window to the
 * image, so their cost is the real pixels, whatever the window and padding. */
static int pool_prepare(const pc_pool_shape *in, pc_pool_shape *s)
{
    *s = *in;
    if (s->N < 0 || s->C < 0 || s->H < 0 || s->W < 0 || s->R < 1 || s->S < 1 || s->P < 0 ||
        s->Q < 0 || s->sh < 1 || s->sw < 1 || s->ph < 0 || s->pw < 0 || s->ph > s->R / 2 ||
        s->pw > s->S / 2)
        return PC_EINVAL;
    if (s->P == 1)
        s->sh = 1;
    if (s->Q == 1)
        s->sw = 1;
    const int64_t planes = pc_smul(s->N, s->C);
    if (pc_smul3(planes, s->H, s->W) >= PC_SIZE_MAX || pc_smul3(planes, s->P, s->Q) >= PC_SIZE_MAX ||
        pc_smul(s->R, s->S) >= PC_SIZE_MAX || pc_sadd(pc_smul(s->P, s->sh), s->R) >= PC_SIZE_MAX ||
        pc_sadd(pc_smul(s->Q, s->sw), s->S) >= PC_SIZE_MAX)
        return PC_EINVAL;
    return PC_OK;
}

/* Step 3 of max/min pooling applies to 2x2 windows with stride 2 and no padding (the shape as
 * pool_prepare leaves it: a single output row or column has stride 1). */
static int pool_is_2x2(const pc_pool_shape *s)
{
    return s->R == 2 && s->S == 2 && s->sh == 2 && s->sw == 2 && s->ph == 0 && s->pw == 0;
}

/* The range [*qa, *qb) of output columns whose windows lie entirely inside the input's columns;
 * empty when there is none. */
static void pool_interior_columns(const pc_pool_shape *s, int64_t *qa, int64_t *qb)
{
    *qa = pc_min64(s->Q, pc_ceil_div(s->pw, s->sw));
    *qb = pc_max64(*qa, pc_min64(s->Q, (s->W + s->pw - s->S) / s->sw + 1));
}

static const pc_step_info arg_steps[] = {
    {"naive", "every window clipped to the image, one output at a time; one thread"},
    {"general", "interior windows in vectorised runs, border windows clipped; OpenMP planes"},
    {"2x2", "2x2/2 windows in vector registers with bitwise selects (else step 2)"},
};
const pc_step_table pc_max_pool2d_forward_steps = {"max_pool2d_forward", arg_steps, PC_STEP_COUNT(arg_steps)};
const pc_step_table pc_min_pool2d_forward_steps = {"min_pool2d_forward", arg_steps, PC_STEP_COUNT(arg_steps)};
static const pc_step_info avg_steps[] = {
    {"naive", "every window clipped to the image, one output at a time; one thread"},
    {"general", "interior windows without bounds checks; OpenMP over the planes"},
};
const pc_step_table pc_avg_pool2d_forward_steps = {"avg_pool2d_forward", avg_steps, PC_STEP_COUNT(avg_steps)};

#define PC_SELF "pool2d.c"
#include "instantiate.h"

/* The entry points, by name (the step dispatch is in arg_pool_forward and avg_pool_forward). */

int pc_max_pool2d_forward_f32(const pc_pool_shape *s, const float *x, float *y, int64_t *idx,
                              int step, int *ran)
{
    return arg_pool_forward_f32(&pc_max_pool2d_forward_steps, +1, s, x, y, idx, step, ran);
}

int pc_max_pool2d_forward_f64(const pc_pool_shape *s, const double *x, double *y, int64_t *idx,
                              int step, int *ran)
{
    return arg_pool_forward_f64(&pc_max_pool2d_forward_steps, +1, s, x, y, idx, step, ran);
}

int pc_min_pool2d_forward_f32(const pc_pool_shape *s, const float *x, float *y, int64_t *idx,
                              int step, int *ran)
{
    return arg_pool_forward_f32(&pc_min_pool2d_forward_steps, -1, s, x, y, idx, step, ran);
}

int pc_min_pool2d_forward_f64(const pc_pool_shape *s, const double *x, double *y, int64_t *idx,
                              int step, int *ran)
{
    return arg_pool_forward_f64(&pc_min_pool2d_forward_steps, -1, s, x, y, idx, step, ran);
}

int pc_index_pool2d_backward_f32(const pc_pool_shape *s, const float *dy, const int64_t *idx,
                                 float *dx)
{
    return index_pool_backward_f32(s, dy, idx, dx);
}

int pc_index_pool2d_backward_f64(const pc_pool_shape *s, const double *dy, const int64_t *idx,
                                 double *dx)
{
    return index_pool_backward_f64(s, dy, idx, dx);
}

int pc_avg_pool2d_forward_f32(const pc_pool_shape *s, const float *x, float *y, int step, int *ran)
{
    return avg_pool_forward_f32(s, x, y, step, ran);
}

int pc_avg_pool2d_forward_f64(const pc_pool_shape *s, const double *x, double *y, int step,
                              int *ran)
{
    return avg_pool_forward_f64(s, x, y, step, ran);
}

int pc_avg_pool2d_backward_f32(const pc_pool_shape *s, const float *dy, float *dx)
{
    return avg_pool_backward_f32(s, dy, dx);
}

int pc_avg_pool2d_backward_f64(const pc_pool_shape *s, const double *dy, double *dx)
{
    return avg_pool_backward_f64(s, dy, dx);
}

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

/* One window, clipped to the real pixels: the border windows of step 2 and every window of
 * step 1. Padding reads as -inf (max) or +inf (min), so it can only tie with a real pixel,
 * never beat one; skipping it gives the same value and keeps idx inside the plane. The op layer
 * guarantees padding <= kernel/2, so every window holds at least one real pixel. */
static inline void SFX(arg_window)(const pc_pool_shape *s, const REAL *xp, int64_t h0, int64_t w0,
                                   int sign, REAL *y, int64_t *idx)
{
    const int64_t ra = h0 < 0 ? -h0 : 0, rb = h0 + s->R > s->H ? s->H - h0 : s->R;
    const int64_t ta = w0 < 0 ? -w0 : 0, tb = w0 + s->S > s->W ? s->W - w0 : s->S;
    REAL best = xp[(h0 + ra) * s->W + w0 + ta];
    int64_t bi = (h0 + ra) * s->W + w0 + ta;
    for (int64_t r = ra; r < rb; r++)
        for (int64_t t = ta; t < tb; t++) {
            REAL v = xp[(h0 + r) * s->W + w0 + t];
            if (SFX(better)(v, best, sign)) {
                best = v;
                bi = (h0 + r) * s->W + w0 + t;
            }
        }
    *y = best;
    *idx = bi;
}

/* Interior outputs q in [qa, qb) of output row p, whose windows lie inside the input: the
 * window loops run outside and q inside, in chunks, so each step is the same compare-and-select
 * on a run of outputs and the compiler vectorises it (strided loads for sw > 1). */

static void SFX(arg_pool_interior)(const pc_pool_shape *s, const REAL *xp, int64_t h0, int64_t qa,
                                   int64_t qb, int sign, REAL *yrow, int64_t *irow)
{
    const int64_t W = s->W, sw = s->sw;
    REAL best[POOL_CHUNK];
    int64_t bi[POOL_CHUNK];
    for (int64_t q0 = qa; q0 < qb; q0 += POOL_CHUNK) {
        int64_t nq = pc_min64(POOL_CHUNK, qb - q0);
        const REAL *base = xp + h0 * W + q0 * sw - s->pw;
        int64_t first = h0 * W + q0 * sw - s->pw;
        for (int64_t j = 0; j < nq; j++) {
            best[j] = base[j * sw];
            bi[j] = first + j * sw;
        }
        for (int64_t r = 0; r < s->R; r++)
            for (int64_t t = (r == 0); t < s->S; t++) {
                const REAL *v = base + r * W + t;
                int64_t off = first + r * W + t;
                for (int64_t j = 0; j < nq; j++) {
                    REAL vj = v[j * sw], bj = best[j];
                    int take = sign > 0 ? vj > bj : vj < bj;
                    take |= (vj != vj) & (bj == bj);
                    best[j] = take ? vj : bj;
                    bi[j] = take ? off + j * sw : bi[j];
                }
            }
        memcpy(yrow + q0, best, sizeof(REAL) * nq);
        memcpy(irow + q0, bi, sizeof(int64_t) * nq);
    }
}

/* The most common window, 2x2 with stride 2 and no padding, VL outputs at a time with vector
 * compares and bitwise selects: branches here would mispredict on every other output of random
 * data. The compiler turns the strided element loads into two-register permutes. Min pooling is
 * max pooling of -x (sg = -1; the chosen value is returned exactly, sg * sg * x = x).
 * code says which cell won: 0 1 / 2 3. */
#define PVL (PC_VEC_BYTES / (int)sizeof(REAL))
typedef REAL SFX(pvec) __attribute__((vector_size(PC_VEC_BYTES)));
typedef IREAL SFX(ivec) __attribute__((vector_size(PC_VEC_BYTES)));

static inline void SFX(arg_2x2_vec)(const REAL *top, const REAL *bot, REAL sg, REAL *best_out,
                                    IREAL *code_out)
{
    typedef SFX(pvec) pvec;
    typedef SFX(ivec) ivec;
    pvec a, b, c, d;
    for (int l = 0; l < PVL; l++) {
        a[l] = top[2 * l];
        b[l] = top[2 * l + 1];
        c[l] = bot[2 * l];
        d[l] = bot[2 * l + 1];
    }
    a *= sg;
    b *= sg;
    c *= sg;
    d *= sg;
    pvec best = a;
    ivec code = (ivec){0};
    /* take v when v > best, or v is NaN and best is not: !(v <= best) && best == best */
    ivec take = ~(b <= best) & (best == best);
    best = (pvec)(((ivec)b & take) | ((ivec)best & ~take));
    code = (code & ~take) | (take & 1);
    take = ~(c <= best) & (best == best);
    best = (pvec)(((ivec)c & take) | ((ivec)best & ~take));
    code = (code & ~take) | (take & 2);
    take = ~(d <= best) & (best == best);
    best = (pvec)(((ivec)d & take) | ((ivec)best & ~take));
    code = (code & ~take) | (take & 3);
    best *= sg;
    memcpy(best_out, &best, sizeof best);
    memcpy(code_out, &code, sizeof code);
}

/* One output row of 2x2/2 pooling; the last partial group reads through a zero-filled copy so
 * that nothing past the row is touched. */
static void SFX(arg_pool_2x2)(const REAL *xp, int64_t W, int64_t h0, int64_t Q, int sign,
                              REAL *yrow, int64_t *irow)
{
    const REAL *top = xp + h0 * W, *bot = top + W;
    const REAL sg = sign > 0 ? 1 : -1;
    REAL best[PVL], t2[2 * PVL], b2[2 * PVL];
    IREAL code[PVL];
    for (int64_t q0 = 0; q0 < Q; q0 += PVL) {
        int64_t n = pc_min64(PVL, Q - q0);
        if (n == PVL) {
            SFX(arg_2x2_vec)(top + 2 * q0, bot + 2 * q0, sg, best, code);
        } else {
            memset(t2, 0, sizeof t2);
            memset(b2, 0, sizeof b2);
            memcpy(t2, top + 2 * q0, sizeof(REAL) * 2 * n);
            memcpy(b2, bot + 2 * q0, sizeof(REAL) * 2 * n);
            SFX(arg_2x2_vec)(t2, b2, sg, best, code);
        }
        for (int64_t j = 0; j < n; j++) {
            yrow[q0 + j] = best[j];
            irow[q0 + j] = h0 * W + 2 * (q0 + j) + (code[j] & 1) + (code[j] >> 1) * W;
        }
    }
}

#undef PVL

/* ---- max/min forward: the steps ------------------------------------------------------------ */

/* Step 1: arg_window for every output; one thread. */
static void SFX(arg_pool_1_naive)(const pc_pool_shape *s, const REAL *x, REAL *y, int64_t *idx,
                                  int sign)
{
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
    for (int64_t pl = 0; pl < s->N * s->C; pl++)
        for (int64_t p = 0; p < s->P; p++)
            for (int64_t q = 0; q < s->Q; q++)
                SFX(arg_window)(s, x + pl * HW, p * s->sh - s->ph, q * s->sw - s->pw, sign,
                                y + pl * PQ + p * s->Q + q, idx + pl * PQ + p * s->Q + q);
}

/* Step 2: in each output row whose windows lie inside the input's rows, the interior columns
 * [qa, qb) as one vectorised run (arg_pool_interior), the border windows clipped (arg_window).
 * Planes are independent: one thread each. */
static void SFX(arg_pool_2_general)(const pc_pool_shape *s, const REAL *x, REAL *y,
                                    int64_t *idx, int sign)
{
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
    int64_t qa, qb;
    pool_interior_columns(s, &qa, &qb);
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t pl = 0; pl < s->N * s->C; pl++) {
        const REAL *xp = x + pl * HW;
        REAL *yp = y + pl * PQ;
        int64_t *ip = idx + pl * PQ;
        for (int64_t p = 0; p < s->P; p++) {
            int64_t h0 = p * s->sh - s->ph;
            int inside_rows = h0 >= 0 && h0 + s->R <= s->H;
            for (int64_t q = 0; q < s->Q; q++) {
                if (inside_rows && q == qa && qb > qa) {
                    SFX(arg_pool_interior)(s, xp, h0, qa, qb, sign, yp + p * s->Q, ip + p * s->Q);
                    q = qb - 1;
                    continue;
                }
                SFX(arg_window)(s, xp, h0, q * s->sw - s->pw, sign, yp + p * s->Q + q,
                                ip + p * s->Q + q);
            }
        }
    }
}

/* Step 3: every output row by arg_pool_2x2; only for pool_is_2x2 shapes. */
static void SFX(arg_pool_3_2x2)(const pc_pool_shape *s, const REAL *x, REAL *y, int64_t *idx,
                                int sign)
{
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
#pragma omp parallel for num_threads(pc_threads()) schedule(static)
    for (int64_t pl = 0; pl < s->N * s->C; pl++)
        for (int64_t p = 0; p < s->P; p++)
            SFX(arg_pool_2x2)(x + pl * HW, s->W, 2 * p, s->Q, sign, y + pl * PQ + p * s->Q,
                              idx + pl * PQ + p * s->Q);
}

/* The shape check and the step dispatch of max (sign +1) and min (-1) pooling. */
static int SFX(arg_pool_forward)(const pc_step_table *table, int sign, const pc_pool_shape *shape,
                                 const REAL *x, REAL *y, int64_t *idx, int step, int *ran)
{
    pc_pool_shape s;
    int k = pc_step_choose(table, step);
    if (k == 0 || pool_prepare(shape, &s)) {
        if (ran)
            *ran = k;
        return PC_EINVAL;
    }
    if (k == 3 && !pool_is_2x2(&s))
        k = 2;
    if (ran)
        *ran = k;
    switch (k) {
    case 1: SFX(arg_pool_1_naive)(&s, x, y, idx, sign); break;
    case 2: SFX(arg_pool_2_general)(&s, x, y, idx, sign); break;
    case 3: SFX(arg_pool_3_2x2)(&s, x, y, idx, sign); break;
    }
    return PC_OK;
}

/* max and min backward: dx[idx] += dy, plane by plane; an index outside its plane is an error */
static int SFX(index_pool_backward)(const pc_pool_shape *s, const REAL *dy, const int64_t *idx,
                                    REAL *dx)
{
    const int64_t planes = pc_smul(s->N, s->C);
    if (s->N < 0 || s->C < 0 || s->H < 0 || s->W < 0 || s->P < 0 || s->Q < 0 ||
        pc_smul3(planes, s->H, s->W) >= PC_SIZE_MAX || pc_smul3(planes, s->P, s->Q) >= PC_SIZE_MAX)
        return PC_EINVAL;
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

/* ---- average forward: the steps -------------------------------------------------------------- */

/* The sum of one window clipped to the image (padding adds zeros), in row-major order. */
static inline REAL SFX(avg_window)(const pc_pool_shape *s, const REAL *xp, int64_t h0, int64_t w0)
{
    const int64_t ra = pc_max64(0, -h0), rb = pc_min64(s->R, s->H - h0);
    const int64_t ta = pc_max64(0, -w0), tb = pc_min64(s->S, s->W - w0);
    REAL sum = 0;
    for (int64_t r = ra; r < rb; r++)
        for (int64_t t = ta; t < tb; t++)
            sum += xp[(h0 + r) * s->W + w0 + t];
    return sum;
}

/* Step 1: avg_window for every output; one thread. */
static void SFX(avg_pool_1_naive)(const pc_pool_shape *s, const REAL *x, REAL *y)
{
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
    const REAL area = (REAL)(s->R * s->S);
    for (int64_t pl = 0; pl < s->N * s->C; pl++)
        for (int64_t p = 0; p < s->P; p++)
            for (int64_t q = 0; q < s->Q; q++)
                y[pl * PQ + p * s->Q + q] =
                    SFX(avg_window)(s, x + pl * HW, p * s->sh - s->ph, q * s->sw - s->pw) / area;
}

/* Step 2: windows inside the image summed without clipping (the same terms in the same order as
 * avg_window, so the same bits); OpenMP over the planes. */
static void SFX(avg_pool_2_general)(const pc_pool_shape *s, const REAL *x, REAL *y)
{
    const int64_t HW = s->H * s->W, PQ = s->P * s->Q;
    const REAL area = (REAL)(s->R * s->S);
    int64_t qa, qb;
    pool_interior_columns(s, &qa, &qb);
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
                if (!inside_rows || q < qa || q >= qb) {
                    sum = SFX(avg_window)(s, xp, h0, w0);
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
}

/* The shape check and the step dispatch of average pooling. */
static int SFX(avg_pool_forward)(const pc_pool_shape *shape, const REAL *x, REAL *y, int step,
                                 int *ran)
{
    pc_pool_shape s;
    const int k = pc_step_choose(&pc_avg_pool2d_forward_steps, step);
    if (ran)
        *ran = k;
    if (k == 0 || pool_prepare(shape, &s))
        return PC_EINVAL;
    switch (k) {
    case 1: SFX(avg_pool_1_naive)(&s, x, y); break;
    case 2: SFX(avg_pool_2_general)(&s, x, y); break;
    }
    return PC_OK;
}

/* average backward: each output's share dy / (R*S) added to the real pixels of its window */
static int SFX(avg_pool_backward)(const pc_pool_shape *shape, const REAL *dy, REAL *dx)
{
    pc_pool_shape sn, *s = &sn;
    if (pool_prepare(shape, s))
        return PC_EINVAL;
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
