#!/usr/bin/env bash
# Runs the CUDA backend's GPU tests under compute-sanitizer: memcheck (out-of-bounds and
# misaligned accesses), racecheck (shared-memory hazards in the tiled kernels), synccheck
# (__syncthreads misuse) and initcheck (reads of uninitialised device memory).
#
#   bash benchmarks/cuda_sanitize.sh            # all tools, odd-shape tests (minutes)
#   bash benchmarks/cuda_sanitize.sh memcheck   # one tool
#
# CuPy's memory pool is turned off (PYCONV_CUDA_NO_POOL=1, read by tests/test_cuda_backend.py)
# so that every array is its own allocation and memcheck sees reads past its end. The large
# shapes are left out: under racecheck they take hours.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v compute-sanitizer >/dev/null; then
    echo "compute-sanitizer not found (it ships with the CUDA toolkit, e.g. /usr/local/cuda/bin)" >&2
    exit 2
fi
python -c "from pyconv.backends import cuda_cupy as c; ok, why = c.available(); assert ok, why"

tools=("${@:-memcheck racecheck synccheck initcheck}")
select='odd or nan or deterministic'   # deterministic: the split-K workspace + sum_splits
status=0
for tool in ${tools[@]}; do
    echo "== compute-sanitizer --tool $tool"
    if ! PYCONV_CUDA_NO_POOL=1 compute-sanitizer --tool "$tool" --error-exitcode 99 \
            --target-processes all \
            python -m pytest -q -x -p no:cacheprovider -m cuda tests/test_cuda_backend.py -k "$select"; then
        echo "!! $tool reported errors" >&2
        status=1
    fi
done
exit $status
