#!/usr/bin/env bash
# The whole GPU check list of the cuda backend in one command, each step logged to LOGDIR:
#
#   bash benchmarks/cuda_check.sh LOGDIR [STEP ...]
#
# Steps, in this order when none is named (cheap and decisive first, so that a time limit
# cuts off the sanitizers rather than the tests):
#   info      GPU, CuPy, driver, nvcc, PyTorch versions; pyconv's backend report
#   tests     pytest -m cuda: every primitive and variant against numpy_ref, float64 gradcheck
#   torch     benchmarks/cuda_torch.py, defaults on gemm_core_shared, gemm_core_async (64-row
#             tiles where few rows), the 64-row tile everywhere; vs cuDNN/cuBLAS, TF32 off
#   bench     python -m pyconv bench --device cuda
#   memcheck, racecheck, synccheck, initcheck
#             benchmarks/cuda_sanitize.sh with that tool (odd-shape tests)
# Every step runs even when an earlier one failed; the exit status is 1 if any failed.
# The last lines printed are a summary: one line per step with its status and seconds.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    sed -n '2,16p' "$0"
    exit 2
fi
logdir=$1
shift
mkdir -p "$logdir"
steps=("${@:-info tests torch bench memcheck racecheck synccheck initcheck}")
export PYTHONUNBUFFERED=1

run_step() {
    case $1 in
        info)
            nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
            nvcc --version | tail -n 2
            python -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"
            python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())" || true
            python -m pyconv info ;;
        tests)   # all skipped would pass: make sure the backend is there first
            python -c "from pyconv.backends import cuda_cupy as c; ok, why = c.available(); assert ok, why" &&
            python -m pytest -q -p no:cacheprovider -m cuda --durations=10 tests/test_cuda_backend.py ;;
        torch)
            python benchmarks/cuda_torch.py --core shared && python benchmarks/cuda_torch.py --core async &&
                python benchmarks/cuda_torch.py --core async64 ;;
        bench)
            python -m pyconv bench --device cuda ;;
        memcheck|racecheck|synccheck|initcheck)
            bash benchmarks/cuda_sanitize.sh "$1" ;;
        *)
            echo "unknown step $1" >&2
            return 2 ;;
    esac
}

summary=()
status=0
for step in ${steps[@]}; do
    echo "== $step"
    start=$SECONDS
    run_step "$step" 2>&1 | tee "$logdir/$step.log"
    rc=${PIPESTATUS[0]}
    summary+=("$(printf '%-10s %-6s %5ds  %s' "$step" "$([ "$rc" = 0 ] && echo ok || echo FAIL)" $((SECONDS - start)) "$logdir/$step.log")")
    [ "$rc" = 0 ] || status=1
done
echo
echo "== summary"
printf '%s\n' "${summary[@]}" | tee "$logdir/summary.txt"
exit $status
