"""fec-triton's repository: the files, the static onnxruntime_onnx / tensorrt_plan configs, atomic replacement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from triton_helpers import cosines

from fec.artifacts import UINT8_NHWC
from fec.export.manifest import ArtifactFile, read_manifest, write_manifest
from fec.hardware import cpu_info
from fec.preprocessing import Preprocessing
from fec.runtimes.backends import OPENVINO_BACKEND_F32
from fec.runtimes.onnxruntime_runner import OnnxRuntimeRunner
from fec.triton import checks
from fec.triton.errors import ConfigCheckError, RepositoryError
from fec.triton.exports import read_exports
from fec.triton.model_io import onnx_model_io
from fec.triton.repository import MARKER, RepositoryOptions, plan_repository, write_repository
from fec.triton.serving import prepare_faces

pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="config checks need tritonclient[grpc]")

TYPE_FP32 = 11  # model_config.proto enums
KIND_GPU, KIND_CPU = 1, 2


def read_config(path: Path):
    return checks.parse_config(path.read_text(encoding="utf-8"), str(path))


@pytest.fixture(scope="module")
def cpu_repo(onnx_export, tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("repos") / "cpu"
    write_repository(read_exports([onnx_export]), RepositoryOptions(instances=2, max_batch=16, max_queue_delay_us=500), repo)
    return repo


def test_repository_holds_every_model_with_its_files(cpu_repo):
    models = sorted(path.parent.name for path in cpu_repo.glob("*/config.pbtxt"))
    assert models == ["fecnet", "fecnet_onnx", "fecnet_ort_python", "fecnet_preprocess"]
    assert (cpu_repo / "fecnet_onnx/1/model.onnx").is_file()
    assert (cpu_repo / "fecnet_ort_python/1/model.onnx").read_bytes() == (cpu_repo / "fecnet_onnx/1/model.onnx").read_bytes()
    assert "TritonPythonModel" in (cpu_repo / "fecnet_ort_python/1/model.py").read_text()
    assert "prepare_faces" in (cpu_repo / "fecnet_preprocess/1/model.py").read_text()
    assert (cpu_repo / "fecnet/1").is_dir() and not any((cpu_repo / "fecnet/1").iterdir())  # ensembles need an empty version
    marker = json.loads((cpu_repo / MARKER).read_text())
    assert (marker["ensemble"], marker["embedding_model"]) == ("fecnet", "fecnet_onnx")


def test_onnxruntime_config_matches_the_exported_graph(cpu_repo, onnx_export):
    """The onnxruntime backend is not in the wheel's server, so this static check is its test here."""
    config = read_config(cpu_repo / "fecnet_onnx/config.pbtxt")
    graph = onnx_model_io(onnx_export / "model.onnx")
    assert (config.platform, config.default_model_filename, config.max_batch_size) == ("onnxruntime_onnx", "model.onnx", 16)
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [("images", TYPE_FP32, list(graph.inputs[0].shape[1:]))]
    assert [(t.name, t.data_type, list(t.dims)) for t in config.output] == [("embeddings", TYPE_FP32, [16])]
    assert graph.inputs[0].shape[1:] == (3, 112, 112)
    assert (config.instance_group[0].kind, config.instance_group[0].count) == (KIND_CPU, 2)
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    from tritonclient.grpc import model_config_pb2

    policy = config.dynamic_batching.default_queue_policy  # a request queued over 30 s is answered, not kept waiting
    assert (policy.timeout_action, policy.default_timeout_microseconds, policy.allow_timeout_override) == (
        model_config_pb2.ModelQueuePolicy.REJECT, 30_000_000, True)
    assert [w.batch_size for w in config.model_warmup] == [1, 16]
    assert not config.optimization.execution_accelerators.gpu_execution_accelerator


def test_preprocessing_gets_one_instance_per_core_unless_set(cpu_repo, onnx_export):
    """Decoding is CPU work: with one instance, one request of 32 large pictures would hold up every client."""
    preprocess = read_config(cpu_repo / "fecnet_preprocess/config.pbtxt")
    assert [(group.kind, group.count) for group in preprocess.instance_group] == [(KIND_CPU, cpu_info().cores)]
    planned, _ = plan_repository(read_exports([onnx_export]), RepositoryOptions(instances=2, preprocess_instances=3))
    counts = {model.name: model.config.instance_groups[0].count for model in planned if model.config.instance_groups}
    assert (counts["fecnet_preprocess"], counts["fecnet_onnx"], counts["fecnet_ort_python"]) == (3, 2, 2)
    with pytest.raises(RepositoryError, match=r"preprocess instances must be in \[1, 64\], got 0"):
        RepositoryOptions(preprocess_instances=0).validate()


@pytest.mark.parametrize("precision, hints, notes", [
    ("fp32", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": "2"}, [f"fecnet_openvino: {OPENVINO_BACKEND_F32}"]),
    ("bf16", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": "2", "HINT_BF16": "YES"}, []),
])
def test_openvino_backend_config_runs_the_onnx_file_when_asked(onnx_export, tmp_path, precision, hints, notes):
    """Triton's native OpenVINO backend is not in the wheel's server: checked with Triton's schema and the graph.
    It has no f32 setting, so an fp32 repository says where it would run bf16 instead."""
    repo = tmp_path / "repo"
    options = RepositoryOptions(embedding="openvino", openvino_precision=precision, ort_threads=2, max_batch=16)
    summary = write_repository(read_exports([onnx_export]), options, repo)
    assert list(summary.notes) == notes and all(f"- {note}" in (repo / "README.md").read_text() for note in notes)
    config = read_config(repo / "fecnet_openvino/config.pbtxt")
    graph = onnx_model_io(onnx_export / "model.onnx")
    assert (config.backend, config.platform, config.default_model_filename) == ("openvino", "", "model.onnx")
    assert {key: value.string_value for key, value in config.parameters.items()} == hints
    assert [(t.name, list(t.dims)) for t in config.input] == [("images", list(graph.inputs[0].shape[1:]))]
    assert (config.instance_group[0].kind, config.max_batch_size) == (KIND_CPU, 16)
    assert (repo / "fecnet_openvino/1/model.onnx").read_bytes() == (onnx_export / "model.onnx").read_bytes()
    assert read_config(repo / "fecnet/config.pbtxt").ensemble_scheduling.step[1].model_name == "fecnet_openvino"
    assert not (repo / "fecnet_ov_python").exists()


def test_ensemble_links_preprocess_to_the_chosen_model(cpu_repo):
    ensemble = read_config(cpu_repo / "fecnet/config.pbtxt")
    preprocess = read_config(cpu_repo / "fecnet_preprocess/config.pbtxt")
    steps = [(step.model_name, dict(step.input_map), dict(step.output_map)) for step in ensemble.ensemble_scheduling.step]
    assert steps == [("fecnet_preprocess", {"image": "image", "box": "box"}, {"images": "face_batch"}),
                     ("fecnet_onnx", {"images": "face_batch"}, {"embeddings": "embeddings"})]
    assert not ensemble.model_warmup and ensemble.max_batch_size == 16
    assert [(t.name, t.optional) for t in ensemble.input] == [("image", False), ("box", True)]
    params = {key: value.string_value for key, value in preprocess.parameters.items()}
    assert json.loads(params["preprocessing"])["input_size"] == 112 and params["face_margin"] == "0.0"


def test_gpu_onnx_model_gets_the_tensorrt_accelerator(onnx_export, tmp_path):
    options = RepositoryOptions(device="gpu", trt_accelerator=True, trt_precision="FP16", trt_cache_path="/cache/trt")
    write_repository(read_exports([onnx_export]), options, tmp_path / "repo")
    config = read_config(tmp_path / "repo/fecnet_onnx/config.pbtxt")
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accelerator.name == "tensorrt"
    assert dict(accelerator.parameters)["precision_mode"] == "FP16"
    assert dict(accelerator.parameters)["trt_engine_cache_path"] == "/cache/trt"
    assert config.instance_group[0].kind == KIND_GPU
    preprocess = read_config(tmp_path / "repo/fecnet_preprocess/config.pbtxt")
    assert preprocess.instance_group[0].kind == KIND_CPU  # decoding stays on CPU
    # the spare python-backend model is not the ensemble's: on the CPU, so a server without onnxruntime-gpu loads it
    assert read_config(tmp_path / "repo/fecnet_ort_python/config.pbtxt").instance_group[0].kind == KIND_CPU


def test_a_chosen_python_backend_model_runs_where_asked(onnx_export, tmp_path):
    write_repository(read_exports([onnx_export]), RepositoryOptions(device="gpu", embedding="ort-python"), tmp_path / "repo")
    assert read_config(tmp_path / "repo/fecnet_ort_python/config.pbtxt").instance_group[0].kind == KIND_GPU


def fake_engine_export(onnx_export: Path, folder: Path, capability: str, profile_max: int) -> Path:
    """An export folder as `fec-export --format trt` writes it, with stand-in plan bytes (no TensorRT here)."""
    folder.mkdir(parents=True)
    shutil.copyfile(onnx_export / "model.onnx", folder / "model.onnx")
    (folder / "model.plan").write_bytes(b"not a real engine " + capability.encode())
    sidecar = {"format": "fec-trt-engine/1", "tensorrt_version": "10.13.0", "precision": "fp16",
               "gpu": {"name": "test GPU", "compute_capability": capability},
               "input_name": "images", "output_name": "embeddings", "input_format": "float32-nchw",
               "profile": {"min": [1, 3, 112, 112], "opt": [8, 3, 112, 112], "max": [profile_max, 3, 112, 112]},
               "source_onnx": "model.onnx", "source_onnx_sha256": "0", "plan_sha256": "0"}
    (folder / "model.plan.json").write_text(json.dumps(sidecar))
    manifest = read_manifest(onnx_export)
    manifest["files"] = [ArtifactFile.describe(folder, "model.onnx", "onnx").to_dict(),
                         ArtifactFile.describe(folder, "model.plan", "engine").to_dict(),
                         ArtifactFile.describe(folder, "model.plan.json", "engine-sidecar").to_dict()]
    write_manifest(folder, manifest)
    return folder


def test_tensorrt_config_one_plan_per_compute_capability(onnx_export, tmp_path):
    engines = [fake_engine_export(onnx_export, tmp_path / "sm86", "8.6", 16),
               fake_engine_export(onnx_export, tmp_path / "sm90", "9.0", 8)]
    summary = write_repository(read_exports([onnx_export, *engines]), RepositoryOptions(max_batch=32), tmp_path / "repo")
    config = read_config(tmp_path / "repo/fecnet_trt/config.pbtxt")
    assert config.platform == "tensorrt_plan" and summary.embedding_model == "fecnet_trt"  # tensorrt is the default
    assert dict(config.cc_model_filenames) == {"8.6": "model_sm86.plan", "9.0": "model_sm90.plan"}
    assert (tmp_path / "repo/fecnet_trt/1/model_sm90.plan").read_bytes() == b"not a real engine 9.0"
    assert config.max_batch_size == 8  # never above the smallest engine profile's maximum
    assert any("max_batch_size 8" in note for note in summary.notes)
    assert [(t.name, list(t.dims)) for t in config.input] == [("images", [3, 112, 112])]
    assert [(t.name, list(t.dims)) for t in config.output] == [("embeddings", [16])]
    assert config.instance_group[0].kind == KIND_GPU  # TensorRT cannot run on the CPU
    assert read_config(tmp_path / "repo/fecnet/config.pbtxt").max_batch_size == 8
    assert read_config(tmp_path / "repo/fecnet_onnx/config.pbtxt").max_batch_size == 32


def test_single_engine_is_model_plan(onnx_export, tmp_path):
    engine = fake_engine_export(onnx_export, tmp_path / "trt", "8.9", 64)
    write_repository(read_exports([engine]), RepositoryOptions(max_batch=16), tmp_path / "repo")
    config = read_config(tmp_path / "repo/fecnet_trt/config.pbtxt")
    assert (config.default_model_filename, dict(config.cc_model_filenames), config.max_batch_size) == ("model.plan", {}, 16)


def test_engine_checks_catch_a_profile_that_does_not_match_the_graph(onnx_export, tmp_path):
    engine = fake_engine_export(onnx_export, tmp_path / "trt", "8.9", 16)
    sidecar = json.loads((engine / "model.plan.json").read_text())
    sidecar["profile"]["max"] = [16, 3, 224, 224]
    (engine / "model.plan.json").write_text(json.dumps(sidecar))
    manifest = read_manifest(engine)
    manifest["files"][2] = ArtifactFile.describe(engine, "model.plan.json", "engine-sidecar").to_dict()
    write_manifest(engine, manifest)
    with pytest.raises(ConfigCheckError, match="type or dims differ"):  # preprocess makes 112 px, the engine wants 224
        write_repository(read_exports([onnx_export, engine]), RepositoryOptions(), tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_tensorrt_backend_without_engine_is_a_user_error(onnx_export):
    with pytest.raises(RepositoryError, match="needs an export folder with a TensorRT engine"):
        plan_repository(read_exports([onnx_export]), RepositoryOptions(embedding="trt"))


def test_export_batch_limit_lowers_max_batch_with_a_note(onnx_export, tmp_path):
    summary = write_repository(read_exports([onnx_export]), RepositoryOptions(max_batch=64), tmp_path / "repo")
    assert read_config(tmp_path / "repo/fecnet_onnx/config.pbtxt").max_batch_size == 32
    assert summary.notes and "declared maximum" in summary.notes[0]


def test_rewrite_replaces_a_repository_and_refuses_foreign_folders(onnx_export, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("placeholder")  # a folder with just a README may be filled
    write_repository(read_exports([onnx_export]), RepositoryOptions(name="first"), repo)
    write_repository(read_exports([onnx_export]), RepositoryOptions(name="second"), repo)
    folders = sorted(p.name for p in repo.iterdir() if p.is_dir())
    assert folders == ["second", "second_onnx", "second_ort_python", "second_preprocess"]
    assert "fec-serve --repo" in (repo / "README.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]  # no temporary folders left behind
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(RepositoryError, match="not a repository written by fec-triton"):
        write_repository(read_exports([onnx_export]), RepositoryOptions(), foreign)
    assert [p.name for p in foreign.iterdir()] == ["holiday.jpg"]


def test_failed_write_leaves_the_old_repository_intact(onnx_export, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    write_repository(read_exports([onnx_export]), RepositoryOptions(), repo)
    before = sorted(str(p.relative_to(repo)) for p in repo.rglob("*"))
    monkeypatch.setattr("fec.triton.repository.shutil.copyfile", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        write_repository(read_exports([onnx_export]), RepositoryOptions(name="other"), repo)
    assert sorted(str(p.relative_to(repo)) for p in repo.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]


def test_bad_export_folders_are_user_errors(onnx_export, tmp_path):
    with pytest.raises(RepositoryError, match="not an export folder"):
        read_exports([tmp_path])
    tampered = tmp_path / "tampered"
    shutil.copytree(onnx_export, tampered)
    with open(tampered / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(RepositoryError, match="sha256 mismatch"):
        read_exports([tampered])
    with pytest.raises(RepositoryError, match="several ONNX exports"):
        read_exports([onnx_export, onnx_export])


@pytest.mark.parametrize("options, message", [
    (RepositoryOptions(name="bad name"), "model name"),
    (RepositoryOptions(device="tpu"), "device must be one of cpu, gpu"),
    (RepositoryOptions(trt_accelerator=True), "needs --device gpu"),
    (RepositoryOptions(max_batch=0), r"^max batch must be in \[1, 4096\], got 0$"),
    (RepositoryOptions(max_batch=5000), r"^max batch must be in \[1, 4096\], got 5000$"),
    (RepositoryOptions(embedding="ov-python", device="gpu"), r"^--embedding ov-python runs on the CPU \(--device cpu\)$"),
    (RepositoryOptions(embedding="openvino", device="gpu"), r"^--embedding openvino runs on the CPU \(--device cpu\)$"),
    (RepositoryOptions(embedding="ov"), "embedding must be one of trt, onnx, openvino, ort-python, ov-python"),
    (RepositoryOptions(embedding="openvino", openvino_precision="fp16"), "OpenVINO precision must be one of fp32, bf16"),
    (RepositoryOptions(max_faces=0), r"^max faces must be in \[1, 4096\], got 0$"),
    (RepositoryOptions(photo_time_budget_s=0), r"^photo time budget must be in \(0, 3600\] seconds, got 0$"),
    (RepositoryOptions(photo_time_budget_s=float("nan")), r"^photo time budget must be in \(0, 3600\] seconds, got nan$"),
])
def test_impossible_options_are_user_errors(options, message):
    with pytest.raises(RepositoryError, match=message):
        options.validate()


def test_uint8_export_gets_a_uint8_preprocess_output(checkpoint, pictures, torch_reference, tmp_path):
    """With preprocessing baked into the graph, the server sends resized uint8 pixels, not normalised floats."""
    from fec.export import ExportRequest, export_model

    export = export_model(checkpoint, "onnx", ExportRequest(max_batch=8, opt_batch=4, exporter="legacy",
                                                            bake_preprocessing=True), out=tmp_path / "uint8").folder
    write_repository(read_exports([export]), RepositoryOptions(embedding="ort-python"), tmp_path / "repo")
    output = read_config(tmp_path / "repo/fecnet_preprocess/config.pbtxt").output[0]
    assert (output.name, output.data_type, list(output.dims)) == ("images", 2, [112, 112, 3])  # TYPE_UINT8
    params = read_config(tmp_path / "repo/fecnet_preprocess/config.pbtxt").parameters
    assert params["output_format"].string_value == "uint8-nhwc"
    assert read_config(tmp_path / "repo/fecnet_ort_python/config.pbtxt").input[0].data_type == 2
    whole = [picture for picture in pictures if picture.box is None][:4]
    pixels = prepare_faces([p.payload for p in whole], Preprocessing(112), output_format=UINT8_NHWC)
    with OnnxRuntimeRunner(tmp_path / "repo/fecnet_ort_python/1/model.onnx", threads=1) as runner:
        served = runner.infer(pixels)
    assert cosines(served, torch_reference(whole)).min() >= 0.9999
