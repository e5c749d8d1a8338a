// pool2d.cu: max, min and average pooling, forward and backward.
//
// Sizes: x (N,C,H,W), y (N,C,P,Q); window (R,S), stride (sh,sw), symmetric padding (ph,pw) with
// ph <= R/2 and pw <= S/2, so every window holds at least one real pixel. NC = N*C planes.
// Output row p covers input rows p*sh - ph .. p*sh - ph + R - 1.
//
// FLOPs: about N*C*P*Q*R*S compares or adds: pooling is memory-bound. Bytes (fp32): forward
// 4*(N*C*H*W + N*C*P*Q) (+ 8*N*C*P*Q for the int64 argmax), backward the same again. For
// 2x2/2 pooling of 64x64x56x56 that is ~16 MB forward, ~5 us at 3.3 TB/s.
//
// Variants (the variant number is the step of pyconv.kernels; defaults in DEFAULTS of
// pyconv/backends/cuda_cupy.py; max_pool2d_backward and min_pool2d_backward both run
// pool2d_backward_argmax, whose three variants are a ladder of determinism):
//   max_pool2d_forward_1, min_pool2d_forward_1
//                        one thread per output: y and the flat index h*W + w of the chosen
//                        input pixel (the first NaN in row-major window order, else the first
//                        maximum / minimum). Padding never wins: it reads as -inf (+inf).
//                        grid ceil(NC*P*Q/256), block 256.
//   Bitwise determinism of the argmax backward (the same dy and idx give the same bits on every
//   run): variants 2 and 3 always; variant 1 only while no pixel is the argmax of more than two
//   windows (two additions onto zero commute exactly; three may round differently by order),
//   which holds without overlap (stride >= window) but not for 3x3/2 pooling, where a pixel
//   can win up to four windows. The wrapper cannot tell (it gets no window geometry), so the
//   default is variant 3.
//   pool2d_backward_argmax_1
//                        one thread per dy element adds it to dx[plane, idx] with atomicAdd
//                        (dx zeroed first). Fastest: one pass, 12-16 bytes per dy element.
//                        grid ceil(NC*P*Q/256), block 256.
//   pool2d_backward_argmax_2
//                        deterministic: one thread per plane walks its outputs in row-major order
//                        and adds into its own plane of dx (no other thread writes there).
//                        Slow when NC is small. grid ceil(NC/128), block 128.
//   pool2d_argmax_count + pool2d_backward_argmax_3
//                        deterministic and parallel. Pass 1, a thread per dy element: count[pix]
//                        += 1 and first[pix] = min(first[pix], i) with integer atomics (exact,
//                        so order-free). Pass 2, a thread per dy element: only the first output
//                        i of each pixel works; it sums dy[i] and the count-1 later outputs of
//                        its plane with the same idx, in row-major order, and stores the sum
//                        (one writer per pixel). The scan ends at the last such output, a few
//                        rows of Q outputs further for real pooling windows (worst case, an idx
//                        pointing everywhere at one pixel, the whole plane as variant 2).
//                        Bytes: + 8 per x element for count and first (set by the caller to 0
//                        and INT_MAX), + 12-16 per dy element read twice. grid ceil(NC*P*Q/256),
//                        block 256, both passes.
//                        All variants skip an idx value outside [0, H*W) and count it in *bad
//                        (zeroed by the caller; pass 1 counts for variant 3): a wrong idx never
//                        writes outside its plane of dx.
//   avg_pool2d_forward_1 one thread per output: window sum / (R*S), padded zeros counted.
//                        grid ceil(NC*P*Q/256), block 256.
//   avg_pool2d_backward_1
//                        gather: one thread per input pixel sums dy / (R*S) over the windows
//                        that cover it (no atomics). grid ceil(NC*H*W/256), block 256.

#include "common.cuh"

#define POOL_ARGS int NC, int H, int W, int P, int Q, int R, int S, int sh, int sw, int ph, int pw

// a > b with IEEE semantics for every input. CuPy compiles float kernels with -ftz=true, which
// makes a plain `a > b` compare subnormals as zero: a window [0, 1e-40] would then pick the 0,
// where numpy_ref (and the C backend) pick the 1e-40. The explicit setp without .ftz keeps the
// choice of pixel identical across backends. (Doubles are never flushed.)
__device__ __forceinline__ bool greater(real a, real b)
{
#if defined(__CUDA_ARCH__) && !defined(PYCONV_DOUBLE)
    unsigned r;
    asm("{\n\t.reg .pred p;\n\tsetp.gt.f32 p, %1, %2;\n\tselp.u32 %0, 1, 0, p;\n\t}" : "=r"(r) : "f"(a), "f"(b));
    return r != 0;
#else
    return a > b;
#endif
}

// Max (MAX=true) or min pooling, one thread per output.
template <bool MAX>
__device__ __forceinline__ void extreme_pool(real* __restrict__ y, long long* __restrict__ idx,
                                             const real* __restrict__ x, POOL_ARGS)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;   // flat index into y (NC,P,Q)
    if (i >= NC * P * Q) return;
    const int q = i % Q, p = (i / Q) % P, plane = i / (P * Q);
    const real* xp = x + plane * H * W;
    real best = 0;
    int arg = -1;                       // no pixel seen yet
    bool best_is_nan = false;
    for (int r = 0; r < R; ++r) {
        const int h = p * sh - ph + r;
        if (h < 0 || h >= H) continue;
        for (int s = 0; s < S; ++s) {
            const int u = q * sw - pw + s;
            if (u < 0 || u >= W) continue;
            const real v = xp[h * W + u];
            const bool v_is_nan = v != v;
            // The first NaN wins for good; otherwise strictly better replaces (first extreme kept).
            if (arg < 0 || (!best_is_nan && (v_is_nan || (MAX ? greater(v, best) : greater(best, v))))) {
                best = v; arg = h * W + u; best_is_nan = v_is_nan;
            }
        }
    }
    y[i] = best;
    idx[i] = arg;
}

// 1: one thread per output.
extern "C" __global__ void max_pool2d_forward_1(real* __restrict__ y, long long* __restrict__ idx,
                                                const real* __restrict__ x, POOL_ARGS)
{
    extreme_pool<true>(y, idx, x, NC, H, W, P, Q, R, S, sh, sw, ph, pw);
}

// 1: one thread per output.
extern "C" __global__ void min_pool2d_forward_1(real* __restrict__ y, long long* __restrict__ idx,
                                                const real* __restrict__ x, POOL_ARGS)
{
    extreme_pool<false>(y, idx, x, NC, H, W, P, Q, R, S, sh, sw, ph, pw);
}

// 1: scatter with atomicAdd into a zeroed dx (NC,H,W); dy and idx are (NC,P,Q). Indices
// outside the plane are counted in *bad instead of written (the argmax of another x's shape).
extern "C" __global__ void pool2d_backward_argmax_1(real* __restrict__ dx, const real* __restrict__ dy,
                                                    const long long* __restrict__ idx,
                                                    int* __restrict__ bad, int NC, int HW, int PQ)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= NC * PQ) return;
    const long long j = idx[i];
    if (j < 0 || j >= HW) {
        atomicAdd(bad, 1);
        return;
    }
    atomicAdd(dx + (i / PQ) * HW + (int)j, dy[i]);
}

// 2: deterministic, one thread per plane, outputs in row-major order into a zeroed dx; indices
// outside the plane counted in *bad, one atomic per plane that has any.
extern "C" __global__ void pool2d_backward_argmax_2(real* __restrict__ dx, const real* __restrict__ dy,
                                                    const long long* __restrict__ idx,
                                                    int* __restrict__ bad, int NC, int HW, int PQ)
{
    const int plane = blockIdx.x * blockDim.x + threadIdx.x;
    if (plane >= NC) return;
    int skipped = 0;
    for (int i = plane * PQ; i < (plane + 1) * PQ; ++i) {
        const long long j = idx[i];
        if (j < 0 || j >= HW) {
            ++skipped;
            continue;
        }
        dx[plane * HW + (int)j] += dy[i];
    }
    if (skipped) atomicAdd(bad, skipped);
}

// 3, pass 1: per pixel of dx (NC,H,W), how many outputs chose it (count) and the first of them
// (first, a flat index into dy); integer atomics, so the result does not depend on their order.
extern "C" __global__ void pool2d_argmax_count(int* __restrict__ count, int* __restrict__ first,
                                               const long long* __restrict__ idx,
                                               int* __restrict__ bad, int NC, int HW, int PQ)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= NC * PQ) return;
    const long long j = idx[i];
    if (j < 0 || j >= HW) {
        atomicAdd(bad, 1);
        return;
    }
    const int pix = (i / PQ) * HW + (int)j;
    atomicAdd(count + pix, 1);
    atomicMin(first + pix, i);
}

// 3, pass 2: the first output of each chosen pixel sums that pixel's gradient in row-major order
// of the outputs and stores it; the other outputs do nothing. dx zeroed by the caller.
extern "C" __global__ void pool2d_backward_argmax_3(real* __restrict__ dx, const real* __restrict__ dy,
                                                    const long long* __restrict__ idx,
                                                    const int* __restrict__ count,
                                                    const int* __restrict__ first,
                                                    int NC, int HW, int PQ)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= NC * PQ) return;
    const long long j = idx[i];
    if (j < 0 || j >= HW) return;
    const int pix = (i / PQ) * HW + (int)j;
    if (first[pix] != i) return;
    real acc = dy[i];
    for (int k = i + 1, left = count[pix] - 1; left > 0; ++k)   // stays in the plane: the
        if (idx[k] == j) {                                      // count-1 others come after i
            acc += dy[k];
            --left;
        }
    dx[pix] = acc;
}

// 1: one thread per output, padded zeros counted in the mean.
extern "C" __global__ void avg_pool2d_forward_1(real* __restrict__ y, const real* __restrict__ x, POOL_ARGS)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= NC * P * Q) return;
    const int q = i % Q, p = (i / Q) % P, plane = i / (P * Q);
    const real* xp = x + plane * H * W;
    real acc = 0;
    for (int r = 0; r < R; ++r) {
        const int h = p * sh - ph + r;
        if (h < 0 || h >= H) continue;
        for (int s = 0; s < S; ++s) {
            const int u = q * sw - pw + s;
            if (u >= 0 && u < W) acc += xp[h * W + u];
        }
    }
    y[i] = acc / real(R * S);
}

// First output index o with o*st - pad + k - 1 >= i (window reaches i) and last with
// o*st - pad <= i (window starts at or before i), clipped to [0, O).
__device__ __forceinline__ void covering(int i, int k, int st, int pad, int O, int& lo, int& hi)
{
    const int a = i + pad - k + 1;             // o*st >= a
    lo = a <= 0 ? 0 : (a + st - 1) / st;
    hi = min(O - 1, (i + pad) / st);           // i + pad >= 0 always
}

// 1: gather, one thread per input pixel: dx = sum over covering windows of dy / (R*S).
extern "C" __global__ void avg_pool2d_backward_1(real* __restrict__ dx, const real* __restrict__ dy, POOL_ARGS)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;   // flat index into dx (NC,H,W)
    if (i >= NC * H * W) return;
    const int u = i % W, h = (i / W) % H, plane = i / (H * W);
    int p0, p1, q0, q1;
    covering(h, R, sh, ph, P, p0, p1);
    covering(u, S, sw, pw, Q, q0, q1);
    const real* dyp = dy + plane * P * Q;
    real acc = 0;
    for (int p = p0; p <= p1; ++p)
        for (int q = q0; q <= q1; ++q) acc += dyp[p * Q + q];
    dx[i] = acc / real(R * S);
}
