# Two entry points, each working on a fresh machine by itself:
#   make demo   the main job on the embedded default (synthetic FEC-format data) on CPU:
#               synthesise, fit its box convention (where its boxes sit around MTCNN's), train, evaluate, fec-deploy (export ONNX fp32/fp16/int8, verify each against
#               PyTorch, time each on ONNX Runtime and OpenVINO, choose the fastest within 0.5 pt, package
#               it for Triton), benchmark (table, JSON, CSV, PNG), serve the choice on 127.0.0.1, query it,
#               then send real photos (astronaut, Grace Hopper, 4 LFW faces, coffee) to the photo model
#   make test   the linter (ruff, configured in pyproject.toml), then the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
DEMO_DATA ?= data/synth
DEMO_RUN ?= runs/demo
TRAIN_ARGS ?=          # e.g. TRAIN_ARGS="--max-steps 20" for a quick pass
DEMO_DEPLOY ?= export/demo-deploy
# Short windows, one intra-op thread per backend (comparable, and robust to other load on 2 cores): ~15 s.
BENCH_ARGS ?= --threads 1 --warmup 3 --iters 10 --max-windows 3 --quiet
# fec-deploy: the same windows over every candidate (PyTorch, ONNX Runtime and OpenVINO x fp32/fp16/int8, the peer):
# 93 s with the Triton repository on two Zen 3 cores (2026-12-07); --compress is left to deploy_targets.sh.
DEPLOY_ARGS ?= --threads 1 --warmup 3 --iters 10 --max-windows 3 --float-below 48,16,0
# pytest-xdist workers, one file each at a time (module fixtures built once; the session's shared builds are
# made by one worker and reused by the other: tests/conftest.py). Two use both cores of a 2-core machine:
# 6.9 min instead of 9.7 in one process (AMD EPYC Zen 3). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

.PHONY: install demo test test-fast clean

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
	$(BIN)/fec-data fit-boxes $(DEMO_DATA) --quiet
	$(BIN)/fec-train --config fec/configs/demo_cpu.yaml --data $(DEMO_DATA) --out $(DEMO_RUN) $(TRAIN_ARGS)
	$(BIN)/fec-eval $(DEMO_RUN)/best.pt --data $(DEMO_DATA)/test.csv --json $(DEMO_RUN)/eval.json
	$(BIN)/fec-deploy $(DEMO_RUN)/best.pt --data $(DEMO_DATA)/test.csv --out $(DEMO_DEPLOY) --batch 1,32 --max-drop 0.5 \
		--serve-with python --triton-repo triton_repo/demo --photos $(DEPLOY_ARGS)
	$(BIN)/fec-bench $(DEMO_RUN)/best.pt $(DEMO_DEPLOY)/exports/onnx-fp32 $(DEMO_DEPLOY)/exports/onnx-int8-cpu-fb16 \
		--backend torch,onnxruntime,openvino --batch 1,32 --data $(DEMO_DATA)/test.csv $(BENCH_ARGS) \
		--json $(DEMO_RUN)/bench.json --csv $(DEMO_RUN)/bench.csv --plot $(DEMO_RUN)/bench.png
	PATH=$(abspath $(BIN)):$$PATH triton_repo/serve_and_query.sh triton_repo/demo $(DEMO_DATA)/faces \
		$$(find $(DEMO_DATA)/faces -name '*.jpg' | sort | head -1) $(DEMO_RUN)
	PATH=$(abspath $(BIN)):$$PATH triton_repo/photos_demo.sh triton_repo/demo $(DEMO_RUN)/photos

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The inner loop: make test without the tests marked slow (setup.cfg's markers); make test stays what CI runs.
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

clean:
	rm -rf $(VENV) data runs
