"""The photo model in a repository (fec-triton --photos): its config, what it calls, when it is written and loaded."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from triton_helpers import TRAINED_CONVENTION

from fec.triton import checks
from fec.triton.errors import RepositoryError
from fec.triton.exports import read_exports
from fec.triton.repository import RepositoryOptions, write_repository

pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="config checks need tritonclient[grpc]")


@pytest.fixture(scope="module")
def photo_repo(onnx_export, tmp_path_factory):
    """The default repository (embedding kind onnx) with the photo model, as fec-triton --photos writes it."""
    pytest.importorskip("facenet_pytorch", reason="--photos needs facenet-pytorch (pip install --no-deps facenet-pytorch)")
    repo = tmp_path_factory.mktemp("photo-repo") / "repo"
    write_repository(read_exports([onnx_export]), RepositoryOptions(max_batch=16, photos=True, preprocess_instances=3), repo)
    return repo


def test_the_photo_model_config_is_triton_valid_and_documented(photo_repo):
    config = checks.parse_config((photo_repo / "fecnet_photo/config.pbtxt").read_text(), "fecnet_photo")
    checks.check_common(config)
    assert (config.backend, config.max_batch_size, [group.count for group in config.instance_group]) == ("python", 0, [3])
    assert not config.HasField("dynamic_batching") and not config.model_warmup
    assert [(tensor.name, list(tensor.dims)) for tensor in config.input] == [("image", [1])]
    assert [(tensor.name, list(tensor.dims)) for tensor in config.output] == [
        ("boxes", [-1, 4]), ("scores", [-1]), ("landmarks", [-1, 5, 2]), ("embeddings", [-1, 16]), ("left_out", [1])]
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    assert (parameters["max_faces"], parameters["time_budget_s"]) == ("32", "30")  # RepositoryOptions' defaults
    assert parameters["embedding_model"] == "fecnet_onnx"  # the ensemble's embedding model, called through BLS
    assert (parameters["embedding_input"], parameters["embedding_output"], parameters["embedding_max_batch"]) == (
        "images", "embeddings", "16")
    assert json.loads(parameters["preprocessing"])["input_size"] == 112
    assert json.loads(parameters["box_convention"]) == TRAINED_CONVENTION.to_dict()  # training's, through the export
    assert "boxed as training's boxes were drawn" in (photo_repo / "fecnet_photo/config.pbtxt").read_text()
    assert "InferenceRequest" in (photo_repo / "fecnet_photo/1/model.py").read_text()
    assert "## Tensors of `fecnet_photo`" in (photo_repo / "README.md").read_text()


def test_the_photo_model_is_skipped_with_the_model_it_calls(photo_repo):
    from fec.triton.server import plan_loading

    loaded, skipped = plan_loading(photo_repo, frozenset({"python"}))
    assert skipped["fecnet_photo"] == "the model it calls, fecnet_onnx, cannot be loaded"
    assert sorted(loaded) == ["fecnet_ort_python", "fecnet_preprocess"]
    loaded, skipped = plan_loading(photo_repo, frozenset({"python", "onnxruntime"}))
    assert "fecnet_photo" in loaded and skipped == {}


def test_without_photos_there_is_no_photo_model(onnx_export, tmp_path):
    write_repository(read_exports([onnx_export]), RepositoryOptions(embedding="ort-python"), tmp_path / "repo")
    assert not (tmp_path / "repo" / "fecnet_photo").exists()
    assert "fecnet_photo" not in (tmp_path / "repo" / "README.md").read_text()


def test_photos_without_the_detector_installed_is_one_line(monkeypatch):
    import fec.detect

    monkeypatch.setattr(fec.detect, "missing_package", lambda name: f"face detector {name!r} needs facenet-pytorch")
    with pytest.raises(RepositoryError, match=r"^--photos: face detector 'mtcnn' needs facenet-pytorch$"):
        RepositoryOptions(photos=True).validate()


def test_fec_triton_photos_writes_and_lists_it(onnx_export, tmp_path):
    pytest.importorskip("facenet_pytorch", reason="--photos needs facenet-pytorch")
    from fec.cli import triton as triton_cli

    result = CliRunner().invoke(triton_cli.main, [str(onnx_export), "--repo", str(tmp_path / "repo"), "--embedding",
                                                  "ort-python", "--photos"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("fecnet_photo"))
    assert "a photo -> every face's box, score, landmarks and fecnet_ort_python embedding" in line


def test_fec_triton_box_convention_overrides_the_exports(onnx_export, tmp_path):
    pytest.importorskip("facenet_pytorch", reason="--photos needs facenet-pytorch")
    from fec.cli import triton as triton_cli

    def package(*extra: str):
        return CliRunner().invoke(triton_cli.main, [str(onnx_export), "--repo", str(tmp_path / "repo"), "--embedding",
                                                    "ort-python", *extra], catch_exceptions=False)

    result = package("--photos", "--box-convention", "none")
    assert result.exit_code == 0, result.output
    config = checks.parse_config((tmp_path / "repo/fecnet_photo/config.pbtxt").read_text(), "fecnet_photo")
    assert config.parameters["box_convention"].string_value == ""
    assert "boxed as MTCNN boxed them (no box convention)" in (tmp_path / "repo/fecnet_photo/config.pbtxt").read_text()
    refused = package("--box-convention", "none")
    assert refused.exit_code == 2 and "--box-convention applies to the photo model: add --photos" in refused.output



def test_a_box_convention_of_another_detector_is_refused_for_the_photo_model(onnx_export, tmp_path):
    """MTCNN finds the photo model's faces: a convention fitted on another detector's boxes would crop them wrong."""
    pytest.importorskip("facenet_pytorch", reason="--photos needs facenet-pytorch")
    from dataclasses import replace

    from fec.cli import triton as triton_cli
    from fec.detect.convention import write_box_convention

    write_box_convention(tmp_path / "haar.json", replace(TRAINED_CONVENTION, detector="haar"))
    result = CliRunner().invoke(triton_cli.main, [str(onnx_export), "--repo", str(tmp_path / "repo"), "--photos",
                                                  "--box-convention", str(tmp_path / "haar.json")])
    assert result.exit_code == 2 and not (tmp_path / "repo").exists()
    assert result.stderr.strip() == ("error: fecnet_photo (the photo model): the box convention was fitted on haar "
                                     "boxes, but faces here are found by mtcnn, which draws its boxes elsewhere; fit one "
                                     "with fec-data fit-boxes --detector mtcnn, or give --box-convention none")
