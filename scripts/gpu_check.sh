#!/usr/bin/env bash
# GPU check, for a machine with CUDA and PyTorch + PyG but no network (installs nothing):
# the test suite (its CUDA tests run instead of skipping), then every bench row on the GPU,
# then one summary table. About 8 minutes on one GPU. Results land in $OUT (or ./gpu_out).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python - <<'PY' || { echo "gpu_check: no CUDA device visible to torch"; exit 1; }
import torch, torch_geometric
assert torch.cuda.is_available()
print(f"card: {torch.cuda.get_device_name()}  torch {torch.__version__}  "
      f"torch_geometric {torch_geometric.__version__}")
PY
timeout 300 python -m pytest -q -p no:cacheprovider tests > "$OUT/tests.txt" 2>&1
tests_rc=$?
tail -3 "$OUT/tests.txt"
timeout 240 python scripts/bench.py --device cuda --rounds 10 --json "$OUT/bench_gpu.json" \
    > "$OUT/bench.txt" 2>&1
bench_rc=$?
grep -v USDT "$OUT/bench.txt"
python scripts/bench_table.py "$OUT/bench_gpu.json"
echo "tests exit code: $tests_rc   bench exit code: $bench_rc"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
