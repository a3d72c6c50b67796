#!/usr/bin/env bash
# The early-plateau checks on two kernel families of this CPU, in one go: does training leave the early plateau
# whatever kernels PyTorch and oneDNN pick?
#
#   bash benchmarks/kernel_families.sh [OUT_DIR]          # in the repository's .venv (make install)
#
# Families: on a CPU with AVX-512 (Zen 4, Sapphire Rapids), `native` and `avx2` (ATEN_CPU_CAPABILITY=avx2
# ONEDNN_MAX_CPU_ISA=AVX2: what an AVX2-only CPU runs). On an AVX2-only CPU those two are the same kernels,
# so the second family is `sse41` (scalar ATen, oneDNN SSE4.1: other summation orders again).
#
# Steps, each family in turn (one thread per run, so two runs share a 2-core machine):
#   1. lscpu's model and the flags that pick kernels -> OUT/cpu.txt
#   2. the learning test, seeds 0-4 (`pytest tests/train/test_learning.py --learning-seeds 0-4`)
#      -> OUT/learning-FAMILY.log; its docstring's table is filled from these
#   3. the demo recipe's seed table, seeds 0-9 (benchmarks/learning_curves.py --kernels FAMILY)
#      -> OUT/seeds-FAMILY/curves.{md,json}; about 45 minutes per family on 2 Zen 3 cores (AVX2)
#   4. bf16 autocast against fp32 training (`fec-bench train`, interleaved off / bf16 / off), native only
#      -> OUT/amp-{1-off,2-bf16,3-off}.txt; where the CPU does bf16 natively (avx512_bf16 or AMX), also the
#      demo recipe's seed 0 trained with `amp=bf16` -> OUT/bf16/curves.md (its accuracy against fp32's)
#
# Settings (environment): DATA (data/synth, made with `fec-data synth --triplets 12000 --seed 0` when absent),
# FAMILIES (chosen from lscpu as above), SEEDS (0-9 for the table), LEARNING_SEEDS (0-4),
# SKIP_TABLE=1 (steps 1, 2 and 4 only).
# Exit code: 1 when a learning test failed or a training run did not finish; else 0.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-kernel-families}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
cd "$REPO" || exit 2
source benchmarks/script_common.sh
DATA=${DATA:-data/synth}
SEEDS=${SEEDS:-0-9}
LEARNING_SEEDS=${LEARNING_SEEDS:-0-4}
status=0

if grep -qw avx512f /proc/cpuinfo; then
    FAMILIES=${FAMILIES:-native avx2}
else
    FAMILIES=${FAMILIES:-native sse41}
fi
{ cpu_summary; echo "families: $FAMILIES"; } | tee "$OUT/cpu.txt"

ensure_synth "$DATA" || exit 2

for family in $FAMILIES; do
    echo "== learning test, seeds $LEARNING_SEEDS, kernels $family"
    env -u ATEN_CPU_CAPABILITY -u ONEDNN_MAX_CPU_ISA $(kernel_env "$family") OMP_NUM_THREADS=1 \
        python -m pytest -q -p no:cacheprovider tests/train/test_learning.py --learning-seeds "$LEARNING_SEEDS" -rA \
        > "$OUT/learning-$family.log" 2>&1 || status=1
    tail -n 3 "$OUT/learning-$family.log"
done

if [[ "${SKIP_TABLE:-0}" != 1 ]]; then
    first=${SEEDS%-*}; last=${SEEDS#*-}
    recipes=()
    for seed in $(seq "$first" "$last"); do recipes+=("s$seed: seed=$seed"); done
    for family in $FAMILIES; do
        echo "== seed table, seeds $SEEDS, kernels $family"
        python benchmarks/learning_curves.py --data "$DATA" --config fec/configs/demo_cpu.yaml \
            --out "$OUT/seeds-$family" --parallel 2 --threads 1 --kernels "$family" "${recipes[@]}" || status=1
    done
fi

echo "== bf16 autocast against fp32 training (native kernels)"
order=0
for amp in off bf16 off; do
    order=$((order + 1))
    python -m fec.cli.bench train --data "$DATA" --config fec/configs/demo_cpu.yaml --set amp=$amp --steps 20 \
        > "$OUT/amp-$order-$amp.txt" 2>&1 || status=1
    tail -n 2 "$OUT/amp-$order-$amp.txt"
done
if grep -qw -E "avx512_bf16|amx_bf16" /proc/cpuinfo && [[ "${SKIP_TABLE:-0}" != 1 ]]; then
    echo "== the demo recipe, seed 0, with bf16 autocast (this CPU does bf16 natively)"
    python benchmarks/learning_curves.py --data "$DATA" --config fec/configs/demo_cpu.yaml --out "$OUT/bf16" \
        --threads 2 --set amp=bf16 "bf16-s0: seed=0" || status=1
fi
exit $status
