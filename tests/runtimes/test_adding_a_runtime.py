"""Adding a runtime is one runner plus one backend record (docs/extending.md): a throwaway one, registered here
and nowhere else, is listed by fec-bench, checks exports in fec-verify and becomes fec-deploy's candidate."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from fec.runtimes import backends, base
from fec.runtimes.backends import Backend, Serving
from fec.vocabulary import ArtifactKind, Precision

pytest.importorskip("onnxruntime")


class UnfusedOnnxRuntime(base.Runner):
    """A 'new runtime' for the test: ONNX Runtime with every graph optimisation off, under a name of its own."""

    name = "unfused-ort"

    def __init__(self, model, threads: int | None = None):
        self.model, self.threads, self.session = model, threads, None

    def activate(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = self.threads or 1
        self.session = onnxruntime.InferenceSession(str(self.model), options, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.input_size = shape[2] if isinstance(shape[2], int) else 0

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.session.get_inputs()[0].name: batch})[0]

    def describe(self) -> dict:
        return {"runner": self.name, "model": str(self.model), "graph_optimization": "off"}


THROWAWAY = Backend("unfused-ort", ArtifactKind.ONNX, "unfused-ort", needs=lambda: None, forms=(Precision.FP32,),
                    summary="ONNX Runtime without graph optimisations (a test's throwaway runtime)",
                    serving=Serving("ort-python"))


@pytest.fixture
def throwaway_runtime(monkeypatch):
    """The two registrations a runtime's module makes, undone after the test."""
    monkeypatch.setitem(base._RUNNERS, UnfusedOnnxRuntime.name, UnfusedOnnxRuntime)
    monkeypatch.setitem(backends._BACKENDS, THROWAWAY.name, THROWAWAY)
    return THROWAWAY


def test_fec_bench_lists_it_as_running_here(throwaway_runtime):
    from fec.cli.bench import main

    result = CliRunner().invoke(main, ["backends", "--kind", "onnx"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("unfused-ort "))
    assert "ONNX Runtime without graph optimisations" in line and line.endswith("[runs here: yes]")


def test_fec_deploy_makes_it_a_candidate_and_knows_how_to_serve_it(throwaway_runtime):
    from fec.deploy.candidates import plan_candidates
    from fec.deploy.deployment import servable_kind

    runnable, skipped = plan_candidates(backends=("unfused-ort",))
    assert ([candidate.name for candidate in runnable], skipped) == (["unfused-ort/onnx-fp32"], [])
    assert servable_kind("unfused-ort", "native") == "ort-python"


def test_fec_verify_checks_an_export_with_it(throwaway_runtime, onnx_exports, small_test_csv, tmp_path):
    from fec.cli.verify import main
    from fec.runtimes.backends import export_backends

    assert "unfused-ort" in export_backends()
    result = CliRunner().invoke(main, [str(onnx_exports["fp32"]), "--data", str(small_test_csv), "--backend", "unfused-ort",
                                       "--json", str(tmp_path / "verify.json"), "--no-record"])
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "verify.json").read_text())["results"][0]
    assert (row["backend"], row["status"], row["precision"]) == ("unfused-ort", "PASS", "fp32")
    assert row["runner"]["graph_optimization"] == "off" and row["max_abs"] <= 1e-4
