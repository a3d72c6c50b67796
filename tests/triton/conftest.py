"""Session fixtures for the Triton tests: one trained checkpoint, its ONNX export, real pictures, one server.

The checkpoint is trained for 2 steps and then has its BatchNorm statistics recomputed on real faces:
after 2 steps the running statistics are still at their initial values and every picture embeds
alike (pairwise cosine > 0.9999), which would let a server that preprocesses wrongly pass a cosine
test. Recalibrated, different faces embed far apart (checked in `test_model_tells_faces_apart`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from triton_helpers import TRAINED_CONVENTION, Picture, jpeg_bytes, png_bytes, synthetic_pictures

from fec.data.box_fit import CONVENTION_FILE
from fec.data.triplets import FaceBox
from fec.detect.convention import write_box_convention


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    from fec.data.synth import write_synthetic_dataset

    out = tmp_path_factory.mktemp("triton") / "synth"
    write_synthetic_dataset(out, triplets=60, seed=0, image_size=48)
    write_box_convention(out / CONVENTION_FILE, TRAINED_CONVENTION)  # fec-train finds it beside train.csv
    return out


@pytest.fixture(scope="session")
def pictures(synth_data) -> list[Picture]:
    """Real faces (scikit-image's astronaut, LFW) and synthetic pictures with their face boxes."""
    from skimage import data

    found = [Picture("astronaut.png", png_bytes(data.astronaut())),
             Picture("astronaut-face.jpg", jpeg_bytes(data.astronaut()), FaceBox(0.33, 0.68, 0.05, 0.45))]
    lfw = data.lfw_subset()
    found += [Picture(f"lfw_{index:03d}.png", png_bytes((lfw[index] * 255).round().astype(np.uint8)))
              for index in range(0, 100, 10)]
    found += synthetic_pictures(synth_data, 6)
    return found


@pytest.fixture(scope="session")
def checkpoint(synth_data, pictures, tmp_path_factory) -> Path:
    from fec.models.checkpoint import read_checkpoint, save_checkpoint
    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    run = tmp_path_factory.mktemp("run")
    config = load_config(None, {"data": str(synth_data), "model": "mobilenet_v3_small", "max_steps": 2,
                                "batch_size": 8, "face_size": 64, "val_fraction": 0.0, "amp": "off"})
    Trainer(config, run, quiet=True).fit()
    payload = read_checkpoint(run / "last.pt")
    payload["state_dict"] = recalibrated_state(run / "last.pt", pictures)
    return save_checkpoint(run / "recalibrated.pt", payload)


def recalibrated_state(path: Path, pictures: list[Picture]) -> dict:
    """Weights with BatchNorm running statistics recomputed on the test pictures (see module docstring)."""
    from fec.models.checkpoint import model_from_checkpoint
    from fec.preprocessing import decode_image, preprocess_images

    model, prep, _ = model_from_checkpoint(path)
    batch = torch.from_numpy(preprocess_images([decode_image(p.payload) for p in pictures], prep))
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration pass
    model.train()
    with torch.no_grad():
        model(batch)
    return model.state_dict()


@pytest.fixture(scope="session")
def onnx_export(checkpoint, tmp_path_factory) -> Path:
    """An fp32 ONNX export folder (legacy exporter: same graph contract, 15x faster to make here)."""
    from fec.export import ExportRequest, export_model

    folder = tmp_path_factory.mktemp("export") / "onnx"
    export_model(checkpoint, "onnx", ExportRequest(max_batch=32, opt_batch=8, exporter="legacy"), out=folder)
    return folder


@pytest.fixture(scope="session")
def torch_reference(checkpoint):
    """Embeddings from the PyTorch model, preprocessed by fec.preprocessing directly (not via fec.triton)."""
    from fec.models.checkpoint import model_from_checkpoint
    from fec.preprocessing import crop_box, decode_image, preprocess_images

    model, prep, _ = model_from_checkpoint(checkpoint)

    def embed(picture_list: list[Picture]) -> np.ndarray:
        images = []
        for picture in picture_list:
            image = decode_image(picture.payload)
            images.append(crop_box(image, picture.box) if picture.box else image)
        with torch.no_grad():
            return model(torch.from_numpy(preprocess_images(images, prep))).numpy()

    return embed


@pytest.fixture(scope="session")
def python_repo(onnx_export, tmp_path_factory) -> Path:
    """A repository whose ensemble runs on the python backend only (what the wheel's server has)."""
    from fec.triton.exports import read_exports
    from fec.triton.repository import RepositoryOptions, write_repository

    repo = tmp_path_factory.mktemp("serving") / "repo"
    options = RepositoryOptions(embedding="ort-python", max_batch=16, max_queue_delay_us=2000, ort_threads=1)
    write_repository(read_exports([onnx_export]), options, repo)
    return repo


def require_wheel_server() -> None:
    pytest.importorskip("pytriton", reason="the server tests need the nvidia-pytriton wheel: pip install 'fec[serve]'")
    pytest.importorskip("tritonclient.http", reason="the server tests need tritonclient[http,grpc]")


@pytest.fixture(scope="session")
def server(python_repo, tmp_path_factory):
    """The real tritonserver on 127.0.0.1 (free ports) serving the python-backend repository."""
    require_wheel_server()
    from fec.triton.server import TritonServer

    log = tmp_path_factory.mktemp("server-log") / "tritonserver.log"
    with TritonServer(python_repo, log_path=log) as running:
        yield running


@pytest.fixture(scope="session")
def sample_photos(tmp_path_factory, mtcnn) -> tuple[Path, dict]:
    """The real sample photos as files (tests/helpers.py write_sample_photos) and their known face boxes;
    skipped with the detector (`mtcnn` fixture) where facenet-pytorch is not installed."""
    from tests.helpers import write_sample_photos

    folder = tmp_path_factory.mktemp("photos")
    return folder, write_sample_photos(folder)
