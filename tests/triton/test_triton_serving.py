"""The serving pipeline outside the server: same model input as fec.preprocessing, per-request errors, local embedding."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from triton_helpers import cosines

from fec.embedding.pictures import EmbeddingResult, LocalPictureEmbedder, embed_chunk, embed_files, list_images, save_embeddings
from fec.embedding.retrieval import contact_sheet, nearest
from fec.errors import DataError
from fec.preprocessing import Preprocessing, crop_box, decode_image, preprocess_images, resize_uint8
from fec.runtimes.onnxruntime_runner import OnnxRuntimeRunner
from fec.triton.errors import ClientError
from fec.triton.serving import (
    UINT8_NHWC,
    RequestFailure,
    boxes_from_tensor,
    embed_requests,
    payloads_from_tensor,
    prepare_faces,
)

PREP = Preprocessing(64)


def test_prepare_faces_is_the_training_preprocessing(pictures):
    payloads = [picture.payload for picture in pictures[:4]]
    expected = preprocess_images([decode_image(payload) for payload in payloads], PREP)
    assert np.array_equal(prepare_faces(payloads, PREP), expected)


def test_boxes_crop_like_the_face_store(pictures):
    picture = next(p for p in pictures if p.box is not None)
    image = decode_image(picture.payload)
    expected = preprocess_images([crop_box(image, picture.box, 0.1)], PREP)
    assert np.array_equal(prepare_faces([picture.payload], PREP, [picture.box], margin=0.1), expected)
    uint8 = prepare_faces([picture.payload], PREP, [picture.box], output_format=UINT8_NHWC)
    assert uint8.dtype == np.uint8 and np.array_equal(uint8[0], resize_uint8(crop_box(image, picture.box), 64))


def test_bad_pictures_and_boxes_are_data_errors(pictures):
    good = pictures[0].payload
    with pytest.raises(DataError, match="image 1: not a readable image"):
        prepare_faces([good, good[:40]], PREP)
    with pytest.raises(DataError, match="empty batch"):
        prepare_faces([], PREP)
    with pytest.raises(DataError, match="image 0: box is empty"):
        boxes_from_tensor(np.array([[0.5, 0.4, 0.1, 0.9]], np.float32), 1)
    with pytest.raises(DataError, match=r"shape \(2, 4\)"):
        boxes_from_tensor(np.zeros((1, 4), np.float32), 2)
    with pytest.raises(DataError, match=r"shape \(N, 1\)"):
        payloads_from_tensor(np.array([b"a", b"b"], dtype=object))
    assert boxes_from_tensor(None, 3) is None
    (box,) = boxes_from_tensor(np.array([[0.1, 0.9, 0.2, 0.8]], np.float32), 1)
    assert (box.left, box.right, box.top, box.bottom) == pytest.approx((0.1, 0.9, 0.2, 0.8))


def test_embed_requests_runs_one_batch_and_splits_it():
    calls = []

    def embed(batch):
        calls.append(batch.shape[0])
        return batch[:, :2] * 2

    batches = [np.ones((2, 3), np.float32), np.zeros((0, 3), np.float32), np.full((1, 3), 5, np.float32)]
    results = embed_requests(embed, batches)
    assert calls == [3]  # the dynamic batcher's requests ran together
    assert np.array_equal(results[0], np.full((2, 2), 2)) and np.array_equal(results[2], np.full((1, 2), 10))
    assert results[1] == RequestFailure("empty batch: send at least one image", client_fault=True)


def test_embed_requests_reports_a_runtime_failure_to_every_request():
    def broken(batch):
        raise RuntimeError("out of memory\n  at line 3")

    results = embed_requests(broken, [np.ones((1, 3), np.float32)] * 2)
    assert results == [RequestFailure("RuntimeError: out of memory at line 3", client_fault=False)] * 2
    assert results[0].code == "INTERNAL"  # a server fault: HTTP 500 / gRPC INTERNAL


def test_embed_requests_refuses_nan_inf_and_misshapen_requests_alone():
    calls = []

    def embed(batch):
        calls.append(batch.copy())
        return batch[:, :2]

    nan, inf = np.ones((2, 3), np.float32), np.ones((1, 3), np.float32)
    nan[1, 2], inf[0, 0] = np.nan, -np.inf
    batches = [np.ones((1, 3), np.float32), nan, inf, np.ones((1, 4), np.float32)]
    results = embed_requests(embed, batches, sample_shape=(3,))
    assert len(calls) == 1 and np.array_equal(calls[0], batches[0])  # nothing non-finite reached the model
    assert np.array_equal(results[0], np.ones((1, 2), np.float32))
    assert [result.code for result in results[1:]] == ["INVALID_ARG"] * 3  # HTTP 400 / gRPC INVALID_ARGUMENT
    assert results[1].message == "input holds NaN or infinite values in 1 of 2 samples (first: sample 1); send finite numbers"
    assert results[2].message.startswith("input holds NaN or infinite values in 1 of 1 samples")
    assert results[3].message == "input must have shape (N, 3), got (1, 4)"


def test_embed_requests_refuses_values_no_normalised_face_has():
    huge = np.ones((2, 3), np.float32)
    huge[1, 0] = -3e30  # finite, but enough to overflow a network to non-finite embeddings
    edge = np.full((1, 3), 1e4, np.float32)
    results = embed_requests(lambda batch: batch[:, :2], [huge, edge], sample_shape=(3,))
    assert results[0].code == "INVALID_ARG" and results[0].message.startswith(
        "input values exceed 10000 in magnitude in 1 of 2 samples (first: sample 1); a normalised face")
    assert np.array_equal(results[1], edge[:, :2])  # the cap itself is allowed


def test_embed_requests_never_returns_non_finite_embeddings():
    results = embed_requests(lambda batch: np.full((len(batch), 2), np.nan), [np.ones((2, 3), np.float32)], (3,))
    assert results == [RequestFailure("the model produced non-finite embeddings for finite inputs", client_fault=False)]


def test_request_failure_blames_the_client_only_for_typed_errors():
    refused = RequestFailure.of(DataError("image 0: not a readable image\n(cannot identify)"))
    assert (refused.message, refused.client_fault, refused.code) == (
        "image 0: not a readable image (cannot identify)", True, "INVALID_ARG")
    bug = RequestFailure.of(KeyError("output_format"))
    assert (bug.message, bug.code) == ("KeyError: 'output_format'", "INTERNAL")
    assert len(RequestFailure.of(DataError("x" * 5000)).message) == 500


def test_pixel_cap_nan_boxes_and_pillow_faults_are_data_errors(monkeypatch):
    import struct

    from tests.helpers import png_header

    with pytest.raises(DataError, match="image 0: over the 80 megapixel limit"):
        prepare_faces([png_header(30000, 30000)], PREP)
    with pytest.raises(DataError, match="image 0: box left nan is outside"):
        boxes_from_tensor(np.array([[np.nan, 0.9, 0.1, 0.9]], np.float32), 1)

    def odd_fault(payload, name, longest_side=None):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr("fec.triton.serving.decode_scaled", odd_fault)
    with pytest.raises(DataError, match=r"image 0: not a readable image \(error: unpack requires"):
        prepare_faces([b"GIF89a"], PREP)


def test_model_tells_faces_apart(pictures, torch_reference):
    """Guards the agreement tests: different faces must embed far apart, or cos >= 0.9999 would prove nothing."""
    embeddings = torch_reference(pictures)
    similarity = embeddings @ embeddings.T
    assert similarity[~np.eye(len(pictures), dtype=bool)].min() < 0.9


def test_the_served_onnx_runner_matches_pytorch(pictures, onnx_export, torch_reference, checkpoint):
    from fec.models.checkpoint import model_from_checkpoint

    _, prep, _ = model_from_checkpoint(checkpoint)
    whole = [picture for picture in pictures if picture.box is None]
    with OnnxRuntimeRunner(onnx_export / "model.onnx", threads=1) as runner:  # what the ort-python model runs
        served = runner.infer(prepare_faces([p.payload for p in whole], prep))
        assert runner.describe()["providers"] == ["CPUExecutionProvider"]
    assert cosines(served, torch_reference(whole)).min() >= 0.9999


@pytest.fixture(scope="module")
def picture_folder(pictures, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    for picture in pictures[:6]:
        (folder / picture.name).write_bytes(picture.payload)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "notes.txt").write_text("not a picture")
    return folder


def test_local_embedding_isolates_a_broken_file(picture_folder, checkpoint, pictures, torch_reference):
    paths = list_images([picture_folder])
    assert len(paths) == 7 and all(path.suffix != ".txt" for path in paths)
    result = embed_files(LocalPictureEmbedder(checkpoint), paths, batch_size=4, concurrency=2)
    assert list(result.failures) == [picture_folder / "broken.png"]
    assert "not a readable image" in result.failures[picture_folder / "broken.png"]
    assert [path.name for path in result.paths] == sorted(p.name for p in pictures[:6])
    by_name = {picture.name: picture for picture in pictures}
    expected = torch_reference([replace(by_name[path.name], box=None) for path in result.paths])  # whole files
    assert cosines(result.embeddings, expected).min() >= 0.9999


def test_list_images_finds_pictures_in_subfolders_like_a_face_store(tmp_path):
    for name in ("ab/1.jpg", "ab/2.png", "cd/3.jpg", "cd/notes.txt", "4.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images([tmp_path])] == ["4.png", "ab/1.jpg", "ab/2.png", "cd/3.jpg"]


def test_list_images_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list_images([tmp_path / "missing"])
    with pytest.raises(DataError, match="no pictures found"):
        list_images([tmp_path])


def test_save_embeddings_npy_and_jsonl(tmp_path):
    result = EmbeddingResult([tmp_path / "a.png", tmp_path / "b.png"], np.eye(2, 16, dtype=np.float32))
    save_embeddings(result, tmp_path / "out.npy")
    assert np.array_equal(np.load(tmp_path / "out.npy"), result.embeddings)
    assert (tmp_path / "out.paths.txt").read_text().splitlines() == [str(p) for p in result.paths]
    save_embeddings(result, tmp_path / "out.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[1]["path"].endswith("b.png") and rows[1]["embedding"][1] == 1.0 and len(rows[1]["embedding"]) == 16
    with pytest.raises(DataError, match=".npy or .jsonl"):
        save_embeddings(result, tmp_path / "out.csv")


def test_nearest_ranks_by_cosine_and_skips_the_query(tmp_path):
    paths = [tmp_path / f"{name}.png" for name in "abcd"]
    embeddings = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], np.float32)
    neighbours = nearest(np.array([1, 0], np.float32), embeddings, paths, top=2, exclude=paths[0])
    assert [(item.path.name, round(item.similarity, 3)) for item in neighbours] == [("b.png", 0.8), ("c.png", 0.0)]
    with pytest.raises(DataError):
        nearest(embeddings[0], embeddings, paths, top=0)


def test_contact_sheet_shows_query_and_neighbours(picture_folder, tmp_path):
    paths = [picture_folder / name for name in ("astronaut.png", "lfw_000.png", "lfw_010.png")]
    out = contact_sheet(paths[0], [type("N", (), {"path": p, "similarity": 0.5})() for p in paths[1:]], tmp_path / "s.png")
    with Image.open(out) as sheet:
        assert sheet.size == (3 * 160, 160 + 30)
        assert sheet.getpixel((2, 2))[0] > 200 and sheet.getpixel((2, 2))[1] < 80  # the query's red border


class RefusingEmbedder:
    """Fails every request with a ClientError of the given status; counts the requests."""

    def __init__(self, status: str | None):
        self.status, self.requests = status, 0

    def embed(self, payloads):
        self.requests += 1
        raise ClientError("fecnet: refused", self.status)


@pytest.mark.parametrize("status, requests", [("400", 4), ("StatusCode.INVALID_ARGUMENT", 4), ("500", 1), (None, 1)])
def test_only_a_refused_batch_is_retried_picture_by_picture(tmp_path, status, requests):
    paths = [tmp_path / f"{index}.png" for index in range(3)]
    for path in paths:
        path.write_bytes(b"x")
    embedder = RefusingEmbedder(status)
    done, failures = embed_chunk(embedder, paths)
    assert (done, embedder.requests) == ([], requests)  # a server failure is not sent again picture by picture
    assert failures == {path: "fecnet: refused" for path in paths}


@pytest.mark.parametrize("kind, device_id, expected", [
    ("GPU", "2", {"provider": "cuda", "provider_options": {"device_id": 2}, "threads": None}),
    ("CPU", "0", {"provider": "cpu", "threads": None}),
])
def test_the_ort_python_model_runs_on_the_gpu_triton_gives_its_instance(monkeypatch, kind, device_id, expected):
    """model.py of the ort-python kind, with Triton's python-backend module faked and the runner recorded."""
    from fec import runtimes
    from fec.triton.python_models import RUNNER_EMBEDDING

    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", types.ModuleType("triton_python_backend_utils"))
    made = []

    class Runner:
        def activate(self):
            pass

        def infer(self, batch):
            return batch

    def create_runner(name, model, **options):
        made.append((name, options))
        return Runner()

    monkeypatch.setattr(runtimes, "create_runner", create_runner)
    path = Path(__file__).resolve().parents[2] / "fec" / "triton" / "python_models" / RUNNER_EMBEDDING
    spec = importlib.util.spec_from_file_location("fec_runner_model_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = {"input": [{"name": "images", "dims": [3, 112, 112]}], "output": [{"name": "embeddings"}],
              "parameters": {"runner": {"string_value": "onnxruntime"}, "onnx_file": {"string_value": "model.onnx"}}}
    module.TritonPythonModel().initialize({"model_config": json.dumps(config), "model_repository": "/repo",
                                           "model_version": "1", "model_instance_kind": kind,
                                           "model_instance_device_id": device_id})
    assert made == [("onnxruntime", expected)]
