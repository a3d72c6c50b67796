#!/usr/bin/env bash
# Learning curves of the CPU-demo recipes, run on a GPU so that many recipes and long runs fit in
# minutes: held-out accuracy against training steps (steps transfer to the CPU; seconds do not).
#
#   PYTHONPATH=. benchmarks/gpu_curves.sh [OUT_DIR]     (default: benchmarks/out/curves)
#
# BUDGET_S (default 330) caps the sweep; metrics.tar.gz keeps every run's log either way.
# Synthesises the demo dataset at 12000 triplets (seed 0), then runs the recipes below in parallel
# with benchmarks/learning_curves.py. Results: OUT_DIR/curves.md (table), OUT_DIR/curves.json.
set -euo pipefail
PY=${PYTHON:-python3}
OUT=${1:-benchmarks/out/curves}
WORK=${WORK:-/tmp/fec-curves}
mkdir -p "$OUT" "$WORK"

"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print('GPU', torch.cuda.get_device_name(0), 'torch', torch.__version__)"
start=$(date +%s)
[[ -f "$WORK/data/train.csv" ]] || "$PY" -m fec.cli.data synth --out "$WORK/data" --triplets 12000 --seed 0 --quiet
echo "synthesised in $(( $(date +%s) - start )) s"

timeout "${BUDGET_S:-330}" "$PY" benchmarks/learning_curves.py --data "$WORK/data" --out "$WORK/runs" --device cuda --parallel 8 --threads 2 \
  --set face_size=128 --set flip=true --set warmup_steps=10 --set max_steps=1500 --set eval_every=100 \
  --set checkpoint_every=100000 --set batch_size=32 --set amp=off \
  "compact-1e-3: model=compact_cnn lr=0.001" \
  "compact-2e-3: model=compact_cnn lr=0.002" \
  "compact-5e-4: model=compact_cnn lr=0.0005" \
  "compact-1e-3-noclip: model=compact_cnn lr=0.001 grad_clip=0" \
  "compact-1e-3-b64: model=compact_cnn lr=0.001 batch_size=64 max_steps=750 eval_every=50" \
  "compact-1e-3-4k: model=compact_cnn lr=0.001 max_steps=4000 eval_every=250" \
  "mobilenet-1e-3: model=mobilenet_v3_small lr=0.001" \
  "resnet18-1e-3: model=resnet18 lr=0.001 input_size=128" \
  | tee "$OUT/curves.md" || status=$?
cp "$WORK/runs/curves.json" "$OUT/" 2>/dev/null || true
# every run's metrics.jsonl, also when the budget cut the sweep short
(cd "$WORK/runs" && tar czf - */metrics.jsonl */test_metrics.json 2>/dev/null) > "$OUT/metrics.tar.gz" || true
echo "total $(( $(date +%s) - start )) s"
exit ${status:-0}
