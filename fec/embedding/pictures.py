"""Embed picture files through a Triton server or locally from a checkpoint, the same way.

`ServerPictureEmbedder` sends encoded bytes to the ensemble (the server preprocesses); `LocalPictureEmbedder`
runs `fec.triton.serving.prepare_faces` and the PyTorch model here. `embed_files` batches the files,
runs batches concurrently, and when the server refuses a batch as a bad request (HTTP 400, gRPC
INVALID_ARGUMENT) retries its pictures one by one, so one unreadable file costs only itself; a
server failure (500, unreachable) fails the batch without sending its pictures again.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fec.errors import DataError, FecError
from fec.io import atomic_open, atomic_path
from fec.runtimes.triton_client import CLIENT_TIMEOUT_S, DEFAULT_ENSEMBLE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


class ServerPictureEmbedder:
    """Pictures -> embeddings through the ensemble of a running server (one client per thread)."""

    def __init__(self, url: str, protocol: str = "http", model: str = DEFAULT_ENSEMBLE,
                 timeout: float = CLIENT_TIMEOUT_S):
        from fec.runtimes.triton_client import TritonClient

        self.url, self.protocol, self.model, self.timeout = url, protocol, model, timeout
        self._local = threading.local()
        probe = TritonClient(url, protocol, timeout)
        if not probe.model_ready(model):
            raise FecError(f"model {model!r} is not ready on the server at {url} (is fec-serve running?)")
        self.max_batch = max(1, probe.max_batch(model))
        probe.close()

    def client(self):
        from fec.runtimes.triton_client import TritonClient

        if getattr(self._local, "client", None) is None:
            self._local.client = TritonClient(self.url, self.protocol, self.timeout)
        return self._local.client

    def embed(self, payloads: list[bytes]) -> np.ndarray:
        return self.client().embed_images(payloads, model=self.model)

    def describe(self) -> str:
        return f"Triton {self.protocol} {self.url} model {self.model}"


class LocalPictureEmbedder:
    """Pictures -> embeddings with a checkpoint's PyTorch model on this machine."""

    max_batch = 64

    def __init__(self, checkpoint: str | Path, device: str = "cpu"):
        import torch

        from fec.models.checkpoint import model_from_checkpoint

        self.checkpoint = Path(checkpoint)
        self.model, self.prep, _ = model_from_checkpoint(checkpoint)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self._lock = threading.Lock()  # one forward at a time; torch parallelises inside

    def embed(self, payloads: list[bytes]) -> np.ndarray:
        import torch

        from fec.triton.serving import prepare_faces

        batch = torch.from_numpy(prepare_faces(payloads, self.prep)).to(self.device)
        with self._lock, torch.inference_mode():
            return self.model(batch).float().cpu().numpy()

    def describe(self) -> str:
        return f"PyTorch {self.checkpoint} on {self.device}"


@dataclass
class EmbeddingResult:
    """Embeddings of the pictures that worked (in input order) and why the others failed."""

    paths: list[Path]
    embeddings: np.ndarray
    failures: dict[Path, str] = field(default_factory=dict)


def list_images(inputs: list[str | Path]) -> list[Path]:
    """Files as given, and the pictures anywhere below given folders (sorted; a face store keeps its crops in
    hash-prefix subfolders); DataError when none."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(path for path in item.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            paths.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    if not paths:
        raise DataError(f"no pictures found in {', '.join(map(str, inputs))} ({'/'.join(IMAGE_SUFFIXES)})")
    return paths


def embed_files(embedder, paths: list[Path], batch_size: int = 16, concurrency: int = 4,
                progress: bool = False) -> EmbeddingResult:
    """Embed `paths` in batches of at most the model's max batch, `concurrency` batches in flight."""
    size = max(1, min(batch_size, embedder.max_batch))
    chunks = [paths[start:start + size] for start in range(0, len(paths), size)]
    with tqdm(total=len(paths), unit="image", desc="embed", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        def run(chunk):
            outcome = embed_chunk(embedder, chunk)
            bar.update(len(chunk))
            return outcome

        outcomes = list(pool.map(run, chunks))
    done = [(path, vector) for outcome in outcomes for path, vector in outcome[0]]
    failures = {path: reason for outcome in outcomes for path, reason in outcome[1].items()}
    embeddings = np.stack([vector for _, vector in done]) if done else np.zeros((0, 0), np.float32)
    return EmbeddingResult([path for path, _ in done], embeddings.astype(np.float32), failures)


REQUEST_REFUSED = ("400", "StatusCode.INVALID_ARGUMENT")  # ClientError.status when the request itself was bad


def embed_chunk(embedder, chunk: list[Path]) -> tuple[list[tuple[Path, np.ndarray]], dict[Path, str]]:
    """One batch; if it is refused, each picture alone, so the failure is pinned on the right files."""
    from fec.triton.errors import ClientError

    payloads = [path.read_bytes() for path in chunk]
    try:
        return list(zip(chunk, embedder.embed(payloads))), {}
    except FecError as exc:
        server_fault = isinstance(exc, ClientError) and exc.status not in REQUEST_REFUSED
        if len(chunk) == 1 or server_fault:
            return [], {path: str(exc) for path in chunk}
    done, failures = [], {}
    for path, payload in zip(chunk, payloads):
        try:
            done.append((path, embedder.embed([payload])[0]))
        except FecError as exc:
            failures[path] = str(exc)
    return done, failures


def save_embeddings(result: EmbeddingResult, out: str | Path) -> list[Path]:
    """.npy (with the paths, one a line, in <out>.paths.txt) or .jsonl ({"path", "embedding"} a line)."""
    out = Path(out)
    if out.suffix == ".npy":
        broken = next((path for path in result.paths if "\n" in str(path) or "\r" in str(path)), None)
        if broken is not None:  # it would take two lines of the listing, and every later row would be misnamed
            raise DataError(f"{str(broken)!r}: a picture name with a line break cannot be listed one per line in "
                            f"{out.with_suffix('.paths.txt')}; rename it, or write --out as .jsonl")
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, result.embeddings)
        listing = out.with_suffix(".paths.txt")
        with atomic_open(listing, "w", encoding="utf-8") as handle:
            handle.writelines(f"{path}\n" for path in result.paths)
        return [out, listing]
    if out.suffix == ".jsonl":
        with atomic_open(out, "w", encoding="utf-8") as handle:
            for path, vector in zip(result.paths, result.embeddings):
                handle.write(json.dumps({"path": str(path), "embedding": [round(float(v), 7) for v in vector]}) + "\n")
        return [out]
    raise DataError(f"{out}: --out must end in .npy or .jsonl")


def picture_embedder(url: str | None, protocol: str, model: str, checkpoint: str | Path | None):
    """Pictures -> embeddings through the server at `url`, else with `checkpoint` here."""
    if url is not None:
        return ServerPictureEmbedder(url, protocol, model)
    return LocalPictureEmbedder(checkpoint)


def split_query(result: EmbeddingResult, query: Path) -> np.ndarray:
    """Take the query's embedding (embedded last) out of `result` and return it."""
    if not result.paths or result.paths[-1] != query:
        raise FecError(f"{query}: the query picture could not be embedded")
    query_vector = result.embeddings[-1]
    result.paths, result.embeddings = result.paths[:-1], result.embeddings[:-1]
    return query_vector
