/* optim.c: the SGD and Adam updates of one parameter in one pass (pyconv.optim's fused path).
 *
 * The rules are pyconv/optim/sgd.py's and adam.py's docstrings, written once per element instead
 * of once per array: numpy's version of Adam makes ~10 passes over the parameter (each op reads
 * and writes a whole array, several allocate a temporary), this one reads p, g, m, v once and
 * writes p, m, v once (7 x 4 bytes per float parameter). Hyper-parameters arrive as double and
 * are rounded to REAL once, where numpy would round them (a Python float times a float32 array
 * is a float32 product), so float32 results agree with the numpy path to a few ulps (the
 * compiler may contract a multiply-add into one FMA); float64 to ~1e-15.
 * FLOPs: ~12 per element (Adam), ~5 (SGD with momentum). Adam is bound by its square root and
 * its division (vsqrtps and vdivps: ~5-7 cycles per 8 floats each on AVX2), not by memory while
 * a parameter's four arrays fit in L2; so there is one of each per element (the bias correction
 * of the denominator is a multiplication by a precomputed 1/sqrt(1 - beta2^t), where numpy
 * divides: results differ in the last bit), and OpenMP splits the elements from
 * PC_OPTIM_PARALLEL on (LeNet-5's 400x120 and 120x84 weights: on 2 threads, 2x).
 */
#ifndef REAL

#include <math.h>

#include "pyconv.h"
#include "checked.h"
#include "gemm.h"

#define PC_OPTIM_PARALLEL ((int64_t)1 << 14)

#define PC_SELF "optim.c"
#include "instantiate.h"

#else

/* p -= lr/(1 - beta1^t) * m / (sqrt(v)/sqrt(1 - beta2^t) + eps) after the moment updates; vmax
 * (NULL without amsgrad) keeps the running maximum of v and replaces it in the denominator. */
int SFX(pc_adam_step)(int64_t n, REAL *p, const REAL *g, REAL *m, REAL *v, REAL *vmax,
                      const pc_adam_hyper *h)
{
    if (n < 0 || n >= PC_SIZE_MAX || h->step < 1)
        return PC_EINVAL;
    const REAL b1 = (REAL)h->beta1, b2 = (REAL)h->beta2, c1 = (REAL)(1 - h->beta1), c2 = (REAL)(1 - h->beta2);
    const REAL wd = (REAL)h->weight_decay, decay = (REAL)(1 - h->lr * h->weight_decay);
    const REAL sign = h->maximize ? (REAL)-1 : (REAL)1, eps = (REAL)h->eps;
    const REAL step_size = (REAL)(h->lr / (1 - pow(h->beta1, (double)h->step)));
    const REAL inv_root_bc2 = (REAL)(1 / sqrt(1 - pow(h->beta2, (double)h->step)));
    const int decoupled = h->decoupled && h->weight_decay != 0, coupled = !h->decoupled && h->weight_decay != 0;
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (n >= PC_OPTIM_PARALLEL)
    for (int64_t i = 0; i < n; ++i) {
        REAL gi = sign * g[i], pi = p[i];
        if (decoupled)
            pi *= decay;
        else if (coupled)
            gi = gi + wd * pi;
        const REAL mi = m[i] * b1 + c1 * gi;
        REAL vi = v[i] * b2 + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (vmax) {
            vi = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vi;
        }
        p[i] = pi - step_size * mi / ((REAL)sqrt(vi) * inv_root_bc2 + eps);
    }
    return PC_OK;
}

/* p -= lr * g' with g = grad + weight_decay * p and, with momentum, buf = momentum * buf +
 * (1 - dampening) * g (buf = g on the first step: `first`), g' = g + momentum * buf (nesterov)
 * or buf. buf is NULL without momentum. */
int SFX(pc_sgd_step)(int64_t n, REAL *p, const REAL *g, REAL *buf, const pc_sgd_hyper *h)
{
    if (n < 0 || n >= PC_SIZE_MAX)
        return PC_EINVAL;
    const REAL lr = (REAL)h->lr, wd = (REAL)h->weight_decay, mom = (REAL)h->momentum;
    const REAL damp = (REAL)(1 - h->dampening), sign = h->maximize ? (REAL)-1 : (REAL)1;
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (n >= PC_OPTIM_PARALLEL)
    for (int64_t i = 0; i < n; ++i) {
        REAL gi = sign * g[i];
        if (h->weight_decay != 0)
            gi = gi + wd * p[i];
        if (buf) {
            const REAL bi = h->first ? gi : buf[i] * mom + damp * gi;
            buf[i] = bi;
            gi = h->nesterov ? gi + mom * bi : bi;
        }
        p[i] -= lr * gi;
    }
    return PC_OK;
}

#endif
