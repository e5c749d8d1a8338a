// matmul.cu: batched matrix product and its two gradients.
//
// Sizes: a (B,M,K), b (B,K,N), c (B,M,N), all C-contiguous.
//   matmul             c  = a @ b          (B,M,N)
//   matmul_backward_a  da = dc @ b^T       (B,M,K)
//   matmul_backward_b  db = a^T @ dc       (B,K,N)
// All three are one GEMM C[m][n] = sum_k A[m][k] B[k][n] with the operands read through
// strides (the Strided loader of common.cuh); only which axis is contiguous changes, and with
// it the loader's thread mapping (K8 when the operand is contiguous along k, MN4 otherwise).
//
// FLOPs: 2*B*M*N*K for each. Bytes (fp32, compulsory): 4*B*(M*K + K*N + M*N). 4096^3: 137 GFLOP,
// 201 MB; ~2.1 ms at 67 TFLOP/s (fp32, no tensor cores), so compute-bound by far.
//
// Grid: the GEMM's rows (M) on gridDim.x, its columns (N) on gridDim.y, the batch on gridDim.z.
// The op layer folds a Linear's batch (and any leading axes) into the rows, so M is the axis
// that grows with the data. gridDim.x reaches 2^31-1 blocks while y and z stop at 65535: rows on
// y would cap M at 65535*128 = 8.4M (1.05M for the naive kernel); on x any M up to the 32-bit
// index limit fits. N is capped instead (65535*128 columns tiled, 65535*16 naive), and the
// wrapper launches the batch in slices of at most 65535 (cuda_cupy.matmul_grid).
// Consecutive blocks are consecutive row tiles of one column tile: they share that tile of the
// B operand (a weight, for a Linear) in L2.
//
// Variants: a ladder, each adding one idea (the variant number is the step of pyconv.kernels;
// defaults in DEFAULTS of pyconv/backends/cuda_cupy.py; GEMM cores in common.cuh):
//   matmul_1, matmul_backward_a_1, matmul_backward_b_1
//                      naive: one thread per output element, k loop in registers.
//                      grid (ceil(M/16), ceil(N/16), B), block (16,16): threadIdx.x along
//                      the columns, so that a warp's stores to c (and loads of b) coalesce.
//   matmul_2, matmul_backward_a_2, matmul_backward_b_2
//                      + shared-memory tiles (gemm_core_shared): 128x128x8 block tiles, 8x8
//                      register micro-tile per thread, vector (16-byte) shared-memory reads,
//                      double buffering. grid (ceil(M/128), ceil(N/128), B), block 256.
//   matmul_3, matmul_backward_a_3, matmul_backward_b_3
//                      + cp.async (gemm_core_async): tiles copied global -> shared, GEMM_STAGES
//                      deep (4 float, 2 double). Same grid.
//   matmul_4, matmul_backward_a_4, matmul_backward_b_4
//                      + TF32 tensor cores (gemm_core_tf32, mma.sync.m16n8k8), ~1e-3 relative
//                      error; opt-in (cuda_cupy.set_tf32), float32 on sm_80+ (variant 3's code
//                      below sm_80 and in double builds). Same grid.
//   matmul_5, matmul_backward_a_5, matmul_backward_b_5
//                      + 64-row tiles: as 3 (gemm_core_async) on 64x128 block tiles, 4x8 outputs
//                      per thread, for products of few rows (<= 64, or 129..192), which fill
//                      half (a quarter) of the 128-row tile; the default there
//                      (cuda_cupy.short_tile_pays). grid (ceil(M/64), ceil(N/128), B), block 256.
// The argument names below are those of the GEMM: rows M, columns N, reduction length Kd.

#include "common.cuh"

// C (M,N) = sum_k A[m*a_m + k*a_k] * B[k*b_k + n*b_n], batch z at offsets z*M*Kd, z*Kd*N, z*M*N.
// Row block blockIdx.x, column block blockIdx.y; within the block threadIdx.x runs along n.
__device__ __forceinline__ void gemm_naive(real* __restrict__ c, const real* __restrict__ a,
                                           const real* __restrict__ b, int M, int N, int Kd,
                                           int a_m, int a_k, int b_k, int b_n)
{
    const int n = blockIdx.y * blockDim.x + threadIdx.x, m = blockIdx.x * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    a += blockIdx.z * M * Kd;
    b += blockIdx.z * Kd * N;
    real acc = 0;
    for (int k = 0; k < Kd; ++k) acc += a[m * a_m + k * a_k] * b[k * b_k + n * b_n];
    c[blockIdx.z * M * N + m * N + n] = acc;
}

// 1: naive, c = a @ b; a (M,Kd), b (Kd,N).
extern "C" __global__ void matmul_1(real* c, const real* a, const real* b, int M, int N, int Kd)
{
    gemm_naive(c, a, b, M, N, Kd, Kd, 1, N, 1);
}

// 1: naive, da = dc @ b^T; dc (M,Kd) and b (N,Kd) where Kd is matmul's N and N is matmul's K.
extern "C" __global__ void matmul_backward_a_1(real* da, const real* dc, const real* b, int M, int N, int Kd)
{
    gemm_naive(da, dc, b, M, N, Kd, Kd, 1, 1, Kd);
}

// 1: naive, db = a^T @ dc; a (Kd,M) and dc (Kd,N) where Kd is matmul's M and M is matmul's K.
extern "C" __global__ void matmul_backward_b_1(real* db, const real* a, const real* dc, int M, int N, int Kd)
{
    gemm_naive(db, a, dc, M, N, Kd, 1, M, N, 1);
}

// The tiled GEMM over strided operands: A (row mn, k) = a[mn*a_m + k*a_k], B (column mn, k) =
// b[k*b_k + mn*b_n]; output c (M,N) row-major. Row tile blockIdx.x, column tile blockIdx.y,
// batch z = blockIdx.z.
template <class Core, int MAP_A, int MAP_B>
__device__ __forceinline__ void gemm_tiled(real* __restrict__ c, const real* __restrict__ a,
                                           const real* __restrict__ b, int M, int N, int Kd,
                                           int a_m, int a_k, int b_k, int b_n)
{
    const int m0 = blockIdx.x * Core::BM, n0 = blockIdx.y * GEMM_BN;
    const Strided<MAP_A, Core::BM> la(a + blockIdx.z * M * Kd, a_m, a_k, M, Kd, m0);
    const Strided<MAP_B> lb(b + blockIdx.z * Kd * N, b_n, b_k, N, Kd, n0);
    real acc[Core::MI][8];
    Core::run(la, lb, 0, Kd, acc);
    c += blockIdx.z * M * N;
#pragma unroll
    for (int i = 0; i < Core::MI; ++i) {
        const int m = m0 + Core::row(i);
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const int n = n0 + Core::col(j);
            if (n < N) c[m * N + n] = acc[i][j];
        }
    }
}

// 2: tiled, c = a @ b: a is contiguous along k (K8), b along n (MN4).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_2(real* c, const real* a, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreShared<GEMM_BM>, LOAD_K8, LOAD_MN4>(c, a, b, M, N, Kd, Kd, 1, N, 1);
}

// 2: tiled, da = dc @ b^T: dc and b are both contiguous along the reduction axis (K8, K8).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_a_2(real* da, const real* dc, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreShared<GEMM_BM>, LOAD_K8, LOAD_K8>(da, dc, b, M, N, Kd, Kd, 1, 1, Kd);
}

// 2: tiled, db = a^T @ dc: a is contiguous along the rows of db, dc along its columns (MN4, MN4).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_b_2(real* db, const real* a, const real* dc, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreShared<GEMM_BM>, LOAD_MN4, LOAD_MN4>(db, a, dc, M, N, Kd, 1, M, N, 1);
}

// 3: as matmul_2, the tiles fed by cp.async, GEMM_STAGES deep.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_3(real* c, const real* a, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreAsync<GEMM_BM>, LOAD_K8, LOAD_MN4>(c, a, b, M, N, Kd, Kd, 1, N, 1);
}

// 3: as matmul_backward_a_2, fed by cp.async.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_a_3(real* da, const real* dc, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreAsync<GEMM_BM>, LOAD_K8, LOAD_K8>(da, dc, b, M, N, Kd, Kd, 1, 1, Kd);
}

// 3: as matmul_backward_b_2, fed by cp.async.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_b_3(real* db, const real* a, const real* dc, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreAsync<GEMM_BM>, LOAD_MN4, LOAD_MN4>(db, a, dc, M, N, Kd, 1, M, N, 1);
}

// 4: as matmul_3 on TF32 tensor cores (opt-in; float32 on sm_80+; variant 3's code below).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_4(real* c, const real* a, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreTF32<GEMM_BM>, LOAD_K8, LOAD_MN4>(c, a, b, M, N, Kd, Kd, 1, N, 1);
}

// 4: as matmul_backward_a_3 on TF32 tensor cores.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_a_4(real* da, const real* dc, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreTF32<GEMM_BM>, LOAD_K8, LOAD_K8>(da, dc, b, M, N, Kd, Kd, 1, 1, Kd);
}

// 4: as matmul_backward_b_3 on TF32 tensor cores.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_b_4(real* db, const real* a, const real* dc, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreTF32<GEMM_BM>, LOAD_MN4, LOAD_MN4>(db, a, dc, M, N, Kd, 1, M, N, 1);
}

// 5: as matmul_3 on 64x128 tiles, for products of few rows.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_5(real* c, const real* a, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreAsync<GEMM_BM_SHORT>, LOAD_K8, LOAD_MN4>(c, a, b, M, N, Kd, Kd, 1, N, 1);
}

// 5: as matmul_backward_a_3 on 64x128 tiles.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_a_5(real* da, const real* dc, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreAsync<GEMM_BM_SHORT>, LOAD_K8, LOAD_K8>(da, dc, b, M, N, Kd, Kd, 1, 1, Kd);
}

// 5: as matmul_backward_b_3 on 64x128 tiles.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_b_5(real* db, const real* a, const real* dc, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreAsync<GEMM_BM_SHORT>, LOAD_MN4, LOAD_MN4>(db, a, dc, M, N, Kd, 1, M, N, 1);
}
