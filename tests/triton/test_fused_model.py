"""The python kinds' `fecnet` in one model (fused_model.py): normalising by table, the embedder, decoding a large JPEG
at the size its face needs, and the repository that writes it."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest
from triton_helpers import cosines, jpeg_bytes

from fec.artifacts import FLOAT32_NCHW, UINT8_NHWC
from fec.data.triplets import FaceBox
from fec.hardware import cpu_info
from fec.preprocessing import Preprocessing, crop_box, decode_image, normalize_uint8, resize_uint8
from fec.runtimes.onnxruntime_runner import OnnxRuntimeRunner
from fec.triton import checks
from fec.triton.exports import read_exports
from fec.triton.fused import PictureEmbedder, normalise_faces, normalising_table
from fec.triton.repository import MARKER, RepositoryOptions, write_repository
from fec.triton.serving import (
    FaceSettings,
    RequestFailure,
    decoded,
    prepare_faces,
    working_side,
)

PREP = Preprocessing(64)


def image_tensor(payloads: list[bytes]) -> np.ndarray:
    tensor = np.empty((len(payloads), 1), dtype=object)
    tensor[:, 0] = payloads
    return tensor


def test_the_table_normalises_every_level_bit_for_bit_like_normalize_uint8():
    prep = Preprocessing(64, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    table = normalising_table(prep)
    assert table.shape == (3, 256) and table.dtype == np.float32
    assert table[0, 0] == np.float32(-2.5) and table[2, 255] == pytest.approx((1.0 - 0.3) / 0.3)
    faces = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    batch = normalise_faces(faces, table)
    assert batch.shape == (5, 3, 64, 64) and batch.flags.c_contiguous
    assert np.array_equal(batch, normalize_uint8(faces, prep))  # the same float32 values, so the same embeddings


def test_the_embedder_runs_every_request_as_one_normalised_batch_and_fails_a_bad_one_alone(pictures):
    batches = []

    def infer(batch):
        batches.append(batch)
        return batch.reshape(len(batch), -1)[:, :4].copy()

    embedder = PictureEmbedder.for_model(FaceSettings(PREP, margin=0.1), infer, FLOAT32_NCHW)
    good = [p for p in pictures if p.box is not None][:2]
    boxes = np.array([[good[1].box.left, good[1].box.right, good[1].box.top, good[1].box.bottom]], np.float32)
    results = embedder.embed([(image_tensor([good[0].payload, pictures[0].payload]), None),
                              (image_tensor([b"not a picture"]), None),
                              (image_tensor([good[1].payload]), boxes)])
    assert len(batches) == 1 and batches[0].shape == (3, 3, 64, 64) and batches[0].dtype == np.float32
    expected = prepare_faces([good[0].payload, pictures[0].payload, good[1].payload], PREP,
                             [None, None, FaceBox(*boxes[0].tolist())], margin=0.1)
    assert np.array_equal(batches[0], expected)  # what the ensemble's two steps made, bit for bit
    assert [r.shape for r in (results[0], results[2])] == [(2, 4), (1, 4)]
    assert np.array_equal(results[2], expected[2:].reshape(1, -1)[:, :4])
    assert isinstance(results[1], RequestFailure) and results[1].code == "INVALID_ARG"
    assert results[1].message.startswith("image 0: not a readable image")


def test_a_model_taking_uint8_faces_gets_them_unnormalised(pictures):
    fed = []
    embedder = PictureEmbedder.for_model(FaceSettings(PREP), lambda batch: fed.append(batch) or np.ones((len(batch), 2),
                                                                                                  np.float32), UINT8_NHWC)
    (result,) = embedder.embed([(image_tensor([pictures[0].payload]), None)])
    assert embedder.table is None and fed[0].dtype == np.uint8 and fed[0].shape == (1, 64, 64, 3)
    assert np.array_equal(fed[0][0], resize_uint8(decode_image(pictures[0].payload), 64)) and result.shape == (1, 2)


def test_a_runtime_failure_fails_every_request_of_the_batch_as_the_servers_fault(pictures):
    def broken(batch):
        raise RuntimeError("no memory")

    results = PictureEmbedder.for_model(FaceSettings(PREP), broken, FLOAT32_NCHW).embed(
        [(image_tensor([p.payload]), None) for p in pictures[:2]] + [(image_tensor([b"GIF89a"]), None)])
    assert results[:2] == [RequestFailure("RuntimeError: no memory", client_fault=False)] * 2
    assert results[2].client_fault  # a bad picture stays its own request's fault


def test_a_request_without_pictures_fails_alone_as_the_clients_fault(pictures):
    embedder = PictureEmbedder.for_model(FaceSettings(PREP), lambda batch: np.ones((len(batch), 2), np.float32),
                                         UINT8_NHWC)
    empty = np.empty((0, 1), dtype=object)
    alone = embedder.embed([(empty, None)])
    beside = embedder.embed([(empty, None), (image_tensor([pictures[0].payload]), None)])
    assert alone == [RequestFailure("empty batch: send at least one image", client_fault=True)] == beside[:1]
    assert np.array_equal(beside[1], np.ones((1, 2)))


def test_non_finite_embeddings_fail_their_own_request_alone(pictures):
    def half_broken(batch):
        embeddings = np.ones((len(batch), 2), np.float32)
        embeddings[1, 0] = np.nan
        return embeddings

    results = PictureEmbedder.for_model(FaceSettings(PREP), half_broken, UINT8_NHWC).embed(
        [(image_tensor([pictures[0].payload]), None), (image_tensor([pictures[1].payload, pictures[2].payload]), None),
         (image_tensor([pictures[3].payload]), None)])
    assert np.array_equal(results[0], np.ones((1, 2))) and np.array_equal(results[2], np.ones((1, 2)))
    assert results[1] == RequestFailure("the model produced non-finite embeddings for finite inputs", client_fault=False)


def mosaic_jpeg(tiles: int) -> bytes:
    """A real photo's detail at its own resolution, tiles x tiles times: the astronaut, 512 px a tile."""
    from skimage import data

    return jpeg_bytes(np.tile(data.astronaut(), (tiles, tiles, 1)))


def test_small_pictures_decode_whole_and_a_large_jpeg_at_the_size_its_face_needs(pictures):
    assert all(working_side(p.payload, 64, p.box) is None for p in pictures)  # PNGs, a 512 px JPEG: exact as training
    large = mosaic_jpeg(2)  # 1024 x 1024: over a megapixel
    assert working_side(large, 64) == 128  # 1/8: the whole picture keeps 2 x 64 px
    assert working_side(large, 112) == 256  # 1/4
    small_face = FaceBox(0.33 / 2, 0.68 / 2, 0.05 / 2, 0.45 / 2)  # 179 px wide: under 2 x 2 x 64, decoded whole
    assert working_side(large, 64, small_face) is None
    assert working_side(large, 64, FaceBox(0.0, 0.5, 0.0, 0.5), margin=0.5) == 256  # the margin's pixels count
    assert working_side(b"\xff\xd8 no JPEG after all", 64) is None  # left to the decoder to refuse in its words


@pytest.mark.parametrize("size", [64, 112])
def test_a_large_jpeg_decoded_scaled_makes_nearly_the_whole_decodes_face(size):
    large, prep = mosaic_jpeg(2), Preprocessing(size)
    pixels = prepare_faces([large], prep, output_format=UINT8_NHWC).astype(int)
    assert np.abs(pixels[0] - resize_uint8(decode_image(large), size).astype(int)).mean() < 2.0  # of 255 levels
    boxed = FaceBox(0.33 / 2, 0.68 / 2, 0.05 / 2, 0.45 / 2)  # too few pixels to scale: exact
    expected = resize_uint8(crop_box(decode_image(large), boxed), size)
    assert np.array_equal(prepare_faces([large], prep, [boxed], output_format=UINT8_NHWC)[0], expected)


def test_a_large_jpeg_decoded_scaled_embeds_as_its_whole_decode(onnx_export):
    """The session model (2 training steps) magnifies pixel noise: the same mosaic saved at JPEG quality 85 instead
    of 92 moves its embedding to a cosine of 0.995; the scaled decode moves it as little (0.997). The demo model,
    trained: 0.99996 for quality 85 and 0.9996 for the scaled decode (benchmarks/triton.md)."""
    large, prep = mosaic_jpeg(2), Preprocessing(112)  # the session model's input
    whole = normalize_uint8(resize_uint8(decode_image(large), 112)[None], prep)
    with OnnxRuntimeRunner(onnx_export / "model.onnx", threads=1) as runner:
        assert cosines(runner.infer(prepare_faces([large], prep)), runner.infer(whole)).min() > 0.99


def test_a_large_jpeg_is_decoded_at_an_eighth_of_its_pixels_per_side():
    """What makes it cheaper (benchmarks/triton.md times it): a 2048 px JPEG for a 64 px face is decoded in its DCT
    at 256 px, 1/64 of the pixels."""
    large = mosaic_jpeg(4)  # 2048 x 2048
    assert decoded(large, "image 0", working_side(large, 64)).picture.size == (256, 256)
    assert decoded(large, "image 0").picture.size == (2048, 2048)  # no working side: whole, as training decodes


def read_config(path):
    return checks.parse_config(path.read_text(encoding="utf-8"), str(path))


@pytest.mark.parametrize("kind, runner", [("ort-python", "onnxruntime"), ("ov-python", "openvino")])
def test_the_python_kinds_fecnet_is_one_python_model_with_the_ensembles_tensors(onnx_export, tmp_path, kind, runner):
    summary = write_repository(read_exports([onnx_export]), RepositoryOptions(embedding=kind, max_batch=16),
                               tmp_path / "repo")
    fused = read_config(tmp_path / "repo/fecnet/config.pbtxt")
    parameters = {key: value.string_value for key, value in fused.parameters.items()}
    assert (fused.backend, fused.platform, fused.max_batch_size) == ("python", "", 16)
    assert [(t.name, t.data_type, list(t.dims), t.optional) for t in fused.input] == [("image", 13, [1], False),
                                                                                        ("box", 11, [4], True)]
    assert [(t.name, list(t.dims)) for t in fused.output] == [("embeddings", [16])]
    assert [(g.kind, g.count) for g in fused.instance_group] == [(2, max(2, cpu_info().cores))]  # KIND_CPU
    assert fused.dynamic_batching.max_queue_delay_microseconds == 0  # the default: no wait for a fuller batch
    assert fused.dynamic_batching.default_queue_policy.default_timeout_microseconds == 30_000_000  # queues stay bounded
    assert parameters["runner"] == runner and parameters["onnx_file"] == "model.onnx"
    assert parameters["intra_op_threads"] == "1"  # several instances share the cores: one thread each
    assert parameters["pin_cores"] == "1"  # each instance on a core of its own, where there are enough
    assert json.loads(parameters["preprocessing"])["input_size"] == 112 and parameters["output_format"] == "float32-nchw"
    assert (tmp_path / "repo/fecnet/1/model.onnx").read_bytes() == (onnx_export / "model.onnx").read_bytes()
    assert "PictureEmbedder" in (tmp_path / "repo/fecnet/1/model.py").read_text()
    marker = json.loads((tmp_path / "repo" / MARKER).read_text())
    assert summary.embedding_model == marker["embedding_model"] == f"fecnet_{kind.replace('-', '_')}"
    assert marker["fused"] is True and "`fecnet` is one python model" in (tmp_path / "repo/README.md").read_text()


def test_asked_instances_threads_and_placement_are_kept(onnx_export, tmp_path):
    options = RepositoryOptions(embedding="ort-python", preprocess_instances=3, ort_threads=2, pin_cores=False)
    write_repository(read_exports([onnx_export]), options, tmp_path / "repo")
    fused = read_config(tmp_path / "repo/fecnet/config.pbtxt")
    assert fused.instance_group[0].count == 3 and fused.parameters["intra_op_threads"].string_value == "2"
    assert fused.parameters["pin_cores"].string_value == "0"


@pytest.mark.parametrize("name, kind, count, allowed, core", [
    ("fecnet_0_1", "CPU", 2, {0, 1}, 1), ("fecnet_0_0", "CPU", 2, {4, 7}, 4), ("fecnet_0_2", "CPU", 3, {3, 5, 9}, 9),
    ("fecnet_0_2", "CPU", 3, {0, 1}, None),  # more instances than cores: the scheduler places them
    ("fecnet_0_0", "CPU", 2, {0, 1, 2, 3}, None),  # spare cores: the scheduler balances them
    ("fecnet_0_0", "CPU", 1, {0, 1}, None),  # a lone instance may use every core
    ("fecnet_0_1", "GPU", 2, {0, 1}, None), ("fecnet", "CPU", 2, {0, 1}, None), ("fecnet_0_5", "CPU", 2, {0, 1}, None)])
def test_an_instance_is_pinned_to_its_own_core_only_where_there_is_one_core_each(monkeypatch, name, kind, count, allowed,
                                                                                 core):
    import os

    from fec.triton.fused import pin_instance

    pinned = {}
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: allowed)
    monkeypatch.setattr(os, "sched_setaffinity", lambda thread, cores: pinned.update({thread: cores}))
    monkeypatch.setattr(os, "listdir", lambda path: ["100", "101"] if path == "/proc/self/task" else [])
    config = {"instance_group": [{"count": count, "kind": f"KIND_{kind}"}]}
    assert pin_instance({"model_instance_name": name, "model_instance_kind": kind}, config) == core
    assert pinned == ({} if core is None else {100: {core}, 101: {core}})


def test_ov_python_compiles_for_each_batch_size_when_the_verified_backend_did(onnx_export, tmp_path):
    """fec-deploy's openvino-static choice is served as it was verified: OpenVINO compiled per batch size."""
    options = RepositoryOptions(embedding="ov-python", openvino_static_shapes=True)
    write_repository(read_exports([onnx_export]), options, tmp_path / "repo")
    for model in ("fecnet", "fecnet_ov_python"):
        parameters = read_config(tmp_path / f"repo/{model}/config.pbtxt").parameters
        assert (parameters["runner"].string_value, parameters["static_shapes"].string_value) == ("openvino", "1")
    write_repository(read_exports([onnx_export]), RepositoryOptions(embedding="ov-python"), tmp_path / "dynamic")
    assert "static_shapes" not in read_config(tmp_path / "dynamic/fecnet/config.pbtxt").parameters


def test_the_native_kinds_keep_the_ensemble(onnx_export, tmp_path):
    summary = write_repository(read_exports([onnx_export]), RepositoryOptions(embedding="onnx"), tmp_path / "repo")
    assert read_config(tmp_path / "repo/fecnet/config.pbtxt").platform == "ensemble" and not summary.fused
    assert "The ensemble `fecnet` uses `fecnet_onnx`." in (tmp_path / "repo/README.md").read_text()


@pytest.mark.parametrize("external_weights", [None, "weights.bin"])
def test_the_fused_models_onnx_runtime_takes_uint8_faces_and_leaves_no_scratch_file(tmp_path, monkeypatch,
                                                                                    external_weights):
    from tiny_export import SIZE, tiny_onnx

    from fec.triton.fused import runner_for_faces
    from fec.triton.serving import runner_from_args

    (tmp_path / "fecnet" / "1").mkdir(parents=True)
    tiny_onnx(tmp_path / "fecnet" / "1" / "model.onnx", external_weights)
    args = {"model_repository": str(tmp_path / "fecnet"), "model_version": "1"}
    parameters = {"onnx_file": "model.onnx", "intra_op_threads": "1"}
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    prep = Preprocessing(SIZE)
    baked, plain = runner_for_faces(args, parameters, prep), runner_from_args(args, parameters)
    assert (baked.input_format, plain.input_format) == (UINT8_NHWC, FLOAT32_NCHW)
    assert list((tmp_path / "scratch").iterdir()) == []
    faces = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    assert np.array_equal(baked.infer(faces), plain.infer(normalise_faces(faces, normalising_table(prep))))
    openvino = runner_for_faces(args, {**parameters, "runner": "openvino"}, prep)  # runs the file as it is
    assert openvino.input_format == FLOAT32_NCHW


def test_an_instance_the_system_refuses_to_pin_runs_where_the_scheduler_puts_it(monkeypatch):
    import os

    from fec.triton.fused import pin_instance

    def refuse(thread, cores):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    config = {"instance_group": [{"count": 2}]}
    assert pin_instance({"model_instance_name": "fecnet_0_1", "model_instance_kind": "CPU"}, config) is None
