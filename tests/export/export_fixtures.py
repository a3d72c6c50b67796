"""The test session's model: a FECNet trained briefly on synthetic faces, and its ONNX exports.

Built once per test session under pytest's base temporary folder (under pytest-xdist, the one its
workers share) and reused by every test folder that asks (tests/export, tests/cli, tests/test_verify.py):
each builder returns at once when its result is already on disk.

Why ResNet18: a model trained for a few CPU steps is near chance, its triplet decisions are near-ties
and its embeddings sit close together, so INT8 rounding matters more than it would on a trained
model. ResNet18 quantizes well; the MobileNetV3-small trunk of the same brief training gave INT8
worst-face cosines between 0.90 and 0.99 from one training run to the next (depthwise and
squeeze-excite layers), which would make the INT8 test a coin toss rather than a check.

Why BatchNorm statistics are re-estimated after training: after a handful of steps the running
statistics still mostly hold their initial values (torchvision's ResNet updates them with momentum
0.1, MobileNetV3 with 0.01), and the eval-mode model maps every face to nearly the same embedding
(measured on MobileNetV3-small: mean squared distance ~1e-13 between faces, every triplet a tie).
The running mean/var are recomputed over the training faces (weights untouched), giving an
eval-mode model whose embeddings differ between faces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

SYNTH = {"triplets": 1000, "seed": 0, "image_size": 64, "test_fraction": 0.6}  # 400 train, 600 test triplets
# The paper's ResNet18 as it was, without per-image standardisation: trained 4 steps it is at chance,
# where INT8's worst cosine measures noise. With standardisation it fell to 0.971 (< 0.98) while the
# trained demo model's INT8 export passes with 0.9955 (benchmarks/README.md); standardised models are
# exported, verified and served through the Triton fixture and the demo.
TRAINING = {"model": "resnet18", "max_steps": 4, "batch_size": 8, "warmup_steps": 2, "face_size": 112,
            "eval_every": 1000, "checkpoint_every": 1000, "val_fraction": 0.05, "seed": 0, "standardize_input": False,
            "amp": "off"}  # fp32 on every CPU kind: the fixture's figures below were measured so
CALIBRATION_FACES = 128
BATCH_NORM_FACES = 128


@dataclass(frozen=True)
class TrainedModel:
    root: Path
    checkpoint: Path
    train_csv: Path
    test_csv: Path


def trained_model(base: Path) -> TrainedModel:
    root = Path(base) / "fec-trained-model"
    model = TrainedModel(root, root / "model.pt", root / "data" / "train.csv", root / "data" / "test.csv")
    if model.checkpoint.is_file():
        return model
    from fec.data.synth import write_synthetic_dataset
    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    write_synthetic_dataset(root / "data", **SYNTH)
    # the trainer's own end-of-run test report is not used here: give it a dozen triplets, not 600
    smoke = root / "data" / "smoke.csv"
    smoke.write_text("".join(model.train_csv.read_text().splitlines(keepends=True)[:12]))
    config = load_config(None, {"data": str(root / "data"), "test_data": str(smoke), **TRAINING})
    Trainer(config, root / "run", quiet=True).fit()
    recalibrate_batch_norm(root / "run" / "last.pt", model.train_csv, model.checkpoint)
    return model


def recalibrate_batch_norm(source: Path, train_csv: Path, target: Path) -> None:
    """Re-estimate BatchNorm running statistics on the training faces; save as a new checkpoint."""
    from fec.data.dataset import load_triplets
    from fec.models.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
    from fec.preprocessing import normalize_uint8

    model, prep, _ = model_from_checkpoint(source)
    faces = load_triplets(train_csv, prep.input_size, face_size=TRAINING["face_size"]).dataset.faces
    count = min(len(faces), BATCH_NORM_FACES)
    norms = [module for module in model.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over all batches
    model.train()
    with torch.no_grad():
        for start in range(0, count, 64):
            batch = np.stack([faces[i] for i in range(start, min(start + 64, count))])
            model(torch.from_numpy(normalize_uint8(batch, prep)))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    payload = read_checkpoint(source)
    payload["state_dict"] = model.state_dict()
    save_checkpoint(target, {key: value for key, value in payload.items() if key not in ("format", "fec_version")})


def run_cli(main, args: list[str]):
    """Invoke a click command in-process; return the click Result."""
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def onnx_exports(base: Path, model: TrainedModel) -> dict[str, Path]:
    """fp32 exported from the checkpoint by fec-export; fp16 and int8 (CPU) derived from that fp32 file."""
    from fec.cli.export import main

    root = Path(base) / "fec-onnx-exports"
    folders = {precision: root / precision for precision in ("fp32", "fp16", "int8")}
    if all((folder / "manifest.json").is_file() for folder in folders.values()):
        return folders
    commands = {
        "fp32": [model.checkpoint, "--format", "onnx", "--out", folders["fp32"], "--quiet"],
        "fp16": [folders["fp32"] / "model.onnx", "--format", "onnx", "--precision", "fp16", "--out", folders["fp16"], "--quiet"],
        "int8": [folders["fp32"] / "model.onnx", "--format", "onnx", "--precision", "int8", "--calib-data", model.train_csv,
                 "--calib-size", CALIBRATION_FACES, "--out", folders["int8"], "--quiet"],
    }
    for precision, args in commands.items():
        result = run_cli(main, args)
        assert result.exit_code == 0, f"fec-export {precision}: {result.output}"
    return folders


def manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())
