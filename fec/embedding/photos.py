"""`fec-embed --detect`: every face in every photo, through a server's photo model or with a checkpoint here.

`ServerPhotoEmbedder` sends each photo to `<ensemble>_photo` (fec-triton --photos), which detects, aligns and
embeds on the server; `LocalPhotoEmbedder` runs the same `fec.triton.photos.photo_faces` and the checkpoint's
PyTorch model here, with the face margin the checkpoint was trained with. Both give, per photo, its faces
best first with their embeddings (`fec.runtimes.triton_client.EmbeddedFace`), so the records, the files and
the search are the same whichever computed them. A photo with no face is kept in the result (`no_face`),
never dropped silently.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fec.artifacts import UINT8_NHWC
from fec.detect import DEFAULT_DETECTOR, DetectedFace
from fec.errors import DataError, FecError
from fec.io import atomic_open, atomic_path
from fec.runtimes.triton_client import CLIENT_TIMEOUT_S, DEFAULT_ENSEMBLE, EmbeddedFace, PhotoReply
from fec.triton.serving import MAX_FACES, FaceSettings

LOCAL_BATCH = 64  # faces per forward pass of the local model
SHEET_MARGIN = 0.25  # contact-sheet crops show a little more than the box, for the eye's sake


class ServerPhotoEmbedder:
    """Photos -> faces and embeddings through the photo model of a running server (one client per thread)."""

    def __init__(self, url: str, protocol: str = "http", ensemble: str = DEFAULT_ENSEMBLE,
                 timeout: float = CLIENT_TIMEOUT_S):
        from fec.runtimes.triton_client import PHOTO_KIND, TritonClient, model_name

        self.url, self.protocol, self.timeout = url, protocol, timeout
        self.model = model_name(ensemble, PHOTO_KIND)
        self._local = threading.local()
        with TritonClient(url, protocol, timeout) as probe:
            if not probe.model_ready(self.model):
                raise FecError(f"model {self.model!r} is not ready on the server at {url} (write the repository with "
                               "fec-triton --photos or fec-deploy --photos, and serve it with fec-serve)")

    def faces(self, payload: bytes) -> PhotoReply:
        from fec.runtimes.triton_client import TritonClient

        if getattr(self._local, "client", None) is None:
            self._local.client = TritonClient(self.url, self.protocol, self.timeout)
        return self._local.client.detect_faces(payload, self.model)

    def describe(self) -> str:
        return f"Triton {self.protocol} {self.url} model {self.model}"


class LocalPhotoEmbedder:
    """Photos -> faces and embeddings with MTCNN and a checkpoint's PyTorch model on this machine."""

    def __init__(self, checkpoint: str | Path, detector: str = DEFAULT_DETECTOR, box_convention: str | None = None,
                 max_faces: int = MAX_FACES):
        from fec.data.dataset import FaceCrops
        from fec.detect import create_detector
        from fec.detect.convention import BoxConvention, chosen_convention, require_detector
        from fec.evaluate import torch_embedder
        from fec.models.checkpoint import model_from_checkpoint

        self.checkpoint = Path(checkpoint)
        self.detector = create_detector(detector)
        model, self.prep, payload = model_from_checkpoint(checkpoint)
        self.embed_faces = torch_embedder(model, self.prep)  # uint8 NHWC faces -> embeddings, as evaluation embeds
        # training's crops: served photos use them too
        margin = FaceCrops.recorded(payload.get("config"), source=f"{checkpoint}: config").margin
        convention = chosen_convention(box_convention, BoxConvention.recorded(payload, f"{checkpoint}: box_convention"))
        require_detector(convention, detector, box_convention or str(checkpoint))
        self.settings = FaceSettings(self.prep, margin, UINT8_NHWC, convention, max_faces)
        self._lock = threading.Lock()  # one forward at a time; torch parallelises inside

    def faces(self, payload: bytes) -> PhotoReply:
        from fec.triton.photos import embed_in_chunks, photo_faces

        photo = photo_faces(payload, self.detector, self.settings)
        embeddings = embed_in_chunks(self.embed, photo.batch, LOCAL_BATCH, 0)
        return PhotoReply([EmbeddedFace(face, vector) for face, vector in zip(photo.faces, embeddings)], photo.left_out)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            return self.embed_faces(batch)

    def describe(self) -> str:
        convention = self.settings.convention
        boxes = f"boxes as trained: {convention.describe()}" if convention else "detected boxes as they are"
        return f"MTCNN and PyTorch {self.checkpoint} (face margin {self.settings.margin}; {boxes})"


@dataclass(frozen=True)
class FaceRecord:
    """One face of one photo: `index` 0 is the photo's best-scored face."""

    photo: Path
    index: int
    face: DetectedFace
    embedding: np.ndarray

    def to_dict(self) -> dict:
        return {"photo": str(self.photo), "face": self.index, **self.face.to_dict(),
                "embedding": [round(float(value), 7) for value in self.embedding]}


@dataclass
class PhotoResult:
    """Every face found (photos in input order), the photos with none, and the photos that failed and why."""

    records: list[FaceRecord]
    no_face: list[Path] = field(default_factory=list)
    failures: dict[Path, str] = field(default_factory=dict)
    left_out: dict[Path, int] = field(default_factory=dict)   # photos with more faces than the cap: how many more

    @property
    def embeddings(self) -> np.ndarray:
        return np.stack([record.embedding for record in self.records]).astype(np.float32)

    def without(self, photo: Path) -> PhotoResult:
        """The result with one photo's faces (and mentions) taken out: a query photo that was not among the inputs."""
        return PhotoResult([record for record in self.records if record.photo != photo],
                           [path for path in self.no_face if path != photo],
                           {path: reason for path, reason in self.failures.items() if path != photo},
                           {path: count for path, count in self.left_out.items() if path != photo})


def embed_photos(embedder, paths: list[Path], concurrency: int = 4, progress: bool = False) -> PhotoResult:
    """Every face of every photo, `concurrency` photos in flight; a photo that fails is recorded, not fatal."""

    def run(path: Path) -> PhotoReply | str:
        try:
            return embedder.faces(path.read_bytes())
        except (FecError, OSError) as exc:
            return str(exc)
        finally:
            bar.update(1)

    with tqdm(total=len(paths), unit="photo", desc="detect", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        outcomes = list(pool.map(run, paths))
    result = PhotoResult([])
    for path, outcome in zip(paths, outcomes):
        if isinstance(outcome, str):
            result.failures[path] = outcome
            continue
        if not outcome.faces:
            result.no_face.append(path)
        if outcome.left_out:
            result.left_out[path] = outcome.left_out
        result.records += [FaceRecord(path, index, found.face, np.asarray(found.embedding, np.float32))
                           for index, found in enumerate(outcome.faces)]
    return result


def save_faces(result: PhotoResult, out: str | Path) -> Path:
    """.jsonl: one line per face ({"photo", "face", "box", "landmarks", "score", "embedding"}) and one per photo
    without a face ({"photo", "face": null}); .npz: arrays `photo`, `face`, `boxes`, `scores`, `landmarks`,
    `embeddings` (one row per face) and `no_face` (the photos without one)."""
    out = Path(out)
    if out.suffix == ".jsonl":
        with atomic_open(out, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(record.to_dict()) + "\n" for record in result.records)
            handle.writelines(json.dumps({"photo": str(path), "face": None}) + "\n" for path in result.no_face)
        return out
    if out.suffix == ".npz":
        from fec.detect import faces_as_arrays

        arrays = faces_as_arrays([record.face for record in result.records])
        with atomic_path(out) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, photo=np.array([str(record.photo) for record in result.records], dtype=str),
                     face=np.array([record.index for record in result.records], dtype=np.int64),
                     embeddings=result.embeddings if result.records else np.zeros((0, 0), np.float32),
                     no_face=np.array([str(path) for path in result.no_face], dtype=str), **arrays)
        return out
    raise DataError(f"{out}: with --detect, --out must end in .jsonl or .npz")


def query_face(result: PhotoResult, query: Path) -> FaceRecord:
    """The query photo's best face; DataError when it failed or holds none."""
    if query in result.failures:
        raise DataError(f"{query}: the query photo could not be read ({result.failures[query]})")
    best = next((record for record in result.records if record.photo == query and record.index == 0), None)
    if best is None:
        raise DataError(f"{query}: no face found in the query photo")
    return best


def similar_faces(result: PhotoResult, query: FaceRecord, top: int) -> list[tuple[FaceRecord, float]]:
    """The `top` faces whose expression is closest to the query face's (the query face itself left out)."""
    from fec.embedding.retrieval import ranked

    skip = {index for index, record in enumerate(result.records) if record is query}
    return [(result.records[index], similarity) for index, similarity in ranked(query.embedding, result.embeddings, top, skip)]


def face_sheet(query: FaceRecord, neighbours: list[tuple[FaceRecord, float]], out: str | Path) -> Path:
    """A PNG contact sheet of face crops (eyes levelled), each captioned with its photo's name and face number."""
    from fec.embedding.retrieval import QUERY_BORDER, picture_tile, write_sheet

    tiles = [picture_tile(face_crop(query), "query", label(query), QUERY_BORDER)]
    tiles += [picture_tile(face_crop(record), f"#{rank} cos {similarity:.3f}", label(record))
              for rank, (record, similarity) in enumerate(neighbours, 1)]
    return write_sheet(tiles, out)


def face_crop(record: FaceRecord):
    from fec.detect import align_face
    from fec.preprocessing import open_image

    return align_face(open_image(record.photo), record.face, SHEET_MARGIN)


def label(record: FaceRecord) -> str:
    """How a face is named to people: its photo's file name and face number (#0 the best)."""
    return f"{record.photo.name} face {record.index}"
