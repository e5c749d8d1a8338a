// cores64.cu: the 64-row instantiations of the two GEMM cores that no kernel of csrc/cuda runs
// at 64 rows (gemm_core_shared, gemm_core_tf32; the 64-row variants of the ladders are on
// gemm_core_async), as matmul kernels for the emulated tests (tests/test_cuda_emulated.py) and
// the compile test, so that the templates stay correct at BM = 64 for the day a variant uses
// them. Same arguments and grid as matmul_5 and matmul_backward_b_5 (cuda_cupy.matmul_grid):
// the first has a K8 A operand, the second an MN4 one, the two A mappings of the 64-row tile.
#include "matmul.cu"

extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_shared64(real* c, const real* a, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreShared<GEMM_BM_SHORT>, LOAD_K8, LOAD_MN4>(c, a, b, M, N, Kd, Kd, 1, N, 1);
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_b_shared64(real* db, const real* a, const real* dc, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreShared<GEMM_BM_SHORT>, LOAD_MN4, LOAD_MN4>(db, a, dc, M, N, Kd, 1, M, N, 1);
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_tf32_64(real* c, const real* a, const real* b, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreTF32<GEMM_BM_SHORT>, LOAD_K8, LOAD_MN4>(c, a, b, M, N, Kd, Kd, 1, N, 1);
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS, GEMM_MIN_BLOCKS)
matmul_backward_b_tf32_64(real* db, const real* a, const real* dc, int M, int N, int Kd)
{
    gemm_tiled<GemmCoreTF32<GEMM_BM_SHORT>, LOAD_MN4, LOAD_MN4>(db, a, dc, M, N, Kd, 1, M, N, 1);
}
