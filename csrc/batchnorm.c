/* batchnorm.c: batch normalisation over axis 1, forward and backward, one channel per thread.
 *
 * Shapes: x, y, xhat, dy, dx (N, C, L) contiguous, L = H*W (or 1, or the length of a 1-d signal);
 * weight, bias, mean, invstd, dweight, dbias (C,). The rules are pyconv/ops/normalization.py's:
 *   training:  mean = sum x / (N L),  var = sum (x - mean)^2 / (N L)  (biased), per channel
 *   xhat = (x - mean) * invstd,  invstd = 1 / sqrt(var + eps),  y = xhat * weight + bias
 *   backward:  dweight = sum dy*xhat,  dbias = sum dy,  dxhat = dy * weight,
 *              dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat*xhat))   (training)
 *              dx = invstd * dxhat                                             (inference)
 * Sums over a channel's N*L values accumulate in double, in vector lanes (`omp simd reduction`:
 * a single scalar accumulator is a chain of dependent adds, 4 cycles each, which made the
 * statistics latency-bound at ~1/8 of the bandwidth); numpy's pairwise float32 sums and these
 * agree to ~1e-6 relative. FLOPs ~ 8 per element forward, ~10 backward; bytes: forward reads x
 * twice (mean, then variance and the output, while the channel is still in cache when it fits)
 * and writes xhat and y; backward reads dy and xhat twice and writes dx. numpy spends ~10 passes
 * and as many temporaries on each direction. Threads: channels (C >= 2 for both cores to work).
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

/* mean and 1/sqrt(var + eps) of channel c over its N*L values (two passes: no cancellation) */
static void SFX(bn_statistics)(int64_t N, int64_t C, int64_t L, const REAL *x, int64_t c, double eps,
                               REAL *mean, REAL *var, REAL *invstd)
{
    double s = 0, ss = 0;
    for (int64_t n = 0; n < N; ++n) {
        const REAL *p = x + (n * C + c) * L;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < L; ++i)
            s += p[i];
    }
    const double m = s / (double)(N * L);
    for (int64_t n = 0; n < N; ++n) {
        const REAL *p = x + (n * C + c) * L;
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < L; ++i)
            ss += (p[i] - m) * (p[i] - m);
    }
    *mean = (REAL)m;
    if (var)
        *var = (REAL)(ss / (double)(N * L));
    *invstd = (REAL)(1 / sqrt(ss / (double)(N * L) + eps));
}

/* training != 0: mean, var (the biased variance; NULL: not wanted) and invstd are outputs, the
 * batch's; else mean and invstd are inputs (from the running statistics) and var is unused.
 * weight and bias may be NULL. */
int SFX(pc_batch_norm_forward)(int64_t N, int64_t C, int64_t L, const REAL *x, const REAL *weight,
                               const REAL *bias, int training, double eps, REAL *mean, REAL *var,
                               REAL *invstd, REAL *xhat, REAL *y)
{
    if (!SFX(bn_sizes_ok)(N, C, L) || (training && pc_smul(N, L) < 2))
        return PC_EINVAL;
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (N * C * L >= (1 << 15))
    for (int64_t c = 0; c < C; ++c) {
        if (training)
            SFX(bn_statistics)(N, C, L, x, c, eps, &mean[c], var ? &var[c] : NULL, &invstd[c]);
        const REAL m = mean[c], is = invstd[c];
        const REAL w = weight ? weight[c] : (REAL)1, b = bias ? bias[c] : (REAL)0;
        for (int64_t n = 0; n < N; ++n) {
            const int64_t o = (n * C + c) * L;
            for (int64_t i = 0; i < L; ++i) {
                const REAL h = (x[o + i] - m) * is;
                xhat[o + i] = h;
                y[o + i] = h * w + b;
            }
        }
    }
    return PC_OK;
}

/* dx (NULL: not needed), dweight and dbias (NULL when the layer has none) from dy and the
 * forward's xhat and invstd. */
int SFX(pc_batch_norm_backward)(int64_t N, int64_t C, int64_t L, const REAL *dy, const REAL *xhat,
                                const REAL *invstd, const REAL *weight, int training, REAL *dx,
                                REAL *dweight, REAL *dbias)
{
    if (!SFX(bn_sizes_ok)(N, C, L))
        return PC_EINVAL;
    const double count = (double)(N * L);
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (N * C * L >= (1 << 15))
    for (int64_t c = 0; c < C; ++c) {
        double sdy = 0, sdyh = 0;
        for (int64_t n = 0; n < N; ++n) {
            const int64_t o = (n * C + c) * L;
#pragma omp simd reduction(+ : sdy, sdyh)
            for (int64_t i = 0; i < L; ++i) {
                sdy += dy[o + i];
                sdyh += dy[o + i] * xhat[o + i];
            }
        }
        if (dweight)
            dweight[c] = (REAL)sdyh;
        if (dbias)
            dbias[c] = (REAL)sdy;
        if (!dx)
            continue;
        const REAL w = weight ? weight[c] : (REAL)1, is = invstd[c];
        /* dxhat = w*dy: its mean is w*sdy/count, the mean of dxhat*xhat is w*sdyh/count */
        const REAL k = w * is, a = training ? (REAL)(sdy / count) : (REAL)0;
        const REAL bcoef = training ? (REAL)(sdyh / count) : (REAL)0;
        for (int64_t n = 0; n < N; ++n) {
            const int64_t o = (n * C + c) * L;
            for (int64_t i = 0; i < L; ++i)
                dx[o + i] = k * (dy[o + i] - a - xhat[o + i] * bcoef);
        }
    }
    return PC_OK;
}

#endif
