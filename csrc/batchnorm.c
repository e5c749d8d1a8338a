/* batchnorm.c: batch normalisation over axis 1, forward and backward, one channel per thread.
 *
 * Shapes: x, y, dy, dx (N, C, L) contiguous, L = H*W (or 1, or the length of a 1-d signal);
 * weight, bias, mean, var, invstd, dweight, dbias (C,). The rules are pyconv/ops/normalization.py's:
 *   training:  mean = sum x / (N L),  var = sum (x - mean)^2 / (N L)  (biased), per channel
 *   xhat = (x - mean) * invstd,  invstd = 1 / sqrt(var + eps),  y = xhat * weight + bias
 *   backward:  dweight = sum dy*xhat,  dbias = sum dy,  dxhat = dy * weight,
 *              dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat*xhat))   (training)
 *              dx = invstd * dxhat                                             (inference)
 * Unlike the numpy path, which keeps xhat, backward recomputes xhat from x, mean and invstd: x is
 * usually alive anyway (the previous layer's output), so the layer keeps no activation-sized
 * array of its own, and forward writes one array instead of two.
 * The statistics take one pass: sums of (x - x0) and (x - x0)^2 in double, shifted by the
 * channel's first value x0 so that a large mean does not cancel the variance away, accumulated in
 * vector lanes (`omp simd reduction`: one scalar accumulator is a chain of dependent adds, 4
 * cycles each, which made the statistics latency-bound). numpy's pairwise float32 two-pass sums
 * and these agree to ~1e-6 relative.
 * FLOPs ~ 6 per element forward, ~12 backward. Bytes per element (float): forward reads x twice
 * and writes y (12); backward reads x and dy twice and writes dx (20). numpy takes ~10 passes
 * and as many temporaries each way. Threads: channels (C >= 2 for both cores to work).
 */
#ifndef REAL

#include <math.h>

#include "pyconv.h"
#include "checked.h"
#include "gemm.h"

#define PC_SELF "batchnorm.c"
#include "instantiate.h"

#else

static int SFX(bn_sizes_ok)(int64_t N, int64_t C, int64_t L)
{
    return N >= 0 && C >= 0 && L >= 0 && pc_smul3(N, C, L) < PC_SIZE_MAX;
}

/* mean, biased variance and 1/sqrt(var + eps) of channel c over its N*L (> 0) values */
static void SFX(bn_statistics)(int64_t N, int64_t C, int64_t L, const REAL *x, int64_t c, double eps,
                               REAL *mean, REAL *var, REAL *invstd)
{
    const double x0 = x[c * L], count = (double)(N * L);
    double s = 0, ss = 0;
    for (int64_t n = 0; n < N; ++n) {
        const REAL *p = x + (n * C + c) * L;
#pragma omp simd reduction(+ : s, ss)
        for (int64_t i = 0; i < L; ++i) {
            const double d = p[i] - x0;
            s += d;
            ss += d * d;
        }
    }
    const double m = s / count, v = ss / count - m * m;
    *mean = (REAL)(x0 + m);
    if (var)
        *var = (REAL)(v > 0 ? v : 0);
    *invstd = (REAL)(1 / sqrt((v > 0 ? v : 0) + eps));
}

/* training != 0: mean, var (NULL: not wanted) and invstd are outputs, the batch's; else mean and
 * invstd are inputs (from the running statistics) and var is unused. weight, bias may be NULL. */
int SFX(pc_batch_norm_forward)(int64_t N, int64_t C, int64_t L, const REAL *x, const REAL *weight,
                               const REAL *bias, int training, double eps, REAL *mean, REAL *var,
                               REAL *invstd, REAL *y)
{
    if (!SFX(bn_sizes_ok)(N, C, L) || (training && pc_smul(N, L) < 2))
        return PC_EINVAL;
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (N * C * L >= (1 << 15))
    for (int64_t c = 0; c < C; ++c) {
        if (training)
            SFX(bn_statistics)(N, C, L, x, c, eps, &mean[c], var ? &var[c] : NULL, &invstd[c]);
        const REAL w = weight ? weight[c] : (REAL)1, b = bias ? bias[c] : (REAL)0;
        const REAL m = mean[c], k = invstd[c];
        for (int64_t n = 0; n < N; ++n) {
            const int64_t o = (n * C + c) * L;
            for (int64_t i = 0; i < L; ++i)
                y[o + i] = (x[o + i] - m) * k * w + b;
        }
    }
    return PC_OK;
}

/* dx (NULL: not needed), dweight and dbias (NULL when the layer has none) from dy, the forward's
 * input x and its mean and invstd. */
int SFX(pc_batch_norm_backward)(int64_t N, int64_t C, int64_t L, const REAL *dy, const REAL *x,
                                const REAL *mean, const REAL *invstd, const REAL *weight, int training,
                                REAL *dx, REAL *dweight, REAL *dbias)
{
    if (!SFX(bn_sizes_ok)(N, C, L))
        return PC_EINVAL;
    const double count = (double)(N * L);
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (N * C * L >= (1 << 15))
    for (int64_t c = 0; c < C; ++c) {
        const REAL m = mean[c], k = invstd[c];
        double sdy = 0, sdyh = 0;
        for (int64_t n = 0; n < N; ++n) {
            const int64_t o = (n * C + c) * L;
#pragma omp simd reduction(+ : sdy, sdyh)
            for (int64_t i = 0; i < L; ++i) {
                sdy += dy[o + i];
                sdyh += dy[o + i] * ((x[o + i] - m) * k);
            }
        }
        if (dweight)
            dweight[c] = (REAL)sdyh;
        if (dbias)
            dbias[c] = (REAL)sdy;
        if (!dx)
            continue;
        /* dxhat = w*dy: its mean is w*sdy/count, the mean of dxhat*xhat is w*sdyh/count */
        const REAL w = weight ? weight[c] : (REAL)1, wk = w * k;
        const REAL a = training ? (REAL)(sdy / count) : (REAL)0, b = training ? (REAL)(sdyh / count) : (REAL)0;
        for (int64_t n = 0; n < N; ++n) {
            const int64_t o = (n * C + c) * L;
            for (int64_t i = 0; i < L; ++i)
                dx[o + i] = wk * (dy[o + i] - a - (x[o + i] - m) * k * b);
        }
    }
    return PC_OK;
}

#endif
