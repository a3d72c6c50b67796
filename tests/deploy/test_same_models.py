"""int8 exports that keep the same layers float are one model: only the first is verified and timed."""

from __future__ import annotations

from pathlib import Path

import fec.deploy.run as run
from fec.deploy.candidates import Candidate, ExportSpec
from fec.deploy.select import OK, SAME_MODEL, Measured, accuracy_verdict


def trial(backend: str, spec: ExportSpec) -> run.Trial:
    candidate = Candidate(backend, spec)
    return run.Trial(candidate, Measured(candidate.name, backend, spec.name, candidate.precision), Path(spec.name))


def test_an_int8_export_keeping_the_same_layers_float_is_marked_the_same_model(monkeypatch):
    kept = {"onnx-int8-cpu-fb48": ["first_conv"], "onnx-int8-cpu-fb16": ["first_conv"], "onnx-int8-cpu-fb0": []}
    monkeypatch.setattr(run, "read_manifest", lambda folder: {"details": {"int8": {"kept_in_float": kept[str(folder)]}}})
    specs = [ExportSpec("onnx", "int8", below) for below in (48, 16, 0)] + [ExportSpec("onnx", "fp32")]
    trials = [trial(backend, spec) for backend in ("onnxruntime", "openvino") for spec in specs]
    run.mark_same_models(trials)
    statuses = {item.candidate.name: (item.measured.status, item.measured.reason) for item in trials}
    assert statuses["onnxruntime/onnx-int8-cpu-fb16"] == (
        SAME_MODEL, "as onnxruntime/onnx-int8-cpu-fb48 (the same layers kept float)")
    assert statuses["openvino/onnx-int8-cpu-fb16"][1] == "as openvino/onnx-int8-cpu-fb48 (the same layers kept float)"
    others = [name for name, (status, _) in statuses.items() if status == OK]
    assert others == ["onnxruntime/onnx-int8-cpu-fb48", "onnxruntime/onnx-int8-cpu-fb0", "onnxruntime/onnx-fp32",
                      "openvino/onnx-int8-cpu-fb48", "openvino/onnx-int8-cpu-fb0", "openvino/onnx-fp32"]
    same = next(item for item in trials if item.measured.status == SAME_MODEL).measured
    assert accuracy_verdict(same, 0.5) == "same model: as onnxruntime/onnx-int8-cpu-fb48 (the same layers kept float)"
