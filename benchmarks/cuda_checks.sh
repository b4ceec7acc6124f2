#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run sized for a short lease (about
# 5 minutes on one H200), in order of importance:
#   1. the whole test suite: its device="auto" fits train on the GPU, and
#      tests/test_cuda.py compares the GPU paths with the CPU's (staged
#      arrays, pinned memmap blocks, sparse CSR, pickling, dtypes);
#   2. benchmarks/out_of_core.py --device cuda --quick (the full run takes
#      more than 3 minutes);
#   3. benchmarks/speed.py --device cuda at 20k rows (--n 20000 50000 for
#      both target sizes: about 4 more minutes, sklearn CCA's on the CPU).
# Each step has its own time limit (SIGINT, so pytest still prints its
# summary); results land in benchmarks/results/*-cuda*.* and, with the log, in
# $OUT when it is set. Run: bash benchmarks/cuda_checks.sh [speed.py's --n]
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
DEST=${OUT:-benchmarks/results}
failed=0
step() {  # step SECONDS COMMAND...: run it under a time limit, note a failure
    local limit=$1
    shift
    echo "=== $* (limit ${limit} s) $(date -u +%T)"
    timeout -s INT "$limit" "$@" || { echo "=== FAILED ($?): $*"; failed=1; }
}
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    $PY -c "import torch, sklearn, numpy, scipy; print('torch', torch.__version__, \
'cuda', torch.version.cuda, 'sklearn', sklearn.__version__, 'numpy', \
numpy.__version__, 'scipy', scipy.__version__)"
    step 120 $PY -m pytest -p no:cacheprovider -q -rfE tests
    step 45 $PY benchmarks/out_of_core.py --device cuda --quick
    step 140 $PY benchmarks/speed.py --device cuda --n "${@:-20000}"
    echo "=== done $(date -u +%T), failed=$failed"
} 2>&1 | tee "$DEST/cuda_checks.log"
if [ "$DEST" != benchmarks/results ]; then
    cp benchmarks/results/*-cuda*.* "$DEST"/ 2>/dev/null
fi
exit $failed
