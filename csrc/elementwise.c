/* elementwise.c: ReLU forward and backward, the elementwise ops that cost most in training.
 *
 * Shapes: n elements, contiguous. relu_forward: y = x where x > 0, else 0 (NaN stays NaN, as
 * numpy's maximum and PyTorch's relu). relu_backward: dx = dy where y > 0, else 0 (a select, not
 * a product: an Inf or NaN in dy where the unit is off gives 0, as PyTorch's threshold_backward).
 * FLOPs: n compares; bytes: forward reads x and writes y (8n for float), backward reads dy and y
 * and writes dx (12n). Memory-bound: numpy needs a second pass for the boolean mask it saves and
 * a third to multiply by it, and runs on one core; these take one pass, on every core once n is
 * large enough to repay the OpenMP fork (PC_ELEMENTWISE_PARALLEL elements, ~128 KB of floats:
 * tens of microseconds of work against a few microseconds to wake the threads).
 */
#ifndef REAL

#include "pyconv.h"
#include "checked.h"
#include "gemm.h"

#define PC_ELEMENTWISE_PARALLEL ((int64_t)1 << 15)

#define PC_SELF "elementwise.c"
#include "instantiate.h"

#else

int SFX(pc_relu_forward)(int64_t n, const REAL *x, REAL *y)
{
    if (n < 0 || n >= PC_SIZE_MAX)
        return PC_EINVAL;
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (n >= PC_ELEMENTWISE_PARALLEL)
    for (int64_t i = 0; i < n; ++i) {
        const REAL v = x[i];
        y[i] = (v > 0 || v != v) ? v : (REAL)0;
    }
    return PC_OK;
}

int SFX(pc_relu_backward)(int64_t n, const REAL *dy, const REAL *y, REAL *dx)
{
    if (n < 0 || n >= PC_SIZE_MAX)
        return PC_EINVAL;
#pragma omp parallel for num_threads(pc_threads()) schedule(static) if (n >= PC_ELEMENTWISE_PARALLEL)
    for (int64_t i = 0; i < n; ++i)
        dx[i] = y[i] > 0 ? dy[i] : (REAL)0;
    return PC_OK;
}

#endif
