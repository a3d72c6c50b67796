#!/usr/bin/env bash
# The demo recipe's seed table on a CUDA GPU (does every seed leave the early plateau with CUDA's
# kernels too?): fec/configs/demo_cpu.yaml, seeds 0-9, in fp32 (amp=off; cuDNN convolutions in TF32, PyTorch's
# default) and with bf16 autocast (what amp=auto picks on a GPU). Each run is its own fec-train process, run
# by benchmarks/learning_curves.py, PARALLEL at once; the same table as the CPU seed tables.
#
#   PYTHONPATH=. bash benchmarks/gpu_seeds.sh [DATA_DIR [OUT_DIR]]
#
# DATA_DIR  the demo's dataset ("" or absent: `fec-data synth --triplets 12000 --seed 0` into WORK/data)
# OUT_DIR   (default gpu-seeds) seeds.md (the table), seeds.json, metrics.tar.gz (every run's metrics.jsonl
#           and test_metrics.json, also when BUDGET_S cut the sweep short)
# Settings (environment): PYTHON (python3), DEVICE (cuda; `DEVICE=cpu` is a dry run), SEEDS (0-9),
# AMPS ("off bf16"), PARALLEL (10), THREADS (1 per run), BUDGET_S (300, for the sweep), SETS (extra
# key=value words for every run, e.g. "max_steps=20 eval_every=10" for a dry run), WORK (default a new /tmp one).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${1:-}
OUT=${2:-gpu-seeds}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
[[ -n "$DATA" ]] && DATA=$(realpath "$DATA")
cd "$REPO" || exit 2
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SEEDS=${SEEDS:-0-9}
AMPS=${AMPS:-off bf16}
PARALLEL=${PARALLEL:-10}
THREADS=${THREADS:-1}
BUDGET_S=${BUDGET_S:-300}
WORK=${WORK:-$(mktemp -d /tmp/fec-gpu-seeds.XXXXXX)}
CONFIG=fec/configs/demo_cpu.yaml

if [[ "$DEVICE" != cpu ]] && ! "$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "gpu_seeds: no CUDA GPU visible to PyTorch; for a dry run on the CPU: DEVICE=cpu" >&2
  exit 2
fi
first=${SEEDS%-*} last=${SEEDS#*-}
if ! [[ "$first" =~ ^[0-9]+$ && "$last" =~ ^[0-9]+$ ]] || (( first > last )); then
  echo "gpu_seeds: SEEDS must be FIRST-LAST, e.g. 0-9 (got '$SEEDS')" >&2
  exit 2
fi
started=$(date +%s)
if [[ -z "$DATA" ]]; then
  DATA="$WORK/data"
  "$PY" -m fec.cli.data synth --out "$DATA" --triplets 12000 --seed 0 --quiet || exit 1
  echo "gpu_seeds: synthesised $DATA in $(( $(date +%s) - started )) s"
fi
SET_FLAGS=()
for pair in ${SETS:-}; do SET_FLAGS+=(--set "$pair"); done

# One run crops every face into the store beside the CSV first, so the parallel runs only read it.
"$PY" -m fec.cli.train --config "$CONFIG" --data "$DATA" --out "$WORK/store-warmup" --device "$DEVICE" \
  --max-steps 1 --quiet "${SET_FLAGS[@]}" > "$WORK/store-warmup.log" 2>&1 \
  || { echo "gpu_seeds: the warm-up run failed:"; tail -n 5 "$WORK/store-warmup.log"; exit 1; }
echo "gpu_seeds: face store ready in $(( $(date +%s) - started )) s"

RECIPES=()
for amp in $AMPS; do
  for seed in $(seq "$first" "$last"); do RECIPES+=("$amp-s$seed: seed=$seed amp=$amp"); done
done
status=0
timeout --kill-after=10 "$BUDGET_S" "$PY" benchmarks/learning_curves.py --data "$DATA" --config "$CONFIG" \
  --out "$WORK/runs" --device "$DEVICE" --parallel "$PARALLEL" --threads "$THREADS" "${SET_FLAGS[@]}" \
  "${RECIPES[@]}" | tee "$OUT/seeds.md" || status=$?
(( status == 124 || status == 137 )) && echo "gpu_seeds: the sweep ran past BUDGET_S=${BUDGET_S} s and was stopped"
cp "$WORK/runs/curves.json" "$OUT/seeds.json" 2>/dev/null || true
(cd "$WORK/runs" 2>/dev/null && tar czf - */metrics.jsonl */test_metrics.json */machine.jsonl 2>/dev/null) \
  > "$OUT/metrics.tar.gz" || true
echo "gpu_seeds: $(( $(date +%s) - started )) s in all; results in $OUT; exit $status"
exit $status
