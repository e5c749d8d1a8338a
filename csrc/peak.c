/* peak.c: this machine's fused multiply-add peak, measured at run time.
 *
 * The ladder bench reports each kernel step as a share of what the cores can do *now*: the
 * development machine's speed changes between sessions (115-175 GFLOP/s per core float32), so a
 * figure from a data sheet would mislead. Each thread runs PEAK_CHAINS independent chains of
 * vector FMAs (acc = acc * m + a): with a 4-5 cycle FMA latency and two FMA units per core, 8-10
 * chains keep both units busy. The chains, m and a must all stay in registers (16 AVX2 vector
 * registers, 32 with AVX-512): 16 chains on AVX2 spilled one to the stack and measured 52
 * GFLOP/s per core instead of 12 chains' full rate. No memory is touched.
 *
 * FLOPs: 2 per lane per FMA; the result is threads * chains * lanes * 2 * iterations / seconds.
 */
#include <stdint.h>
#include <time.h>

#include "pyconv.h"
#include "gemm.h"

#if PC_VEC_BYTES >= 64
#define PEAK_CHAINS 24 /* of 32 vector registers */
#else
#define PEAK_CHAINS 12 /* of 16: two more hold m and a, any more would spill */
#endif
#define PEAK_BATCH 4096 /* FMAs per chain between two clock reads */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define PEAK_BODY(T)                                                                              \
    typedef T vec __attribute__((vector_size(PC_VEC_BYTES)));                                     \
    const int lanes = PC_VEC_BYTES / (int)sizeof(T);                                             \
    int nt = pc_threads_for(threads);                                                             \
    double flops = 0, elapsed = 0, keep = 0;                                                      \
    _Pragma("omp parallel num_threads(nt) reduction(+ : flops, keep) reduction(max : elapsed)")   \
    {                                                                                             \
        vec acc[PEAK_CHAINS], m = (vec){0} + (T)0.999999, a = (vec){0} + (T)1e-7;                 \
        for (int i = 0; i < PEAK_CHAINS; i++)                                                     \
            acc[i] = (vec){0} + (T)i;                                                             \
        double t0 = now(), t = t0;                                                                \
        int64_t batches = 0;                                                                      \
        while (t - t0 < seconds) {                                                                \
            for (int k = 0; k < PEAK_BATCH; k++)                                                  \
                PC_UNROLL for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = acc[i] * m + a;          \
            batches++;                                                                            \
            t = now();                                                                            \
        }                                                                                         \
        T sum = 0;                                                                                \
        for (int i = 0; i < PEAK_CHAINS; i++)                                                     \
            for (int l = 0; l < lanes; l++)                                                       \
                sum += acc[i][l];                                                                 \
        keep += sum; /* the result is stored below, so the chains cannot be optimised away */    \
        flops += 2.0 * PEAK_CHAINS * lanes * PEAK_BATCH * (double)batches;                        \
        elapsed = t - t0;                                                                         \
    }                                                                                             \
    sink = (T)keep;                                                                               \
    return elapsed > 0 ? flops / elapsed * 1e-9 : 0;

double pc_peak_gflops_f32(int threads, double seconds)
{
    static volatile float sink;
    (void)sink;
    PEAK_BODY(float)
}

double pc_peak_gflops_f64(int threads, double seconds)
{
    static volatile double sink;
    (void)sink;
    PEAK_BODY(double)
}
