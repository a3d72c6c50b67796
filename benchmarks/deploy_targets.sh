#!/usr/bin/env bash
# fec-deploy's targets on this CPU, in one go: fec-deploy three times on the demo model and on a ResNet18,
# and each run's choice per batch with its speed-ups over ONNX Runtime fp32 and over the peer (NNCF's default
# int8 on OpenVINO's default hints, timed in the same run: the lines decision.md writes).
#
#   bash benchmarks/deploy_targets.sh [OUT_DIR]           # in the repository's .venv (make install)
#
# Models (trained first when their checkpoint is absent):
#   demo       DEMO_CKPT (runs/demo/best.pt; `make demo`'s recipe), one thread per runtime, as `make demo`
#   resnet18   R18_CKPT (runs/resnet18-128/best.pt; benchmarks/resnet18_128.yaml, 600 steps: about an hour
#              on 2 Zen 3 cores), R18_THREADS threads (2), the shorter windows of benchmarks/FIGURES.md
# Targets: the choice at batch 1 and at batch 32 at least 1.2x the peer with held-out accuracy within 0.5 points
# of the checkpoint's, in all three runs (2026-12-07); with COMPRESS=1 (the default) fec-deploy --compress adds
# students at 0.75 of the input (distilled once, then reused by the later runs).
#
# Output: OUT/{demo,resnet18}-run{1,2,3}.{json,md} (each run's decision), OUT/summary.md (the choices),
# OUT/cpu.txt. Settings (environment): DATA (data/synth), RUNS (3), MODELS ("demo resnet18"), COMPRESS (1).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-deploy-targets}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
cd "$REPO" || exit 2
source benchmarks/script_common.sh
DATA=${DATA:-data/synth}
DEMO_CKPT=${DEMO_CKPT:-runs/demo/best.pt}
R18_CKPT=${R18_CKPT:-runs/resnet18-128/best.pt}
R18_THREADS=${R18_THREADS:-2}
RUNS=${RUNS:-3}
COMPRESS=${COMPRESS:-1}
MODELS=${MODELS:-demo resnet18}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cpu_summary | tee "$OUT/cpu.txt"

ensure_synth "$DATA" || exit 2
if [[ " $MODELS " == *" demo "* && ! -f "$DEMO_CKPT" ]]; then
    python -m fec.cli.train --config fec/configs/demo_cpu.yaml --data "$DATA" --out "$(dirname "$DEMO_CKPT")" \
        --quiet || exit 1
fi
if [[ " $MODELS " == *" resnet18 "* && ! -f "$R18_CKPT" ]]; then
    python -m fec.cli.train --config benchmarks/resnet18_128.yaml --data "$DATA" --out "$(dirname "$R18_CKPT")" \
        --quiet || exit 1
fi

deploy() {  # MODEL RUN: one fec-deploy run into the work folder, its decision kept in OUT
    local model=$1 run=$2 options
    if [[ $model == demo ]]; then
        options=(--threads 1 "$DEMO_CKPT")
    else
        options=(--threads "$R18_THREADS" --mode compute --iters 20 --max-windows 4 --warmup 3 --float-below 48,16
                 "$R18_CKPT")
    fi
    [[ $COMPRESS == 1 ]] && options+=(--compress)
    python -m fec.cli.deploy --data "$DATA/test.csv" --batch 1,32 --max-drop 0.5 --no-triton --quiet \
        --out "$WORK/$model" "${options[@]}" || return 1
    cp "$WORK/$model/decision.json" "$OUT/$model-run$run.json"
    cp "$WORK/$model/decision.md" "$OUT/$model-run$run.md"
}

status=0
for model in $MODELS; do
    for run in $(seq 1 "$RUNS"); do
        echo "== $model, run $run of $RUNS"
        deploy "$model" "$run" || status=1
    done
done

{
    echo "# fec-deploy's choices, $(date -u +%F) ($(grep '^Model name' "$OUT/cpu.txt" | sed 's/.*: *//'))"
    for model in $MODELS; do
        echo
        echo "## $model"
        for run in $(seq 1 "$RUNS"); do
            [[ -f "$OUT/$model-run$run.md" ]] && grep -E '^- batch [0-9]+:' "$OUT/$model-run$run.md" | sed "s/^/run $run /"
        done
    done
} > "$OUT/summary.md"
cat "$OUT/summary.md"
exit $status
