"""Targets, backend planning and input batches (no model is run here)."""

from __future__ import annotations

import numpy as np
import pytest

from fec.bench import BenchError, MeasureSettings
from fec.bench.inputs import input_batch
from fec.bench.options import BenchOptions
from fec.bench.plan import plan
from fec.bench.targets import Target, resolve_target
from fec.data.dataset import FaceCrops
from fec.errors import FecError
from fec.preprocessing import Preprocessing
from fec.runtimes.backends import get_backend

PREP = Preprocessing(32)


def target(*kinds: str) -> Target:
    return Target(path=f"model-{'-'.join(kinds)}", files={kind: "model" for kind in kinds}, prep=PREP, precision="fp32",
                  crops=FaceCrops(size=64))


@pytest.fixture
def cpu_only(monkeypatch):
    """This machine as a CPU-only one with OpenVINO and without native bf16, whatever it really has."""
    from fec.runtimes import backends

    monkeypatch.setitem(backends.UNAVAILABLE, "cuda", lambda: "no CUDA GPU here")
    for need in ("ort-cuda", "ort-tensorrt", "tensorrt", "openvino-bf16"):
        monkeypatch.setitem(backends.UNAVAILABLE, need, lambda: "not here")
    monkeypatch.setitem(backends.UNAVAILABLE, "openvino", lambda: None)


def test_default_plan_runs_every_backend_that_fits_each_target_and_can_run_here(cpu_only):
    checkpoint, export = target("checkpoint"), target("onnx", "engine")
    with pytest.raises(BenchError, match=r"model-engine: no backend that runs it can run here \(tensorrt: not here; "):
        plan([target("engine")], None)
    pairs = [(chosen.path, backend.name) for chosen, backend in plan([checkpoint, export], None)]
    assert pairs == [("model-checkpoint", "torch"), ("model-checkpoint", "torch_compile"), ("model-onnx-engine", "onnxruntime"),
                     ("model-onnx-engine", "openvino"), ("model-onnx-engine", "openvino-static"),
                     ("model-onnx-engine", "openvino-defaults")]


def test_default_plan_on_a_gpu_machine_adds_the_cuda_backends(cpu_only, monkeypatch):
    from fec.runtimes import backends

    monkeypatch.setitem(backends.UNAVAILABLE, "cuda", lambda: None)
    names = [backend.name for _, backend in plan([target("checkpoint")], None)]
    assert names == ["torch", "torch_compile", "torch-cuda", "torch-cuda-fp16", "torch-cuda-bf16", "torch-cuda-graphs",
                     "torch-cuda-graphs-fp16", "torch_compile-cuda"]


def test_plan_keeps_only_the_requested_backends():
    pairs = plan([target("checkpoint"), target("onnx")], ["torch-cuda-fp16", "onnxruntime-tensorrt"])
    assert [(chosen.path, backend.name) for chosen, backend in pairs] == [
        ("model-checkpoint", "torch-cuda-fp16"), ("model-onnx", "onnxruntime-tensorrt")]


@pytest.mark.parametrize("targets, backends, message", [
    (["checkpoint"], ["tensorflow"], "unknown backend 'tensorflow'; available: torch, torch_compile, torch-cuda, "),
    (["checkpoint"], ["onnxruntime"], "backend 'onnxruntime' cannot run checkpoints (it runs ONNX exports; "
                                      "checkpoints: torch, torch_compile, torch-cuda"),
    (["onnx"], ["torch"], "backend 'torch' cannot run ONNX exports"),
    (["checkpoint", "onnx"], ["torch"], "model-onnx: none of the chosen backends can run it (it needs one of "
                                        "onnxruntime, onnxruntime-cuda, onnxruntime-tensorrt, onnxruntime-tensorrt-fp16, "
                                        "openvino, openvino-bf16, openvino-static, openvino-defaults)"),
])
def test_plan_rejects_backends_that_cannot_run_the_targets(targets, backends, message):
    with pytest.raises(FecError) as caught:  # BenchError, or RunnerError from the backend registry
        plan([target(kind) for kind in targets], backends)
    assert message in str(caught.value)


def test_backends_report_their_precision_on_fp32_targets_only():
    from fec.runtimes.backends import get_backend

    assert get_backend("torch-cuda-bf16").row_precision("fp32") == "bf16"
    assert get_backend("onnxruntime-tensorrt-fp16").row_precision("int8") == "int8"
    assert get_backend("onnxruntime").row_precision("fp16") == "fp16"


def test_missing_target_foreign_folder_and_other_urls_are_user_errors(tmp_path):

    with pytest.raises(BenchError, match="target not found"):
        resolve_target(tmp_path / "nothing.pt")
    with pytest.raises(FecError, match="not an export folder"):
        resolve_target(tmp_path)
    with pytest.raises(BenchError, match="unsupported URL; a server target is http://HOST:PORT/MODEL"):
        resolve_target("ftp://127.0.0.1/fecnet")


def test_an_export_with_an_engine_offers_both_kinds_and_its_batch_range_as_a_tensorrt_profile(tmp_path, monkeypatch):
    import json

    from fec.export import onnx_export
    from fec.export.manifest import sha256_file

    folder = tmp_path / "trt"
    folder.mkdir()
    for name in ("model.onnx", "model.plan"):
        (folder / name).write_bytes(name.encode())
    manifest = {"format": "fec-export/1", "precision": "fp16", "preprocessing": {"input_size": 32, "mean": [0.5] * 3,
                "std": [0.25] * 3}, "io": {"input": {"name": "images", "shape": ["batch", 3, 32, 32]}},
                "batch": {"min": 1, "opt": 8, "max": 64},
                "files": [{"path": "model.onnx", "role": "onnx", "sha256": sha256_file(folder / "model.onnx")},
                          {"path": "model.plan", "role": "engine", "sha256": sha256_file(folder / "model.plan")}]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(onnx_export, "check_matches_manifest", lambda *args: None)  # not a real ONNX file
    resolved = resolve_target(folder)

    assert resolved.files == {"onnx": str(folder / "model.onnx"), "engine": str(folder / "model.plan")}
    assert resolved.precision == "fp16" and resolved.kinds == ("onnx", "engine")
    assert resolved.tensorrt_profile["trt_profile_max_shapes"] == "images:64x3x32x32"


def test_an_export_is_benchmarked_only_when_its_files_are_the_ones_its_manifest_describes(onnx_exports, tmp_path):
    """An fp16 file swapped into an fp32 folder: refused by its sha256, and by its own metadata if the sha256 is forged."""
    import json
    import shutil

    from fec.errors import FecError
    from fec.export.manifest import sha256_file

    folder = tmp_path / "fp32-with-fp16-inside"
    shutil.copytree(onnx_exports["fp32"], folder)
    shutil.copy(onnx_exports["fp16"] / "model.onnx", folder / "model.onnx")
    with pytest.raises(FecError, match="model.onnx: differs from the file fec-export wrote"):
        resolve_target(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = sha256_file(folder / "model.onnx")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FecError, match=r"model.onnx: the file is fp16 at 224 px, but its manifest says fp32 at 224 px"):
        resolve_target(folder)


def test_face_batches_repeat_real_faces_and_normalise_them():
    faces = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    batch = input_batch(faces, 5, PREP, uint8_input=False)
    raw = input_batch(faces, 5, PREP, uint8_input=True)

    assert batch.shape == (5, 3, 32, 32) and batch.dtype == np.float32
    assert np.array_equal(raw[3], faces[0]) and np.array_equal(raw[4], faces[1])
    expected = (faces[0] / 255.0 - np.asarray(PREP.mean)) / np.asarray(PREP.std)
    assert np.allclose(batch[3], expected.transpose(2, 0, 1), atol=1e-5)


def test_random_batches_are_never_zeros():
    floats = input_batch(None, 4, PREP, uint8_input=False)
    pixels = input_batch(None, 4, PREP, uint8_input=True)

    assert floats.shape == (4, 3, 32, 32) and floats.dtype == np.float32 and 0.8 < floats.std() < 1.2
    assert pixels.dtype == np.uint8 and pixels.min() >= 1


class FakeProbe:
    """Stands in for CudaProbe: counts synchronisations and hands out a known peak per reset."""

    def __init__(self, peaks_mb):
        self.peaks_mb, self.resets, self.syncs = list(peaks_mb), 0, 0

    def synchronize(self) -> None:
        self.syncs += 1

    def reset_peak(self) -> None:
        self.resets += 1

    def peak_mb(self) -> float:
        return self.peaks_mb[self.resets - 1]


class EchoRunner:
    """A host-side runner with the attributes bench_runner reads."""

    name, max_batch, input_format = "echo", None, "float32-nchw"
    cuda_device, cuda_memory_tracked = None, False

    def __init__(self):
        self.calls = 0

    def describe(self) -> dict:
        return {"runner": self.name, "device": "cuda:0"}

    def infer(self, batch):
        self.calls += 1
        return batch[:, :1, 0, 0]


def test_cuda_rows_synchronise_every_timed_iteration_and_report_peak_memory_per_batch():
    from fec.bench.backend_rows import bench_runner

    probe, runner = FakeProbe([120.04, 250.06]), EchoRunner()
    rows = bench_runner(runner, target("checkpoint"), get_backend("torch-cuda"),
                        BenchOptions(batches=[1, 4], settings=MeasureSettings(warmup_iters=1, iters=2)), probe=probe)

    assert [(row.batch, row.cuda_peak_mb) for row in rows] == [(1, 120.04), (4, 250.06)]
    assert probe.resets == 2
    timed = sum(row.measurement.windows * 2 for row in rows)
    assert probe.syncs == timed + 2        # one per timed iteration, plus one after each warm-up
    assert [row.record()["cuda_peak_mb"] for row in rows] == [120.0, 250.1]


def test_host_runners_get_no_probe_and_no_cuda_memory():
    from fec.bench.backend_rows import bench_runner
    from fec.bench.cuda import cuda_probe

    runner = EchoRunner()
    rows = bench_runner(runner, target("checkpoint"), get_backend("torch"),
                        BenchOptions(batches=[2], settings=MeasureSettings(warmup_iters=0, iters=2)), probe=cuda_probe(runner))
    assert cuda_probe(runner) is None and rows[0].cuda_peak_mb is None and rows[0].record()["cuda_peak_mb"] is None


def test_a_cuda_runner_gets_a_probe_that_reports_memory_only_when_torch_allocates_it(monkeypatch):
    import torch

    from fec.bench import cuda

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device: calls.append(("sync", device)))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: calls.append(("reset", device)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * 2 ** 20)
    runner = EchoRunner()
    runner.cuda_device, runner.cuda_memory_tracked = 1, True
    probe = cuda.cuda_probe(runner)
    probe.reset_peak()
    probe.synchronize()

    assert calls == [("sync", 1), ("reset", 1), ("sync", 1)] and probe.peak_mb() == 3.0
    runner.cuda_memory_tracked = False
    assert cuda.cuda_probe(runner).peak_mb() is None   # e.g. ONNX Runtime's own CUDA arena: unknown, not 0


class RecordingRunner(EchoRunner):
    """A host-side runner that keeps a copy of every batch it was fed."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def infer(self, batch):
        self.batches.append(batch.copy())
        return super().infer(batch)


@pytest.fixture
def synth_faces(tiny_synth):
    from fec.bench.inputs import face_inputs
    from fec.bench.options import MODES

    return face_inputs(tiny_synth / "test.csv", target("checkpoint"), 3, MODES)


def pixel_levels(normalised: np.ndarray) -> np.ndarray:
    """Normalised NCHW values back on the 0-255 scale (differences only: the mean cancels)."""
    return normalised * np.asarray(PREP.std, np.float32).reshape(1, 3, 1, 1) * 255.0


def test_end_to_end_iterations_decode_the_jpegs_into_the_compute_batch(synth_faces, monkeypatch):
    from fec.bench import inputs as bench_inputs
    from fec.bench.backend_rows import bench_runner
    from fec.bench.options import MODES

    decoded, decode = [], bench_inputs.decode_image
    monkeypatch.setattr(bench_inputs, "decode_image", lambda payload: decoded.append(payload) or decode(payload))
    runner = RecordingRunner()
    options = BenchOptions(batches=[4], settings=MeasureSettings(warmup_iters=1, iters=2, max_windows=2), modes=MODES)
    compute, end_to_end = bench_runner(runner, target("checkpoint"), get_backend("torch"), options, inputs=synth_faces)

    assert (compute.mode, end_to_end.mode) == ("compute", "end-to-end")
    compute_calls = 1 + 1 + 2 * compute.measurement.windows          # prime, warm-up, timed
    end_to_end_calls = 1 + 1 + 2 * end_to_end.measurement.windows
    assert runner.calls == compute_calls + end_to_end_calls
    # every end-to-end call (and no compute call) decoded its 4 faces from JPEG bytes
    assert len(decoded) == 4 * end_to_end_calls
    assert decoded[:4] == [synth_faces.jpegs[index % 3] for index in range(4)]
    assert all(payload[:3] == b"\xff\xd8\xff" for payload in decoded)
    feed, decoded_feed = runner.batches[0], runner.batches[compute_calls]
    assert decoded_feed.shape == feed.shape == (4, 3, 32, 32) and decoded_feed.dtype == np.float32
    # the same faces, resized from their 64 px crops and normalised: equal to the compute batch up to JPEG's loss
    difference = np.abs(pixel_levels(decoded_feed - feed))
    assert 0 < difference.mean() < 4.0 and np.percentile(difference, 99) < 20


def test_end_to_end_keeps_uint8_pixels_for_uint8_input_exports(synth_faces):
    from fec.bench.inputs import jpeg_batch, preprocess_jpegs

    pixels = preprocess_jpegs(jpeg_batch(synth_faces.jpegs, 5), PREP, uint8_input=True)
    expected = input_batch(synth_faces.faces, 5, PREP, uint8_input=True)

    assert pixels.dtype == np.uint8 and pixels.shape == (5, 32, 32, 3)
    assert np.abs(pixels.astype(int) - expected).mean() < 4.0
    assert np.array_equal(pixels[3], pixels[0])       # repeated in input_batch's order


def test_end_to_end_jpegs_are_the_stored_crops_encoded_at_quality_90(synth_faces, tiny_synth):
    import io

    from PIL import Image

    from fec.bench.inputs import load_faces

    crops = load_faces(tiny_synth / "test.csv", target("checkpoint"), 3, size=64)
    assert len(crops) == len(synth_faces.jpegs) == 3
    for crop, payload in zip(crops, synth_faces.jpegs):
        with Image.open(io.BytesIO(payload)) as image:
            assert image.format == "JPEG" and image.size == (64, 64)
            assert np.abs(np.asarray(image, dtype=int) - crop).mean() < 4.0


def test_server_targets_are_measured_compute_only_with_a_note(monkeypatch):
    from fec.bench import run as bench_run
    from fec.bench.options import MODES

    server = Target(path="http://127.0.0.1:9/fecnet", files={"server-http": "127.0.0.1:9"}, prep=PREP, precision="fp32",
                    model="fecnet")
    local, modes_of = target("checkpoint"), {}
    monkeypatch.setattr(bench_run, "face_inputs", lambda data, chosen, count, modes: None)
    monkeypatch.setattr(bench_run, "bench_backend",
                        lambda chosen, backend, inputs, options: modes_of.__setitem__(chosen.path, options.modes) or [])
    outcome = bench_run.bench_targets([local, server], BenchOptions(backends=["torch", "triton-http"], batches=[1],
                                                                    settings=MeasureSettings(), data="test.csv", modes=MODES))

    assert modes_of == {local.path: ("compute", "end-to-end"), server.path: ("compute",)}
    assert outcome.notes == ["triton-http (fecnet): end-to-end skipped, the server preprocesses on its side "
                             "(compute only)"]
    with pytest.raises(BenchError, match=r"^http://127.0.0.1:9/fecnet: --mode end-to-end does not apply to Triton"):
        bench_run.bench_targets([local, server], BenchOptions(backends=["torch", "triton-http"], batches=[1],
                                                              settings=MeasureSettings(), data="test.csv",
                                                              modes=("end-to-end",)))


def test_modes_of_the_mode_option():
    from fec.bench.options import bench_modes

    assert bench_modes("both") == ("compute", "end-to-end") and bench_modes("end-to-end") == ("end-to-end",)
    with pytest.raises(BenchError, match="unknown mode 'e2e'"):
        bench_modes("e2e")
