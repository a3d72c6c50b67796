#!/usr/bin/env bash
# GPU check: build fp32, fp16 and int8 TensorRT engines from one checkpoint, verify each against
# PyTorch on real test faces, and time them next to PyTorch and ONNX Runtime.
#
#   benchmarks/gpu_check.sh [CHECKPOINT DATA_DIR] [OUT_DIR]
#
# CHECKPOINT  an fec checkpoint; DATA_DIR  a folder with train.csv (INT8 calibration) and test.csv
#             (verification) in FEC format. Without them, a small model is trained on synthetic data
#             first (MODEL, default resnet18; STEPS, default 300).
# OUT_DIR     where exports and results go (default: gpu-check). Results: verify-*.json, bench.json.
#
# Needs a CUDA GPU and the TensorRT Python wheel (10.x or 11.x). INT8 engines need symmetric Q/DQ:
# made by NVIDIA ModelOpt when it is importable, else by ONNX Runtime's quantizer in symmetric mode
# (override with QUANTIZER=modelopt|onnxruntime). Exit code: 0 when every verification passed.
set -euo pipefail

PY=${PYTHON:-python}
CHECKPOINT=${1:-}
DATA=${2:-}
OUT=${3:-gpu-check}
MODEL=${MODEL:-resnet18}
STEPS=${STEPS:-300}
MAX_BATCH=${MAX_BATCH:-64}
OPT_BATCH=${OPT_BATCH:-16}

if ! "$PY" -c "import tensorrt, torch; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "gpu_check: needs TensorRT (python -c 'import tensorrt') and a CUDA GPU; neither --format trt nor this check can run here" >&2
  exit 2
fi
"$PY" - <<'EOF'
import tensorrt, torch, onnxruntime
print(f"TensorRT {tensorrt.__version__}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__} "
      f"({', '.join(onnxruntime.get_available_providers())}), GPU {torch.cuda.get_device_name(0)} "
      f"sm_{''.join(map(str, torch.cuda.get_device_capability(0)))}")
EOF
mkdir -p "$OUT"

if [[ -z "$CHECKPOINT" ]]; then
  DATA="$OUT/data"
  echo "== training a $MODEL for $STEPS steps on synthetic faces (no checkpoint given)"
  "$PY" -c "from fec.data.synth import write_synthetic_dataset as w; w('$DATA', triplets=3000, seed=0, image_size=128)"
  "$PY" -m fec.cli.train --data "$DATA" --model "$MODEL" --out "$OUT/run" --max-steps "$STEPS" --device cuda --quiet
  CHECKPOINT="$OUT/run/last.pt"
fi

QUANTIZER=${QUANTIZER:-$("$PY" -c "import modelopt.onnx.quantization" 2>/dev/null && echo modelopt || echo onnxruntime)}
export_cmd() { "$PY" -m fec.cli.export "$@" --max-batch "$MAX_BATCH" --opt-batch "$OPT_BATCH" --quiet; }

echo "== ONNX exports (INT8 for TensorRT by $QUANTIZER)"
export_cmd "$CHECKPOINT" --format onnx --out "$OUT/onnx-fp32"
export_cmd "$OUT/onnx-fp32/model.onnx" --format onnx --precision fp16 --out "$OUT/onnx-fp16"
export_cmd "$OUT/onnx-fp32/model.onnx" --format onnx --precision int8 --target tensorrt --quantizer "$QUANTIZER" \
  --calib-data "$DATA/train.csv" --out "$OUT/onnx-int8"

echo "== TensorRT engines"
for precision in fp32 fp16 int8; do
  start=$(date +%s)
  export_cmd "$OUT/onnx-$precision/model.onnx" --format trt --out "$OUT/trt-$precision"
  echo "trt-$precision built in $(( $(date +%s) - start )) s"
done

status=0
echo "== verification: engines on TensorRT"
"$PY" -m fec.cli.verify "$OUT"/trt-fp32 "$OUT"/trt-fp16 "$OUT"/trt-int8 --data "$DATA/test.csv" \
  --backend tensorrt --json "$OUT/verify-trt.json" || status=1
echo "== verification: the same ONNX files on ONNX Runtime"
ORT_BACKENDS=(--backend onnxruntime-cpu)
if "$PY" -c "import onnxruntime as o; assert 'CUDAExecutionProvider' in o.get_available_providers()" 2>/dev/null; then
  ORT_BACKENDS+=(--backend onnxruntime-cuda)
fi
"$PY" -m fec.cli.verify "$OUT"/onnx-fp32 "$OUT"/onnx-fp16 "$OUT"/onnx-int8 --data "$DATA/test.csv" \
  "${ORT_BACKENDS[@]}" --json "$OUT/verify-onnx.json" || status=1

echo "== benchmark (median of timed runs, random inputs, same machine)"
OUT="$OUT" CHECKPOINT="$CHECKPOINT" MAX_BATCH="$MAX_BATCH" "$PY" - <<'EOF'
import json, os, statistics, time
from pathlib import Path
import numpy as np
import torch
from fec.runtimes import create_runner
from fec.runtimes.base import RunnerError

out, checkpoint = Path(os.environ["OUT"]), os.environ["CHECKPOINT"]
max_batch = int(os.environ.get("MAX_BATCH", 64))
candidates = {
    "torch cuda fp32": ("torch", {"checkpoint": checkpoint, "device": "cuda"}),
    "torch cuda fp16 (autocast)": ("torch", {"checkpoint": checkpoint, "device": "cuda", "precision": "fp16"}),
    "onnxruntime cpu fp32": ("onnxruntime", {"model": out / "onnx-fp32/model.onnx", "provider": "cpu"}),
    "onnxruntime cuda fp32": ("onnxruntime", {"model": out / "onnx-fp32/model.onnx", "provider": "cuda"}),
}
for precision in ("fp32", "fp16", "int8"):
    candidates[f"tensorrt {precision}"] = ("tensorrt", {"engine": out / f"trt-{precision}/model.plan"})


def timed(runner, batch, repeats):
    for _ in range(5):
        runner.infer(batch)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner.infer(batch)  # includes host->device copy and the result's copy back
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


results = []
for name, (kind, options) in candidates.items():
    try:
        with create_runner(kind, **options) as runner:
            size = runner.input_size or 224
            for batch_size in (1, max_batch):
                batch = np.random.default_rng(0).standard_normal((batch_size, 3, size, size)).astype(np.float32)
                seconds = timed(runner, batch, 10 if kind == "onnxruntime" and "cpu" in name else 50)
                results.append({"runner": name, "batch": batch_size, "ms_per_batch": 1e3 * seconds,
                                "ms_per_image": 1e3 * seconds / batch_size, "images_per_s": batch_size / seconds})
    except RunnerError as exc:
        results.append({"runner": name, "error": str(exc)})
print(f"{'runner':<28} {'batch':>5} {'ms/batch':>9} {'ms/img':>8} {'img/s':>9}")
for row in results:
    if "error" in row:
        print(f"{row['runner']:<28} skipped: {row['error']}")
    else:
        print(f"{row['runner']:<28} {row['batch']:>5} {row['ms_per_batch']:>9.2f} {row['ms_per_image']:>8.3f} {row['images_per_s']:>9.0f}")
device = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
(out / "bench.json").write_text(json.dumps({"device": device, "results": results}, indent=2))
EOF

echo "== done: $OUT/verify-trt.json, $OUT/verify-onnx.json, $OUT/bench.json (exit $status)"
exit $status
