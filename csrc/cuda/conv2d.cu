// conv2d.cu: 2-D convolution (cross-correlation, as PyTorch), forward and backward.
//
// Sizes: x (N,C,H,W), w (K,C,R,S), b (K), y (N,K,P,Q); stride (sh,sw), dilation (dh,dw),
// padding top pt and left pl (bottom/right padding only changes P and Q, which the caller passes).
// Input row of output row p and kernel row r: h = p*sh - pt + r*dh (outside [0,H) reads zero).
//
// FLOPs (each of forward, gradient of input, gradient of weight): 2*N*K*P*Q*C*R*S.
// Bytes (compulsory, fp32): forward 4*(N*C*H*W + K*C*R*S + N*K*P*Q); the same order for the two
// gradients. A 3x3 layer with C=K=64 and 56x56 images does ~132 flops per compulsory byte (66 in
// fp64), far above an H100's ~20 (67 TFLOP/s / 3.3 TB/s): these kernels are meant to be
// compute-bound.
//
// Variants: a ladder per primitive, each variant adding one idea to the one before. The variant
// number is the step of pyconv.kernels (`pyconv.kernels.use("conv2d_forward", 2, backend="cuda")`);
// the defaults are DEFAULTS in pyconv/backends/cuda_cupy.py. GEMM cores: common.cuh.
//   conv2d_forward
//     1  naive: one thread per output y[n,k,p,q], loops over c,r,s (a tap in the padding
//        multiplies its weight by 0, as im2col does). grid ceil(N*K*P*Q/256), block 256.
//     2  + shared-memory tiles: implicit GEMM on gemm_core_shared, C = w (K x CRS) times
//        im2col(x) (CRS x NPQ), the im2col view gathered on the fly; 128x128x8 block tiles,
//        8x8 outputs per thread. grid (ceil(N*P*Q/128), ceil(K/128)), block 256.
//     3  + cp.async: as 2 on gemm_core_async, GEMM_STAGES k-tiles in flight instead of one (the
//        im2col gathers are latency-bound). Same grid.
//     4  + TF32 tensor cores: as 3 on gemm_core_tf32 (mma.sync.m16n8k8), ~1e-3 relative error;
//        opt-in (cuda_cupy.set_tf32), float32 on sm_80+ (variant 3's code in double builds and
//        below sm_80). Same grid.
//     5  + 64-row tiles: as 3 (gemm_core_async) on 64x128 block tiles, 4x8 outputs per thread,
//        for layers of few filters (K <= 64, or 129..192), which fill only half (a quarter) of
//        the 128-row tile's rows; the default there (cuda_cupy.short_tile_pays).
//        grid (ceil(N*P*Q/128), ceil(K/64)), block 256.
//   conv2d_backward_input
//     1  naive gather: one thread per dx[n,c,h,w] sums the dy[n,k,p,q] of every (k,r,s) whose
//        window covers it; no atomics. grid ceil(N*C*H*W/256), block 256.
//     2  + shared-memory tiles: implicit GEMM of the transposed problem, one launch per stride
//        phase (sh*sw launches; one when the stride is 1): dx restricted to the input pixels of
//        one phase (C x N*Hph*Wph) = w^T restricted to the taps that reach them (C x K*Rph*Sph)
//        times that phase's "col2im" view of dy. Each dx element is owned by one thread (no
//        atomics), and no product is a structural zero whatever the stride.
//        grid (ceil(N*Hph*Wph/128), ceil(C/128)) per phase, block 256. With an Inf or NaN in
//        w (nonfinite_flag, one launch before the phases) each block gathers its tile as
//        variant 1 does instead: the GEMM would multiply w by the zeros standing for
//        out-of-range dy, a NaN the contract does not have.
//     3  + cp.async (gemm_core_async), 4 + TF32 tensor cores (gemm_core_tf32), 5 + 64-row tiles
//        (rows: C), as for the forward.
//   conv2d_backward_weight
//     1  naive: one thread per dw[k,c,r,s] sums over n,p,q (a tap in the padding multiplies dy
//        by 0, as im2col does). grid ceil(K*C*R*S/256), block 256.
//     2  + a block per (element, split of n,p,q): 256 threads stride over the split, then a
//        fixed-order tree reduction in shared memory, the splits added by sum_splits; for small
//        filter banks. grid (K*C*R*S, splits), block 256.
//     3  + shared-memory tiles: implicit GEMM dw (K x CRS) = dy (K x NPQ) times im2col(x)^T
//        (NPQ x CRS) on gemm_core_shared, the long NPQ reduction split over gridDim.z blocks that
//        write partial sums to a workspace (splits, K, CRS); sum_splits then adds them in a fixed
//        order (deterministic, no atomics). grid (ceil(CRS/128), ceil(K/128), splits), block 256.
//     4  + cp.async (gemm_core_async), 5 + TF32 tensor cores (gemm_core_tf32), 6 + 64-row tiles
//        (rows: K; grid (ceil(CRS/128), ceil(K/64), splits)), as for the forward.
//   conv2d_backward_bias
//     1  one block per (k, split of n,p,q): 256 threads stride over the split, then a tree
//        reduction in shared memory (fixed order), the splits added by sum_splits in order
//        (deterministic). grid (K, splits), block 256.
//   sum_splits (helper of conv2d_backward_weight 2-5 and conv2d_backward_bias_1)
//        out[i] = sum over s of ws[s*L + i], in order of s. grid ceil(L/256), block 256.
//   nonfinite_flag (helper of conv2d_backward_input 2-4)
//        flag = 1 when w holds an Inf or a NaN (flag zeroed by the caller). grid-stride,
//        grid min(ceil(K*C*R*S/256), 4 per SM), block 256.

#include "common.cuh"

#define CONV_ARGS                                                                       \
    int N, int C, int H, int W, int K, int R, int S, int P, int Q, int sh, int sw, int pt, \
        int pl, int dh, int dw

// ---- conv2d_forward ---------------------------------------------------------------------------

// 1: naive, one thread per output.
extern "C" __global__ void conv2d_forward_1(real* __restrict__ y, const real* __restrict__ x,
                                            const real* __restrict__ w,
                                            const real* __restrict__ b, int has_bias, CONV_ARGS)
{
    /* BEGIN LAB 6: variant 1, one thread per output y[n,k,p,q]: the bias plus the sum over c, r, s (zero outside the input) */
    const int i = blockIdx.x * blockDim.x + threadIdx.x;   // flat index into y (N,K,P,Q)
    if (i >= N * K * P * Q) return;
    const int q = i % Q, p = (i / Q) % P, k = (i / (P * Q)) % K, n = i / (K * P * Q);
    real acc = has_bias ? b[k] : real(0);
    for (int c = 0; c < C; ++c)
        for (int r = 0; r < R; ++r) {
            const int h = p * sh - pt + r * dh;
            for (int s = 0; s < S; ++s) {
                const int v = q * sw - pl + s * dw;
                // a tap in the padding reads 0 and still multiplies its weight (NaN for an
                // Inf weight: CONTRACT.md, the im2col rule)
                const real xv = h >= 0 && h < H && v >= 0 && v < W ? x[((n * C + c) * H + h) * W + v] : real(0);
                acc += xv * w[((k * C + c) * R + r) * S + s];
            }
        }
    y[i] = acc;
    /* END LAB 6 */
}

// B operand of the forward GEMM: im2col(x), element (kd = (c,r,s), col = (n,p,q)).
// MN4: a thread owns 4 columns 32 apart for the whole kernel (lanes on consecutive columns:
// consecutive q of one input row at unit stride), so their (n, p, q) are decoded once; each
// k-step decodes one (c, r, s).
struct Im2col {
    static const int MAPPING = LOAD_MN4, TILE_MN = GEMM_BN;
    const real* src;
    int C, H, W, R, S, dh, dw, Kd, kk;
    int base[4], h0[4], w0[4];   // per column: offset of x[n,0,0,0], top-left input pixel
    __device__ Im2col(const real* x_, CONV_ARGS, int col0) : src(x_), C(C), H(H), W(W), R(R), S(S), dh(dh), dw(dw)
    {
        Kd = C * R * S;
        kk = threadIdx.x / 32;
        for (int j = 0; j < 4; ++j) {
            const int col = col0 + threadIdx.x % 32 + 32 * j;   // tile_slot<LOAD_MN4>
            const int q = col % Q, p = (col / Q) % P, n = col / (P * Q);
            if (col < N * P * Q) {
                base[j] = n * C * H * W; h0[j] = p * sh - pt; w0[j] = q * sw - pl;
            } else {     // past the last column: an input row no filter row reaches reads zero
                base[j] = 0; h0[j] = -0x40000000; w0[j] = 0;
            }
        }
    }
    __device__ void addrs(int k0, int off[4], bool ok[4]) const
    {
        const int kd = k0 + kk;
        const int c = kd / (R * S), r = (kd / S) % R, s = kd % S;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int h = h0[j] + r * dh, u = w0[j] + s * dw;
            ok[j] = kd < Kd && h >= 0 && h < H && u >= 0 && u < W;
            off[j] = ok[j] ? base[j] + (c * H + h) * W + u : 0;
        }
    }
};

// The implicit-GEMM forward, on one of the GEMM cores of common.cuh.
template <class Core>
__device__ __forceinline__ void conv2d_forward_body(real* __restrict__ y, const real* __restrict__ x,
                                                    const real* __restrict__ w,
                                                    const real* __restrict__ b, int has_bias, CONV_ARGS)
{
    /* BEGIN LAB 6: this block's Core::BM x GEMM_BN tile of w (K x CRS) times im2col(x) (CRS x NPQ) on Core, then this thread's Core::MI x 8 outputs to y */
    const int CRS = C * R * S, NPQ = N * P * Q, PQ = P * Q;
    const int m0 = blockIdx.y * Core::BM, n0 = blockIdx.x * GEMM_BN;
    const Strided<LOAD_K8, Core::BM> la(w, CRS, 1, K, CRS, m0);   // w as a (K, CRS) matrix
    const Im2col lb(x, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw, n0);
    real acc[Core::MI][8];
    Core::run(la, lb, 0, CRS, acc);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int col = n0 + Core::col(j);
        if (col >= NPQ) continue;
        const int n = col / PQ, pq = col % PQ;
#pragma unroll
        for (int i = 0; i < Core::MI; ++i) {
            const int k = m0 + Core::row(i);
            if (k < K) y[(n * K + k) * PQ + pq] = acc[i][j] + (has_bias ? b[k] : real(0));
        }
    }
    /* END LAB 6 */
}

// 2: implicit GEMM, 128x128x8 block tile, 8x8 per thread, double-buffered shared memory.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_forward_2(real* __restrict__ y, const real* __restrict__ x, const real* __restrict__ w,
                 const real* __restrict__ b, int has_bias, CONV_ARGS)
{
    conv2d_forward_body<GemmCoreShared<GEMM_BM>>(y, x, w, b, has_bias, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
}

// 3: as 2, the tiles fed by cp.async, GEMM_STAGES deep.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_forward_3(real* __restrict__ y, const real* __restrict__ x, const real* __restrict__ w,
                 const real* __restrict__ b, int has_bias, CONV_ARGS)
{
    conv2d_forward_body<GemmCoreAsync<GEMM_BM>>(y, x, w, b, has_bias, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
}

// 4: as 3 on TF32 tensor cores (opt-in; float32 on sm_80+; variant 3's code in double builds
// and below sm_80).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_forward_4(real* __restrict__ y, const real* __restrict__ x, const real* __restrict__ w,
                 const real* __restrict__ b, int has_bias, CONV_ARGS)
{
    conv2d_forward_body<GemmCoreTF32<GEMM_BM>>(y, x, w, b, has_bias, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
}

// 5: as 3 on 64x128 tiles (rows: filters), for layers of few filters.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_forward_5(real* __restrict__ y, const real* __restrict__ x, const real* __restrict__ w,
                 const real* __restrict__ b, int has_bias, CONV_ARGS)
{
    conv2d_forward_body<GemmCoreAsync<GEMM_BM_SHORT>>(y, x, w, b, has_bias, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
}

// ---- conv2d_backward_input --------------------------------------------------------------------

// The output row p with p*s == hp, where hp = h + pt - r*dh: the one output row that reads
// input row h through kernel row r. Returns -1 when there is none (hp < 0, not a multiple of
// the stride, or p >= P). The same with columns.
__device__ __forceinline__ int source_row(int hp, int s, int P)
{
    if (hp < 0) return -1;
    if (s != 1) {
        if (hp % s) return -1;
        hp /= s;
    }
    return hp < P ? hp : -1;
}

// 1: naive gather, one thread per dx element; each input pixel sums its own contributions.
extern "C" __global__ void conv2d_backward_input_1(real* __restrict__ dx, const real* __restrict__ dy,
                                                   const real* __restrict__ w, CONV_ARGS)
{
    /* BEGIN LAB 6: variant 1, one thread per dx[n,c,h,w]: the sum of dy * w over every (k, r, s) whose window reads it (source_row) */
    const int i = blockIdx.x * blockDim.x + threadIdx.x;   // flat index into dx (N,C,H,W)
    if (i >= N * C * H * W) return;
    const int u = i % W, h = (i / W) % H, c = (i / (H * W)) % C, n = i / (C * H * W);
    real acc = 0;
    for (int k = 0; k < K; ++k)
        for (int r = 0; r < R; ++r) {
            const int p = source_row(h + pt - r * dh, sh, P);
            if (p < 0) continue;
            for (int s = 0; s < S; ++s) {
                const int q = source_row(u + pl - s * dw, sw, Q);
                if (q < 0) continue;
                acc += dy[((n * K + k) * P + p) * Q + q] * w[((k * C + c) * R + r) * S + s];
            }
        }
    dx[i] = acc;
    /* END LAB 6 */
}

// The GEMM kernels of the input gradient run once per stride phase (a_h, a_w): the input rows h
// with (h + pt) % sh == a_h meet only the kernel rows r with r*dh % sh == a_h, and the same for
// columns. Restricted to one phase the col2im view of dy has no structural zeros, so a strided
// convolution costs no more than its forward pass (unsplit, with stride 2, 3/4 of the products
// would be multiplications by zero). One axis of a phase, computed by the caller (see
// stride_phases in pyconv/backends/cuda_cupy.py):
//   input positions  h = first + i*stride,  i < count
//   kernel taps      r = r0 + j*r_step,     j < taps
//   output position  p = p0 + i - j*p_step  (a real one only when 0 <= p < P)
// With stride 1 there is one phase: first 0, r0 0, r_step 1, p0 = pt, p_step = dh.
#define PHASE_ARGS                                                                        \
    int h_first, int h_count, int r0, int r_step, int r_taps, int p0, int p_step,         \
        int w_first, int w_count, int s0, int s_step, int s_taps, int q0, int q_step
#define PHASE_PASS h_first, h_count, r0, r_step, r_taps, p0, p_step, w_first, w_count, s0, s_step, s_taps, q0, q_step

// A operand of the backward-input GEMM: w^T restricted to the phase's taps, element
// (row c, kd = (k, jr, js)) = w[k, c, r0 + jr*r_step, s0 + js*s_step].
// K8: a thread reads one kd of 4 channels TILE/4 apart per k-step (32 for the 128-row tile, 16
// for the 64-row one), so kd is decoded once (two divisions) and the 4 addresses are
// (TILE/4)*R*S apart; lanes read 8 consecutive kd of 4 channels. TILE: the core's BM.
template <int TILE>
struct FilterT {
    static const int MAPPING = LOAD_K8, TILE_MN = TILE;
    const real* src;
    int C, R, S, r0, r_step, r_taps, s0, s_step, s_taps, Kd, c, kk;
    __device__ FilterT(const real* w_, int C_, int K, int R_, int S_, PHASE_ARGS, int m0)
        : src(w_), C(C_), R(R_), S(S_), r0(r0), r_step(r_step), r_taps(r_taps), s0(s0),
          s_step(s_step), s_taps(s_taps)
    {
        Kd = K * r_taps * s_taps;
        tile_slot<LOAD_K8, TILE>(threadIdx.x, 0, kk, c);
        c += m0;
    }
    __device__ void addrs(int k0, int off[4], bool ok[4]) const
    {
        const int kd = k0 + kk;
        const Digits3 d(kd, r_taps, s_taps);   // (k, jr, js)
        const int base = ((d.hi * C + c) * R + r0 + d.mid * r_step) * S + s0 + d.lo * s_step;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int dk, dc;   // dk = 0 under K8
            tile_step<LOAD_K8, TILE>(j, dk, dc);
            ok[j] = c + dc < C && kd < Kd;
            off[j] = ok[j] ? base + dc * R * S : 0;
        }
    }
};

// B operand of the backward-input GEMM: the phase's col2im view of dy, element
// (kd = (k, jr, js), col = (n, i, l)) = dy[n, k, p0 + i - jr*p_step, q0 + l - js*q_step], zero
// where that output position is outside [0,P) x [0,Q).
struct Col2im {
    static const int MAPPING = LOAD_MN4, TILE_MN = GEMM_BN;
    const real* src;
    int K, P, Q, r_taps, p_step, s_taps, q_step, Kd, kk;
    int base[4], pi[4], ql[4];   // per column: offset of dy[n,0,0,0], p0 + i, q0 + l
    __device__ Col2im(const real* dy_, int N, int K_, int P_, int Q_, PHASE_ARGS, int col0)
        : src(dy_), K(K_), P(P_), Q(Q_), r_taps(r_taps), p_step(p_step), s_taps(s_taps), q_step(q_step)
    {
        Kd = K * r_taps * s_taps;
        kk = threadIdx.x / 32;
        for (int j = 0; j < 4; ++j) {
            const int col = col0 + threadIdx.x % 32 + 32 * j;   // tile_slot<LOAD_MN4>
            const int l = col % w_count, i = (col / w_count) % h_count, n = col / (h_count * w_count);
            if (col < N * h_count * w_count) {
                base[j] = n * K * P * Q; pi[j] = p0 + i; ql[j] = q0 + l;
            } else {     // past the last column: a row no tap brings into [0, P) reads zero
                base[j] = 0; pi[j] = -0x40000000; ql[j] = 0;
            }
        }
    }
    __device__ void addrs(int k0, int off[4], bool ok[4]) const
    {
        const int kd = k0 + kk;
        const int k = kd / (r_taps * s_taps), jr = (kd / s_taps) % r_taps, js = kd % s_taps;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int p = pi[j] - jr * p_step, q = ql[j] - js * q_step;
            ok[j] = kd < Kd && p >= 0 && p < P && q >= 0 && q < Q;
            off[j] = ok[j] ? base[j] + (k * P + p) * Q + q : 0;
        }
    }
};

// ---- the input gradient with non-finite filters --------------------------------------------
// The GEMM below multiplies w by the zeros that stand for out-of-range dy (Col2im reads them as
// 0), so an Inf or NaN weight would turn the border of dx into NaN. The contract (CONTRACT.md,
// the im2col rule) has dx = col2im(w^T dy): only real dy values are multiplied, and a missing
// dy is no term at all. So with a non-finite w the GEMM kernels compute their tile as variant 1
// does, one gather per element; with a finite w (every real training step) the GEMM runs
// unchanged. The choice is made on the device: nonfinite_flag sets a flag that the GEMM
// kernels read once per thread, so the host never waits for the GPU (benchmarks/NOTES.md).

// flag[0] = 1 when w (n elements) holds an Inf or a NaN; the caller zeroes it first. A
// grid-stride loop (any grid covers w); a thread that finds one sets the flag with an atomic, so
// a finite w costs one read of w and no atomics. v - v is 0 for every finite v and NaN for Inf
// and NaN (no fast-math: the sources are compiled without it).
extern "C" __global__ void nonfinite_flag(int* __restrict__ flag, const real* __restrict__ w, int n)
{
    bool bad = false;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const real v = w[i];
        bad |= !(v - v == real(0));
    }
    if (bad) atomicOr(flag, 1);
}

// dx[n,c,h,u] as variant 1 computes it: the sum over (k, r, s), in that order, of
// dy[n,k,p,q] * w[k,c,r,s] over the taps whose output position (p, q) is a real one.
__device__ __forceinline__ real input_gradient_gather(const real* __restrict__ dy,
                                                      const real* __restrict__ w, int n, int c,
                                                      int h, int u, CONV_ARGS)
{
    real acc = 0;
    for (int k = 0; k < K; ++k)
        for (int r = 0; r < R; ++r) {
            const int p = source_row(h + pt - r * dh, sh, P);
            if (p < 0) continue;
            for (int s = 0; s < S; ++s) {
                const int q = source_row(u + pl - s * dw, sw, Q);
                if (q < 0) continue;
                acc += dy[((n * K + k) * P + p) * Q + q] * w[((k * C + c) * R + r) * S + s];
            }
        }
    return acc;
}

// The block's TM x TN tile of one stride phase (rows c from m0, phase columns from n0), each
// element gathered as by variant 1: what the GEMM kernels run when w is not finite.
template <int TM, int TN>
__device__ __noinline__ void backward_input_tile_gather(real* __restrict__ dx, const real* __restrict__ dy,
                                           const real* __restrict__ w, int m0, int n0, CONV_ARGS,
                                           PHASE_ARGS)
{
    const int cols = N * h_count * w_count;
    for (int e = threadIdx.x; e < TM * TN; e += blockDim.x) {
        const int c = m0 + e / TN, col = n0 + e % TN;
        if (c >= C || col >= cols) continue;
        const int l = col % w_count, i = (col / w_count) % h_count, n = col / (h_count * w_count);
        const int h = h_first + i * sh, u = w_first + l * sw;
        dx[((n * C + c) * H + h) * W + u] = input_gradient_gather(dy, w, n, c, h, u, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
    }
}

// The implicit GEMM of one stride phase of the transposed problem: dx restricted to the phase
// (C x N*h_count*w_count) = w^T (C x K*r_taps*s_taps) times the phase's col2im view of dy.
// Each dx element belongs to one phase and is written by exactly one thread of its launch.
// w_nonfinite: nonfinite_flag's flag; when set, the tile is gathered instead (see above). The
// flag is the same for every thread of the grid, so the branch never splits a block.
template <class Core>
__device__ __forceinline__ void conv2d_backward_input_body(real* __restrict__ dx,
                                                           const real* __restrict__ dy,
                                                           const real* __restrict__ w,
                                                           const int* __restrict__ w_nonfinite,
                                                           CONV_ARGS, PHASE_ARGS)
{
    const int cols = N * h_count * w_count;
    const int m0 = blockIdx.y * Core::BM, n0 = blockIdx.x * GEMM_BN;
    if (*w_nonfinite) {
        backward_input_tile_gather<Core::BM, GEMM_BN>(dx, dy, w, m0, n0, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw, PHASE_PASS);
        return;
    }
    const FilterT<Core::BM> la(w, C, K, R, S, PHASE_PASS, m0);
    const Col2im lb(dy, N, K, P, Q, PHASE_PASS, n0);
    real acc[Core::MI][8];
    Core::run(la, lb, 0, la.Kd, acc);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int col = n0 + Core::col(j);
        if (col >= cols) continue;
        const int l = col % w_count, i = (col / w_count) % h_count, n = col / (h_count * w_count);
        const int hw = (h_first + i * sh) * W + w_first + l * sw;
#pragma unroll
        for (int i8 = 0; i8 < Core::MI; ++i8) {
            const int c = m0 + Core::row(i8);
            if (c < C) dx[(n * C + c) * H * W + hw] = acc[i8][j];
        }
    }
}

// 2: one stride phase of the input gradient, implicit GEMM on the shared-memory core.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_backward_input_2(real* __restrict__ dx, const real* __restrict__ dy,
                        const real* __restrict__ w, const int* __restrict__ w_nonfinite, CONV_ARGS,
                        PHASE_ARGS)
{
    conv2d_backward_input_body<GemmCoreShared<GEMM_BM>>(dx, dy, w, w_nonfinite, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw, PHASE_PASS);
}

// 3: as 2, the tiles fed by cp.async, GEMM_STAGES deep.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_backward_input_3(real* __restrict__ dx, const real* __restrict__ dy,
                        const real* __restrict__ w, const int* __restrict__ w_nonfinite, CONV_ARGS,
                        PHASE_ARGS)
{
    conv2d_backward_input_body<GemmCoreAsync<GEMM_BM>>(dx, dy, w, w_nonfinite, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw, PHASE_PASS);
}

// 4: as 3 on TF32 tensor cores (opt-in; float32 on sm_80+; variant 3's code in double builds
// and below sm_80).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_backward_input_4(real* __restrict__ dx, const real* __restrict__ dy,
                        const real* __restrict__ w, const int* __restrict__ w_nonfinite, CONV_ARGS,
                        PHASE_ARGS)
{
    conv2d_backward_input_body<GemmCoreTF32<GEMM_BM>>(dx, dy, w, w_nonfinite, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw, PHASE_PASS);
}

// 5: as 3 on 64x128 tiles (rows: input channels), for layers of few channels.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_backward_input_5(real* __restrict__ dx, const real* __restrict__ dy,
                        const real* __restrict__ w, const int* __restrict__ w_nonfinite, CONV_ARGS,
                        PHASE_ARGS)
{
    conv2d_backward_input_body<GemmCoreAsync<GEMM_BM_SHORT>>(dx, dy, w, w_nonfinite, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw, PHASE_PASS);
}

// ---- conv2d_backward_weight -------------------------------------------------------------------

// 1: naive, one thread per dw element, summing over n, p, q.
extern "C" __global__ void conv2d_backward_weight_1(real* __restrict__ dwt, const real* __restrict__ dy,
                                                    const real* __restrict__ x, CONV_ARGS)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;   // flat index into dw (K,C,R,S)
    if (i >= K * C * R * S) return;
    const int s = i % S, r = (i / S) % R, c = (i / (R * S)) % C, k = i / (C * R * S);
    real acc = 0;
    for (int n = 0; n < N; ++n)
        for (int p = 0; p < P; ++p) {
            const int h = p * sh - pt + r * dh;
            for (int q = 0; q < Q; ++q) {
                const int u = q * sw - pl + s * dw;
                // a tap in the padding multiplies dy by 0 (NaN for an Inf dy: the im2col rule)
                const real xv = h >= 0 && h < H && u >= 0 && u < W ? x[((n * C + c) * H + h) * W + u] : real(0);
                acc += dy[((n * K + k) * P + p) * Q + q] * xv;
            }
        }
    dwt[i] = acc;
}

// 2: for small filter banks (LeNet: 6x1x5x5), where a 128x128 GEMM tile would be mostly
// empty: one block per (dw element, split of the n,p,q reduction); its 256 threads stride over
// the split's [z*chunk, (z+1)*chunk) of (n, p, q) and a tree reduction in shared memory adds
// their sums in a fixed order into ws[z] (K,C,R,S); sum_splits adds the splits in order
// (deterministic). The split (gridDim.y) keeps a few filters over a big batch from running on
// K*C*R*S blocks only: LeNet conv1 is 150 blocks, about one per SM. Work per block: chunk
// products, reading a run of dy[:, k] and one shifted view of x[:, c]. grid (K*C*R*S, splits),
// block 256.
extern "C" __global__ void __launch_bounds__(256)
conv2d_backward_weight_2(real* __restrict__ ws, const real* __restrict__ dy,
                         const real* __restrict__ x, int chunk, CONV_ARGS)
{
    __shared__ real partial[256];
    const int i = blockIdx.x, t = threadIdx.x;   // i: flat index into dw (K,C,R,S)
    const int s = i % S, r = (i / S) % R, c = (i / (R * S)) % C, k = i / (C * R * S);
    const int PQ = P * Q, j0 = blockIdx.y * chunk, j1 = min(N * PQ, j0 + chunk);
    real acc = 0;
    for (int j = j0 + t; j < j1; j += 256) {
        const int n = j / PQ, p = (j / Q) % P, q = j % Q;
        const int h = p * sh - pt + r * dh, u = q * sw - pl + s * dw;
        const real xv = h >= 0 && h < H && u >= 0 && u < W ? x[((n * C + c) * H + h) * W + u] : real(0);
        acc += dy[(n * K + k) * PQ + p * Q + q] * xv;   // padding: dy * 0, as variant 1
    }
    partial[t] = acc;
    __syncthreads();
    for (int half = 128; half > 0; half /= 2) {   // fixed pairing: the same sum on every run
        if (t < half) partial[t] += partial[t + half];
        __syncthreads();
    }
    if (t == 0) ws[blockIdx.y * (K * C * R * S) + i] = partial[0];
}

// A operand of the backward-weight GEMM: dy as (K x NPQ), element (row k, kd = (n,pq)).
// K8: one kd of 4 filters TILE/4 apart per thread and k-step (one division), lanes on 8
// consecutive pixels of 4 filters. TILE: the core's BM.
template <int TILE>
struct DyRows {
    static const int MAPPING = LOAD_K8, TILE_MN = TILE;
    const real* src;
    int K, PQ, Kd, k, kk;
    __device__ DyRows(const real* dy_, int N, int K_, int PQ_, int m0) : src(dy_), K(K_), PQ(PQ_)
    {
        Kd = N * PQ;
        tile_slot<LOAD_K8, TILE>(threadIdx.x, 0, kk, k);
        k += m0;
    }
    __device__ void addrs(int k0, int off[4], bool ok[4]) const
    {
        const int kd = k0 + kk, n = kd / PQ, pq = kd - n * PQ;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int dk, dm;   // dk = 0 under K8
            tile_step<LOAD_K8, TILE>(j, dk, dm);
            ok[j] = k + dm < K && kd < Kd;
            off[j] = ok[j] ? (n * K + k + dm) * PQ + pq : 0;
        }
    }
};

// B operand of the backward-weight GEMM: im2col(x)^T, element (kd = (n,p,q), col = (c,r,s)).
// K4: a thread owns one column (one filter tap) for the whole kernel and walks 4 consecutive
// output pixels per k-step (K8 would give each thread 4 taps, 3 more (c, r, s) offsets to keep
// in registers at the 128-register cap; the 16 taps a warp reads per instruction are mostly
// neighbours, windows shifted by one column, so their sectors overlap in L1).
struct Im2colT {
    static const int MAPPING = LOAD_K4, TILE_MN = GEMM_BN;
    const real* src;
    int C, H, W, P, Q, sh, sw, Kd, kk;
    int valid, cbase, hoff, woff;   // the column's x[0,c,0,0] offset and r*dh - pt, s*dw - pl
    __device__ Im2colT(const real* x_, CONV_ARGS, int col0) : src(x_), C(C), H(H), W(W), P(P), Q(Q), sh(sh), sw(sw)
    {
        Kd = N * P * Q;
        kk = (threadIdx.x % 2) * 4;
        const int col = col0 + threadIdx.x / 2;
        const int s = col % S, r = (col / S) % R, c = col / (R * S);
        valid = col < C * R * S;
        cbase = c * H * W; hoff = r * dh - pt; woff = s * dw - pl;
    }
    __device__ void addrs(int k0, int off[4], bool ok[4]) const
    {
        Digits3 d(k0 + kk, P, Q);   // (n, p, q)
#pragma unroll
        for (int j = 0; j < 4; ++j, d.next(P, Q)) {
            const int h = d.mid * sh + hoff, u = d.lo * sw + woff;
            ok[j] = valid && k0 + kk + j < Kd && h >= 0 && h < H && u >= 0 && u < W;
            off[j] = ok[j] ? d.hi * C * H * W + cbase + h * W + u : 0;
        }
    }
};

// Implicit GEMM with a split reduction. Block z sums kd over [z*chunk, (z+1)*chunk) (chunk
// a multiple of GEMM_BK, so no k-tile straddles two splits) into ws[z] (K, CRS); sum_splits
// then adds the splits. Every ws element is written by exactly one thread: no races, no atomics.
template <class Core>
__device__ __forceinline__ void conv2d_backward_weight_body(real* __restrict__ ws,
                                                            const real* __restrict__ dy,
                                                            const real* __restrict__ x, int chunk,
                                                            CONV_ARGS)
{
    const int CRS = C * R * S, NPQ = N * P * Q;
    const int m0 = blockIdx.y * Core::BM, n0 = blockIdx.x * GEMM_BN;
    const int k_begin = blockIdx.z * chunk, k_end = min(NPQ, k_begin + chunk);
    const DyRows<Core::BM> la(dy, N, K, P * Q, m0);
    const Im2colT lb(x, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw, n0);
    real acc[Core::MI][8];
    Core::run(la, lb, k_begin, k_end, acc);
    real* out = ws + blockIdx.z * K * CRS;
#pragma unroll
    for (int i = 0; i < Core::MI; ++i) {
        const int k = m0 + Core::row(i);
        if (k >= K) continue;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const int col = n0 + Core::col(j);
            if (col < CRS) out[k * CRS + col] = acc[i][j];
        }
    }
}

// 3: split-reduction implicit GEMM on the shared-memory core.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_backward_weight_3(real* __restrict__ ws, const real* __restrict__ dy,
                         const real* __restrict__ x, int chunk, CONV_ARGS)
{
    conv2d_backward_weight_body<GemmCoreShared<GEMM_BM>>(ws, dy, x, chunk, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
}

// 4: as 3, the tiles fed by cp.async, GEMM_STAGES deep.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_backward_weight_4(real* __restrict__ ws, const real* __restrict__ dy,
                         const real* __restrict__ x, int chunk, CONV_ARGS)
{
    conv2d_backward_weight_body<GemmCoreAsync<GEMM_BM>>(ws, dy, x, chunk, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
}

// 5: as 4 on TF32 tensor cores (opt-in; float32 on sm_80+; variant 4's code in double builds
// and below sm_80).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_backward_weight_5(real* __restrict__ ws, const real* __restrict__ dy,
                         const real* __restrict__ x, int chunk, CONV_ARGS)
{
    conv2d_backward_weight_body<GemmCoreTF32<GEMM_BM>>(ws, dy, x, chunk, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
}

// 6: as 4 on 64x128 tiles (rows: filters), for layers of few filters.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
conv2d_backward_weight_6(real* __restrict__ ws, const real* __restrict__ dy,
                         const real* __restrict__ x, int chunk, CONV_ARGS)
{
    conv2d_backward_weight_body<GemmCoreAsync<GEMM_BM_SHORT>>(ws, dy, x, chunk, N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw);
}

// Second pass of every split reduction: out[i] = ws[0*L + i] + ws[1*L + i] + ... in order.
extern "C" __global__ void sum_splits(real* __restrict__ out, const real* __restrict__ ws, int splits, int L)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= L) return;
    real acc = 0;
    for (int z = 0; z < splits; ++z) acc += ws[z * L + i];
    out[i] = acc;
}

// ---- conv2d_backward_bias ---------------------------------------------------------------------

// 1: one block per (output channel k, split of the n,p,q reduction); ws[z*K + k] = the sum of
// dy[n,k,p,q] over the split's [z*chunk, (z+1)*chunk) of (n, p, q), by 256 threads striding
// over it and a fixed-order tree; sum_splits adds the splits in order (deterministic). The
// splits give a memory-bound pass enough blocks to fill the GPU: K blocks alone (64 on a
// 132-SM GPU) leave half the SMs idle and too few loads in flight. grid (K, splits), block 256.
extern "C" __global__ void __launch_bounds__(256)
conv2d_backward_bias_1(real* __restrict__ ws, const real* __restrict__ dy, int N, int K, int PQ,
                       int chunk)
{
    __shared__ real partial[256];
    const int k = blockIdx.x, t = threadIdx.x;
    const int i0 = blockIdx.y * chunk, i1 = min(N * PQ, i0 + chunk);
    real acc = 0;
    for (int i = i0 + t; i < i1; i += 256) acc += dy[((i / PQ) * K + k) * PQ + i % PQ];
    partial[t] = acc;
    __syncthreads();
    for (int half = 128; half > 0; half /= 2) {   // fixed pairing: the same sum on every run
        if (t < half) partial[t] += partial[t + half];
        __syncthreads();
    }
    if (t == 0) ws[blockIdx.y * K + k] = partial[0];
}
