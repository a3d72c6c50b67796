"""Evaluate an embedding model on a triplet dataset: embed each unique face once, then score triplets.

The model is any `embed(uint8 NHWC batch) -> (N, D) float array`, so PyTorch, ONNX Runtime, TensorRT
and Triton are all scored by this one function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fec.data.dataset import FaceCrops, FaceImages, LoadedTriplets, TripletDataset, load_triplets, triplet_csv
from fec.data.triplets import TRIPLET_TYPES
from fec.hardware import resolve_device
from fec.io import atomic_path
from fec.metrics import Accuracy, accuracy_report, correct_predictions, pair_distances
from fec.preprocessing import Preprocessing, normalize_tensor

Embedder = Callable[[np.ndarray], np.ndarray]
TYPE_NAMES = np.array([kind.value for kind in TRIPLET_TYPES])


@dataclass
class Evaluation:
    report: dict[str, Accuracy]
    embeddings: np.ndarray      # (N, 3, D): the three faces of each triplet, in CSV order
    odd_index: np.ndarray       # (N,) 0-based
    types: np.ndarray           # (N,) official type names
    agreement: np.ndarray
    rows: np.ndarray            # CSV line numbers
    correct: np.ndarray

    def to_json(self) -> dict:
        return {name: result.to_dict() for name, result in self.report.items()}

    def save_embeddings(self, path: str | Path) -> None:
        """Arrays a, b, c (embeddings of faces 1..3), odd (1..3), type, agreement, row as .npz."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, a=self.embeddings[:, 0], b=self.embeddings[:, 1], c=self.embeddings[:, 2],
                         odd=self.odd_index + 1, type=self.types, agreement=self.agreement, row=self.rows)


def embed_faces(embed: Embedder, faces: FaceImages, batch_size: int = 256, quiet: bool = True) -> np.ndarray:
    """Embeddings (U, D) of every unique face, in batches."""
    chunks = []
    starts = range(0, len(faces), batch_size)
    for start in tqdm(starts, desc="embed", unit="batch", disable=quiet, leave=False):
        batch = np.stack([faces[i] for i in range(start, min(start + batch_size, len(faces)))])
        chunks.append(np.asarray(embed(batch), dtype=np.float32))
    return np.concatenate(chunks)


def score_embeddings(face_embeddings: np.ndarray, dataset: TripletDataset) -> Evaluation:
    """Triplet accuracy from per-face embeddings."""
    embeddings = face_embeddings[dataset.face_index]
    odd_index = torch.from_numpy(dataset.odd_index)
    correct = correct_predictions(pair_distances(torch.from_numpy(embeddings)), odd_index).numpy()
    types = TYPE_NAMES[dataset.type_index]
    report = accuracy_report(correct, types, dataset.agreement)
    rows = np.array([t.line for t in dataset.triplets], dtype=np.int64)
    return Evaluation(report, embeddings, dataset.odd_index, types, dataset.agreement, rows, correct)


def evaluate(embed: Embedder, dataset: TripletDataset, batch_size: int = 256, quiet: bool = True) -> Evaluation:
    return score_embeddings(embed_faces(embed, dataset.faces, batch_size, quiet), dataset)


def torch_embedder(model: torch.nn.Module, prep: Preprocessing, device: torch.device | str = "cpu",
                   autocast_dtype: torch.dtype | None = None) -> Embedder:
    """Wrap a model as an Embedder: uint8 NHWC -> normalised NCHW on `device` -> embeddings."""
    device = torch.device(device)

    @torch.inference_mode()
    def embed(batch: np.ndarray) -> np.ndarray:
        images = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            embeddings = model(normalize_tensor(images, prep))
        return embeddings.float().cpu().numpy()

    return embed


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path, *, store: str | Path | None = None,
                        face_size: int | None = None, device: str = "auto", batch_size: int = 256,
                        skip_bad_rows: bool = False, data_root: str | Path | None = None,
                        allow_outside_paths: bool = False, quiet: bool = True) -> tuple[Evaluation, list[str]]:
    """Score a checkpoint on a triplet CSV (or a dataset folder's test.csv), its faces cropped as in training.

    Returns the evaluation and the data's warnings (malformed rows skipped, triplets dropped).
    """
    model, prep, loaded = checkpoint_faces(checkpoint, data, store=store, face_size=face_size, skip_bad_rows=skip_bad_rows,
                                           data_root=data_root, allow_outside_paths=allow_outside_paths, quiet=quiet)
    target = resolve_device(device)
    return evaluate(torch_embedder(model.to(target), prep, target), loaded.dataset, batch_size, quiet), loaded.warnings()


def checkpoint_faces(checkpoint: str | Path, data: str | Path, *, store: str | Path | None = None,
                     face_size: int | None = None, skip_bad_rows: bool = False, data_root: str | Path | None = None,
                     allow_outside_paths: bool = False,
                     quiet: bool = True) -> tuple[torch.nn.Module, Preprocessing, LoadedTriplets]:
    """A checkpoint's model (on the CPU) and preprocessing, and a triplet CSV's faces cropped as in its training."""
    from fec.models.checkpoint import model_from_checkpoint

    model, prep, payload = model_from_checkpoint(checkpoint)
    crops = FaceCrops.recorded(payload.get("config"), face_size, f"{checkpoint}: config")
    loaded = load_triplets(triplet_csv(data), prep.input_size, store, crops.size, crops.margin, skip_bad_rows,
                           quiet=quiet, allow_outside_paths=allow_outside_paths, data_root=data_root)
    return model, prep, loaded
