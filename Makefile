# Two entry points, each working on a fresh machine by itself:
#   make demo   the main job on the embedded default (synthetic FEC-format data) on CPU:
#               synthesise, train, evaluate, export to ONNX fp32/fp16/int8, verify against PyTorch,
#               benchmark (latency/throughput table, JSON, CSV, PNG), package for Triton, serve on
#               127.0.0.1 and query it
#   make test   the linter (ruff, configured in pyproject.toml), then the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
DEMO_DATA ?= data/synth
DEMO_RUN ?= runs/demo
TRAIN_ARGS ?=          # e.g. TRAIN_ARGS="--max-steps 20" for a quick pass
# Short windows, one intra-op thread per backend (comparable, and robust to other load on 2 cores): ~15 s.
BENCH_ARGS ?= --threads 1 --warmup 3 --iters 10 --max-windows 3 --quiet

.PHONY: install demo test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The face detector (fec.detect, --align mtcnn) is facenet-pytorch's MTCNN: its wheel pins torch<2.3, so it is
# installed with --no-deps (pip would otherwise downgrade torch); its weights ship inside the wheel.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps facenet-pytorch requests
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/fec-data synth --out $(DEMO_DATA) --triplets 12000 --seed 0 --quiet
	$(BIN)/fec-train --config fec/configs/demo_cpu.yaml --data $(DEMO_DATA) --out $(DEMO_RUN) $(TRAIN_ARGS)
	$(BIN)/fec-eval $(DEMO_RUN)/best.pt --data $(DEMO_DATA)/test.csv --json $(DEMO_RUN)/eval.json
	$(BIN)/fec-export $(DEMO_RUN)/best.pt --format onnx --out export/demo-onnx-fp32
	$(BIN)/fec-export export/demo-onnx-fp32/model.onnx --format onnx --precision fp16 --out export/demo-onnx-fp16
	$(BIN)/fec-export export/demo-onnx-fp32/model.onnx --format onnx --precision int8 --target cpu --float-below 16 \
		--calib-data $(DEMO_DATA)/train.csv --out export/demo-onnx-int8-cpu
	$(BIN)/fec-verify export/demo-onnx-fp32 export/demo-onnx-fp16 export/demo-onnx-int8-cpu \
		--data $(DEMO_DATA)/test.csv --json $(DEMO_RUN)/verify.json
	$(BIN)/fec-bench $(DEMO_RUN)/best.pt export/demo-onnx-fp32 export/demo-onnx-fp16 export/demo-onnx-int8-cpu \
		--backend torch,onnxruntime --batch 1,32 --data $(DEMO_DATA)/test.csv $(BENCH_ARGS) \
		--json $(DEMO_RUN)/bench.json --csv $(DEMO_RUN)/bench.csv --plot $(DEMO_RUN)/bench.png
	PATH=$(abspath $(BIN)):$$PATH triton_repo/serve_and_query.sh export/demo-onnx-fp32 $(DEMO_DATA)/faces \
		$$(find $(DEMO_DATA)/faces -name '*.jpg' | sort | head -1) $(DEMO_RUN)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) data runs
