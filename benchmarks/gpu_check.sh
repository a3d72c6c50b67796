#!/usr/bin/env bash
# GPU check: everything fec does on a CUDA GPU, in one go, within a time budget (default 420 s of steps).
#
#   PYTHONPATH=. bash benchmarks/gpu_check.sh [CHECKPOINT [DATA_DIR [OUT_DIR]]]
#   PYTHONPATH=. bash benchmarks/gpu_check.sh "" "" /path/to/out       # train on synthetic data first
#
# CHECKPOINT  an fec checkpoint ("" or absent: train MODEL for STEPS steps on synthetic data, with bf16 and
#             with fp16 autocast, and use the bf16 run's best checkpoint)
# DATA_DIR    a folder with train.csv and test.csv in FEC format ("" or absent: synthetic, TRIPLETS triplets)
# OUT_DIR     results (default gpu-check): at most 7 files, no folders --
#               summary.md     what ran, GPU, versions, every figure below, each step's status and time
#               results.json   the same, machine-readable
#               bench.json / bench.csv / bench.png   fec-bench: torch CUDA fp32/fp16/bf16, CUDA graphs,
#                              torch.compile, ONNX Runtime (CPU; CUDA/TensorRT providers when present),
#                              TensorRT engines when TensorRT is present; batch 1, 8, 32, 128, real faces
#               pytest-gpu.xml `pytest -m "gpu or tensorrt"` (JUnit)
#               logs.tar.gz    every step's log, training metrics and curves, verification and bench JSON,
#                              fec-deploy's decision (json, md, png; its table is in summary.md too)
#
# Runs with `python3 -m fec.cli.*` (no console scripts needed), nothing from the network, no installs.
# TensorRT is optional: when `import tensorrt` fails the TensorRT steps are skipped (and say so); all the
# rest still runs. Steps run in priority order; one that would start after the budget is skipped, one
# that the end of the budget stops is "cut" (both say so, neither fails the check), one that runs past
# its own limit is stopped and counted as failed.
#
# Settings (environment): PYTHON (python3), DEVICE (cuda; `DEVICE=cpu` is a dry run of the script on a
# machine without a GPU: CPU backends, no autocast), MODEL (resnet18), STEPS (300), TRIPLETS (3000),
# AMPS ("bf16 fp16" on cuda, "off" on cpu), BATCHES (1,8,32,128), COMPILE_BATCHES (1,128),
# DEPLOY_BATCHES (1,32) and DEPLOY_PRECISIONS (fp32,fp16,bf16 on cuda; int8 too on cpu): fec-deploy's,
# TP_STEPS (30, training-throughput steps), BUDGET_S (420), TRAIN_SETS (extra `--set k=v` words for every
# training run, e.g. "input_size=64" for a quick dry run), WORK (scratch folder; default a new /tmp one).
# Exit code: 0 when every step that could run passed; 1 when one failed or ran past its limit; 2 bad setup.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHECKPOINT=${1:-}
DATA=${2:-}
OUT=${3:-gpu-check}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
[[ -n "$CHECKPOINT" ]] && CHECKPOINT=$(realpath "$CHECKPOINT")
[[ -n "$DATA" ]] && DATA=$(realpath "$DATA")
cd "$REPO" || exit 2
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
MODEL=${MODEL:-resnet18}
STEPS=${STEPS:-300}
TRIPLETS=${TRIPLETS:-3000}
BATCHES=${BATCHES:-1,8,32,128}
COMPILE_BATCHES=${COMPILE_BATCHES:-1,128}
TP_STEPS=${TP_STEPS:-30}
BUDGET_S=${BUDGET_S:-420}
TRAIN_SETS=${TRAIN_SETS:-}
MAX_BATCH=${MAX_BATCH:-128}
OPT_BATCH=${OPT_BATCH:-32}
DEPLOY_BATCHES=${DEPLOY_BATCHES:-1,32}
FACE_SIZE=${FACE_SIZE:-128}
if [[ "$DEVICE" == cpu ]]; then
  AMPS=${AMPS:-off}; TORCH_BACKENDS=torch; COMPILE_BACKENDS=torch_compile
  DEPLOY_PRECISIONS=${DEPLOY_PRECISIONS:-fp32,fp16,bf16,int8}
else
  DEPLOY_PRECISIONS=${DEPLOY_PRECISIONS:-fp32,fp16,bf16}  # int8 exports are CPU ones: no contest beside a GPU
  AMPS=${AMPS:-bf16 fp16}
  TORCH_BACKENDS=torch-cuda,torch-cuda-fp16,torch-cuda-bf16,torch-cuda-graphs,torch-cuda-graphs-fp16
  COMPILE_BACKENDS=torch_compile-cuda
fi
WORK=${WORK:-$(mktemp -d /tmp/fec-gpu-check.XXXXXX)}
LOGS="$WORK/logs"
mkdir -p "$LOGS"
export XDG_CACHE_HOME="$WORK/cache" TORCHINDUCTOR_CACHE_DIR="$WORK/inductor" MPLBACKEND=Agg
STARTED=$(date +%s)
DEADLINE=$(( STARTED + BUDGET_S ))
STEPS_TSV="$WORK/steps.tsv"
: > "$STEPS_TSV"
STATUS=0

record() {  # record NAME STATUS SECONDS NOTE
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$STEPS_TSV"
  echo "== $1: $2 (${3} s)${4:+ -- $4}"
}

NEEDS_S=10  # a step starts only with at least this much budget left

step() {  # step NAME LIMIT_S COMMAND...: run under a time limit (clipped to the budget), log, record
  local name=$1 limit=$2 left rc=0 start took clipped=0
  shift 2
  left=$(( DEADLINE - $(date +%s) ))
  if (( left < NEEDS_S )); then
    record "$name" skipped 0 "time budget of ${BUDGET_S} s used up"
    return 0
  fi
  (( limit > left )) && { limit=$left; clipped=1; }
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  if (( rc == 0 )); then
    record "$name" ok "$took" ""
  elif (( (rc == 124 || rc == 137) && clipped )); then
    record "$name" cut "$took" "stopped when the ${BUDGET_S} s budget ran out (not a failure; raise BUDGET_S)"
  elif (( rc == 124 || rc == 137 )); then
    record "$name" timeout "$took" "stopped at its ${limit} s limit"; STATUS=1
  else
    record "$name" failed "$took" "exit $rc: $(grep -v '^\s*$' "$LOGS/$name.log" | tail -n 1 | cut -c1-200)"; STATUS=1
    tail -n 12 "$LOGS/$name.log" | sed 's/^/   | /'
  fi
  return $rc
}

skip() { record "$1" skipped 0 "$2"; }

# ---------------------------------------------------------------------------------------------- set-up
if ! "$PY" -c "import torch, fec" 2>/dev/null; then
  echo "gpu_check: '$PY -c \"import torch, fec\"' fails; run from the repository root with PYTHONPATH=." >&2
  exit 2
fi
if [[ "$DEVICE" != cpu ]] && ! "$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "gpu_check: no CUDA GPU visible to PyTorch; for a dry run of this script on the CPU: DEVICE=cpu" >&2
  exit 2
fi
HAVE_TRT=0
if [[ "$DEVICE" != cpu ]] && "$PY" -c "import tensorrt" 2>/dev/null; then HAVE_TRT=1; fi
ORT_GPU=$("$PY" -m fec.cli.bench backends --available --kind onnx | tr ',' '\n' | grep '^onnxruntime-' \
  | { (( HAVE_TRT )) && cat || grep -v tensorrt; } | paste -sd, -)
echo "gpu_check: device $DEVICE, model $MODEL, $STEPS steps, budget ${BUDGET_S} s, scratch $WORK, results $OUT"
if (( HAVE_TRT )); then echo "gpu_check: TensorRT found: the TensorRT steps will run"
else echo "gpu_check: TensorRT not importable (python3 -c 'import tensorrt' fails): TensorRT steps skipped, the rest runs"; fi
echo "gpu_check: ONNX Runtime GPU providers: ${ORT_GPU:-none (a CPU build)}"

step environment 60 "$PY" - "$WORK/env.json" <<'EOF'
import json, os, platform, subprocess, sys
import numpy, torch
env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
       "cudnn": torch.backends.cudnn.version(), "numpy": numpy.__version__, "cpus": os.cpu_count(),
       "platform": platform.platform(), "gpus": []}
for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
    props = torch.cuda.get_device_properties(index)
    env["gpus"].append({"name": props.name, "capability": f"{props.major}.{props.minor}",
                        "memory_gib": round(props.total_memory / 2**30, 1)})
for name in ("onnx", "onnxruntime", "tensorrt", "onnxscript", "tritonclient", "pytriton", "torchvision", "triton"):
    try:
        env[name] = getattr(__import__(name), "__version__", "present")
    except Exception as exc:  # noqa: BLE001 - absent or broken: say which
        env[name] = None
if env["onnxruntime"]:
    import onnxruntime
    env["onnxruntime_providers"] = onnxruntime.get_available_providers()
try:
    env["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                                        "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
except (OSError, subprocess.TimeoutExpired):
    env["nvidia_smi"] = None
json.dump(env, open(sys.argv[1], "w"), indent=2)
print(json.dumps(env, indent=2))
EOF

if [[ -z "$DATA" ]]; then
  DATA="$WORK/data"
  step synthetic-data 90 "$PY" -m fec.cli.data synth --out "$DATA" --triplets "$TRIPLETS" --seed 0 --quiet
fi

step pytest-gpu 200 "$PY" -m pytest -q -p no:cacheprovider -m "gpu or tensorrt" tests/gpu tests/runtimes -rA \
  --junitxml="$OUT/pytest-gpu.xml"

# --------------------------------------------------------------------------------------------- training
TRAIN_FLAGS=(--set "face_size=$FACE_SIZE" --set "eval_every=$STEPS" --set "checkpoint_every=$STEPS")
for pair in $TRAIN_SETS; do TRAIN_FLAGS+=(--set "$pair"); done
if [[ -z "$CHECKPOINT" ]]; then
  for amp in $AMPS; do
    step "train-$amp" 120 "$PY" -m fec.cli.train --data "$DATA" --model "$MODEL" --out "$WORK/run-$amp" \
      --max-steps "$STEPS" --device "$DEVICE" --amp "$amp" --quiet "${TRAIN_FLAGS[@]}"
  done
  first_amp=${AMPS%% *}
  for candidate in "$WORK/run-$first_amp/best.pt" "$WORK/run-$first_amp/last.pt"; do
    [[ -f "$candidate" ]] && { CHECKPOINT=$candidate; break; }
  done
else
  skip training "a checkpoint was given: $CHECKPOINT"
fi

TP_AMP=$([[ "$DEVICE" == cpu ]] && echo off || echo bf16)
step train-throughput 90 "$PY" -m fec.cli.bench train --data "$DATA" --device "$DEVICE" --steps "$TP_STEPS" \
  --set "model=$MODEL" --set "amp=$TP_AMP" "${TRAIN_FLAGS[@]}" --json "$WORK/train-throughput.json"

if [[ -z "$CHECKPOINT" ]]; then
  skip export "no checkpoint (training failed)"; STATUS=1
else
  # -------------------------------------------------------------------------- ONNX export and verification
  EXPORT=(--max-batch "$MAX_BATCH" --opt-batch "$OPT_BATCH" --quiet)
  step export-onnx-fp32 120 "$PY" -m fec.cli.export "$CHECKPOINT" --format onnx --exporter legacy "${EXPORT[@]}" \
    --out "$WORK/onnx-fp32"
  VERIFY_BACKENDS=(--backend onnxruntime)
  [[ ",$ORT_GPU," == *,onnxruntime-cuda,* ]] && VERIFY_BACKENDS+=(--backend onnxruntime-cuda)
  [[ -d "$WORK/onnx-fp32" ]] && step verify-onnx-fp32 120 "$PY" -m fec.cli.verify "$WORK/onnx-fp32" \
    --data "$DATA/test.csv" "${VERIFY_BACKENDS[@]}" --json "$WORK/verify-onnx.json"

  # ---------------------------------------------------- fec-deploy: the fastest deployment within 0.5 pt, here
  # Every candidate this machine can run (PyTorch on the CPU and on CUDA eager/graphs in fp32/fp16/bf16, ONNX
  # Runtime fp32/fp16/int8 and its GPU providers, TensorRT engines where present), verified, timed, chosen.
  step deploy 240 "$PY" -m fec.cli.deploy "$CHECKPOINT" --data "$DATA/test.csv" --calib-data "$DATA/train.csv" \
    --out "$WORK/deploy" --batch "$DEPLOY_BATCHES" --precision "$DEPLOY_PRECISIONS" --max-drop 0.5 \
    --warmup 10 --iters 30 --max-windows 4 --serve-with python --quiet

  # ------------------------------------------------------------------------------------------ benchmarks
  FACES=(--data "$DATA/test.csv" --batch "$BATCHES" --keep-going)
  GPU_WINDOWS=(--warmup 10 --iters 30 --max-windows 4)
  step bench-torch 120 "$PY" -m fec.cli.bench "$CHECKPOINT" --backend "$TORCH_BACKENDS" "${FACES[@]}" \
    "${GPU_WINDOWS[@]}" --json "$WORK/bench-torch.json"
  if [[ -d "$WORK/onnx-fp32" ]]; then
    step bench-onnxruntime-cpu 90 "$PY" -m fec.cli.bench "$WORK/onnx-fp32" --backend onnxruntime "${FACES[@]}" \
      --warmup 2 --iters 5 --max-windows 2 --json "$WORK/bench-onnxruntime-cpu.json"
    if [[ -n "$ORT_GPU" ]]; then
      step bench-onnxruntime-gpu 120 "$PY" -m fec.cli.bench "$WORK/onnx-fp32" --backend "$ORT_GPU" "${FACES[@]}" \
        "${GPU_WINDOWS[@]}" --json "$WORK/bench-onnxruntime-gpu.json"
    else
      skip bench-onnxruntime-gpu "this onnxruntime has no CUDA or TensorRT provider (a CPU build)"
    fi
  fi

  # ------------------------------------------------------------------------ TensorRT (only when importable)
  if (( HAVE_TRT )); then
    QUANTIZER=$("$PY" -c "import modelopt.onnx.quantization" 2>/dev/null && echo modelopt || echo onnxruntime)
    step export-onnx-fp16 90 "$PY" -m fec.cli.export "$WORK/onnx-fp32/model.onnx" --format onnx --precision fp16 \
      "${EXPORT[@]}" --out "$WORK/onnx-fp16"
    step export-onnx-int8 120 "$PY" -m fec.cli.export "$WORK/onnx-fp32/model.onnx" --format onnx --precision int8 \
      --target tensorrt --quantizer "$QUANTIZER" --calib-data "$DATA/train.csv" "${EXPORT[@]}" --out "$WORK/onnx-int8"
    ENGINES=()
    for precision in fp32 fp16 int8; do
      [[ -f "$WORK/onnx-$precision/model.onnx" ]] || continue
      step "engine-$precision" 180 "$PY" -m fec.cli.export "$WORK/onnx-$precision/model.onnx" --format trt \
        "${EXPORT[@]}" --out "$WORK/trt-$precision" && ENGINES+=("$WORK/trt-$precision")
    done
    if (( ${#ENGINES[@]} )); then
      step verify-tensorrt 120 "$PY" -m fec.cli.verify "${ENGINES[@]}" --data "$DATA/test.csv" --backend tensorrt \
        --json "$WORK/verify-tensorrt.json"
      step bench-tensorrt 120 "$PY" -m fec.cli.bench "${ENGINES[@]}" --backend tensorrt,tensorrt-graphs "${FACES[@]}" \
        "${GPU_WINDOWS[@]}" --json "$WORK/bench-tensorrt.json"
    fi
  else
    skip tensorrt "TensorRT not importable here (python3 -c 'import tensorrt' fails, or DEVICE=cpu): engines not built"
  fi

  # torch.compile last, one batch size per step (each compiles anew): it takes the longest and varies the most
  NEEDS_S=45
  for batch in ${COMPILE_BATCHES//,/ }; do
    step "bench-torch-compile-$batch" 150 "$PY" -m fec.cli.bench "$CHECKPOINT" --backend "$COMPILE_BACKENDS" \
      --data "$DATA/test.csv" --batch "$batch" --keep-going "${GPU_WINDOWS[@]}" \
      --json "$WORK/bench-torch-compile-$batch.json"
  done
fi

# ------------------------------------------------------------------------------------ results into OUT
REPORTS=()
for name in torch $(for batch in ${COMPILE_BATCHES//,/ }; do echo "torch-compile-$batch"; done) \
    onnxruntime-cpu onnxruntime-gpu tensorrt; do
  [[ -f "$WORK/bench-$name.json" ]] && REPORTS+=("$WORK/bench-$name.json")
done
if (( ${#REPORTS[@]} )); then
  "$PY" -m fec.cli.bench merge "${REPORTS[@]}" --json "$OUT/bench.json" --csv "$OUT/bench.csv" \
    --plot "$OUT/bench.png" > "$LOGS/bench-merged.log" 2>&1 || { echo "gpu_check: merging reports failed"; STATUS=1; }
fi
ELAPSED=$(( $(date +%s) - STARTED ))
WORK="$WORK" OUT="$OUT" STATUS="$STATUS" ELAPSED="$ELAPSED" HAVE_TRT="$HAVE_TRT" DEVICE="$DEVICE" MODEL="$MODEL" \
STEPS="$STEPS" CHECKPOINT="$CHECKPOINT" DATA="$DATA" AMPS="$AMPS" "$PY" - <<'EOF' || { echo "gpu_check: summary failed"; STATUS=1; }
import json, os, statistics, xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from pathlib import Path

work, out, env_vars = Path(os.environ["WORK"]), Path(os.environ["OUT"]), os.environ


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def log_text(name, lines=40):
    try:
        return "\n".join((work / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


env = load(work / "env.json") or {}
steps = [dict(zip(("step", "status", "seconds", "note"), line.split("\t"))) for line in
         (work / "steps.tsv").read_text().splitlines() if line]
training = {}
for amp in env_vars["AMPS"].split():
    run = work / f"run-{amp}"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] if (run / "metrics.jsonl").exists() else []
    rates = [entry["images_per_s"] for entry in metrics if entry.get("split") == "train"]
    rates = rates[1:] or rates  # the first window includes start-up
    test = load(run / "test_metrics.json") or {}
    training[amp] = {"steps": max((entry["step"] for entry in metrics), default=0),
                     "final_loss": next((e["loss"] for e in reversed(metrics) if e.get("split") == "train"), None),
                     "images_per_s_median": round(statistics.median(rates), 1) if rates else None,
                     "held_out_accuracy": test.get("overall", {}).get("accuracy"),
                     "held_out_triplets": test.get("overall", {}).get("count")}
throughput = load(work / "train-throughput.json")
bench = load(out / "bench.json") or {"rows": [], "failures": []}
pytest_counts = {}
try:
    suite = ElementTree.parse(out / "pytest-gpu.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    pytest_counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    pytest_counts["failed_tests"] = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
                                     if case.find("failure") is not None or case.find("error") is not None]
except (OSError, ElementTree.ParseError, AttributeError):
    pass
results = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "exit_status": int(env_vars["STATUS"]),
           "seconds": int(env_vars["ELAPSED"]), "device": env_vars["DEVICE"], "model": env_vars["MODEL"],
           "tensorrt_steps": "ran" if env_vars["HAVE_TRT"] == "1" else "skipped: TensorRT not importable",
           "environment": env, "steps": steps, "training": training, "training_throughput": throughput,
           "verify_onnx": load(work / "verify-onnx.json"), "verify_tensorrt": load(work / "verify-tensorrt.json"),
           "deploy": load(work / "deploy" / "decision.json"),
           "pytest_gpu": pytest_counts, "bench_failures": bench.get("failures", [])}
(out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

gpus = ", ".join(f"{g['name']} (sm_{g['capability'].replace('.', '')}, {g['memory_gib']} GiB)" for g in env.get("gpus", []))
lines = [f"# fec GPU check, {results['created']}", "",
         f"- GPU: {gpus or 'none (DEVICE=cpu dry run)'}; nvidia-smi: {env.get('nvidia_smi') or '-'}",
         f"- Python {env.get('python')}, torch {env.get('torch')} (CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}), "
         f"onnxruntime {env.get('onnxruntime')} {env.get('onnxruntime_providers')}, onnx {env.get('onnx')}, "
         f"TensorRT {env.get('tensorrt') or 'not installed'}, {env.get('cpus')} CPUs",
         f"- TensorRT steps: {results['tensorrt_steps']}",
         f"- Exit status {results['exit_status']} ({'every step that could run passed' if results['exit_status'] == 0 else 'a step failed or ran out of time: see below'}); {results['seconds']} s in all",
         "", "## Steps", "", "| step | status | seconds | note |", "|---|---|---:|---|"]
lines += [f"| {s['step']} | {s['status']} | {s['seconds']} | {s['note'].replace('|', '/')} |" for s in steps]
lines += ["", f"## pytest -m \"gpu or tensorrt\" (tests/gpu, tests/runtimes)", "",
          f"{pytest_counts or 'no JUnit file'}", "", "```", log_text("pytest-gpu", 25), "```"]
lines += ["", f"## Training: {env_vars['MODEL']}, {env_vars['STEPS']} steps, {env_vars['DATA']}", "",
          "| amp | steps | final loss | held-out accuracy | images/s (median) |", "|---|---:|---:|---:|---:|"]
for amp, values in training.items():
    accuracy, loss, count = values["held_out_accuracy"], values["final_loss"], values["held_out_triplets"]
    accuracy_cell = "-" if accuracy is None else f"{100 * accuracy:.1f}% of {count}"
    loss_cell = "-" if loss is None else round(loss, 4)
    lines.append(f"| {amp} | {values['steps']} | {loss_cell} | {accuracy_cell} | {values['images_per_s_median']} |")
lines += ["", "## Training throughput (fec-bench train)", "", "```", log_text("train-throughput", 6), "```",
          "", "## ONNX fp32 against PyTorch (fec-verify)", "", "```", log_text("verify-onnx-fp32", 12), "```"]
if env_vars["HAVE_TRT"] == "1":
    lines += ["", "## TensorRT engines against PyTorch (fec-verify)", "", "```", log_text("verify-tensorrt", 12), "```"]
lines += ["", "## Benchmark (fec-bench; bench.json / bench.csv / bench.png)", "",
          "| backend | precision | batch | p50 ms | p99 ms | images/s | CUDA MiB | RSS MiB | stable | target |",
          "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
lines += [f"| {r['backend']} | {r['precision']} | {r['batch']} | {r['p50_ms']} | {r['p99_ms']} | {r['throughput']} | "
          f"{r['cuda_peak_mb'] if r['cuda_peak_mb'] is not None else '-'} | {r['peak_rss_mb']} | "
          f"{'yes' if r['stable'] else 'no'} | {Path(r['target']).name} |" for r in bench["rows"]]
lines += [f"- failed: {f['backend']} ({Path(f['target']).name}): {f['error']}" for f in bench.get("failures", [])]
try:
    decision_table = (work / "deploy" / "decision.md").read_text().strip()
except OSError:
    decision_table = "(no decision: see the deploy step above)\n\n```\n" + log_text("deploy", 12) + "\n```"
lines += ["", "## fec-deploy (decision.md; decision.json in results.json)", "", decision_table]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF

# Everything else, small files only, in one archive (no checkpoints, models or data)
( cd "$WORK" && find . -maxdepth 2 \( -name '*.log' -o -name '*.json' -o -name 'metrics.jsonl' -o -name 'curves.png' \
    -o -name 'decision.md' -o -name 'decision.png' -o -name 'config.yaml' -o -name 'steps.tsv' \) -not -path './data/*' -not -path './cache/*' -not -path './inductor/*' -print0 \
    | tar -czf "$OUT/logs.tar.gz" --null -T - ) || echo "gpu_check: could not archive the logs"
echo "gpu_check: results in $OUT ($(ls "$OUT" | paste -sd' ' -)); exit $STATUS"
exit $STATUS
