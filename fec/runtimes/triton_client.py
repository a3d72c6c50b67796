"""A small client over tritonclient (HTTP or gRPC): image bytes or model batches in, embeddings out.

One `TritonClient` is not shared between threads; concurrent callers make one each (see
`fec.embedding.pictures.ServerPictureEmbedder`). Every server-side or connection failure becomes ClientError.
It lives with the runners because the Triton runner uses it; serving (fec.triton) builds on it too.
The names fec-triton gives the models of a repository are here for the same reason.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import numpy as np

from fec.detect.faces import DetectedFace, faces_from_arrays
from fec.errors import ServingError

PROTOCOLS = ("http", "grpc")
DEFAULT_ENSEMBLE = "fecnet"  # fec-triton --name, and what every client asks for unless told
CLIENT_TIMEOUT_S = 60.0      # one request's network timeout, for every client of a server
IMAGE_INPUT, BOX_INPUT, EMBEDDING_OUTPUT = "image", "box", "embeddings"

# The models of a repository written by fec-triton are named after the ensemble: "fecnet" -> "fecnet_preprocess",
# and one embedding model per kind, "fecnet_trt", "fecnet_onnx", "fecnet_ort_python", "fecnet_ov_python"
# (in order of preference).
EMBEDDING_KINDS = ("trt", "onnx", "openvino", "ort-python", "ov-python")
PREPROCESS_KIND = "preprocess"
# The photo model ("fecnet_photo", written with fec-triton --photos): one encoded photo in (no box), every face out.
# Its outputs' first axis is the number of faces found (0 when none): boxes [F, 4] (x1, y1, x2, y2 in pixels),
# scores [F], landmarks [F, 5, 2] (fec.detect.LANDMARK_NAMES order, pixels), embeddings [F, D]; best face first.
PHOTO_KIND = "photo"
PHOTO_OUTPUTS = ("boxes", "scores", "landmarks", EMBEDDING_OUTPUT, "left_out")  # left_out [1]: faces beyond the cap


def model_name(ensemble: str, kind: str) -> str:
    """The name of the repository's model of this kind (an embedding kind or `preprocess`)."""
    return f"{ensemble}_{kind.replace('-', '_')}"


def ensemble_name(embedding_model: str) -> str | None:
    """The ensemble an embedding model of a fec-triton repository belongs to ("fecnet_onnx" -> "fecnet"), or None."""
    for kind in EMBEDDING_KINDS:
        suffix = model_name("", kind)
        if embedding_model.endswith(suffix) and len(embedding_model) > len(suffix):
            return embedding_model[: -len(suffix)]
    return None


@dataclass(frozen=True)
class EmbeddedFace:
    """One face of a photo as the photo model returns it: where it is, and its expression embedding."""

    face: DetectedFace
    embedding: np.ndarray


@dataclass(frozen=True)
class PhotoReply:
    """What a photo gives: its faces (best first) with their embeddings, and how many more faces were found
    beyond the per-photo cap (left out, not embedded)."""

    faces: list[EmbeddedFace]
    left_out: int = 0


class ClientError(ServingError):
    """The server could not be reached, or rejected a request.

    `status` is the server's answer when there was one: the HTTP status ("400": the request was bad,
    "500": the server failed) or the gRPC code ("StatusCode.INVALID_ARGUMENT", "StatusCode.INTERNAL").
    """

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status


def split_url(url: str, protocol: str = "http") -> tuple[str, str]:
    """'http://host:port' / 'grpc://host:port' / 'host:port' -> ('host:port', protocol); ClientError naming the URL
    when its address is no host and port (a port past 65535 crashed the HTTP client, and gRPC wrapped it round)."""
    address = next((url[len(scheme) + 3:] for scheme in PROTOCOLS if url.startswith(f"{scheme}://")), None)
    if address is not None:
        protocol = url.split("://", 1)[0]
    elif "://" in url:
        raise ClientError(f"unsupported URL {url!r}: use http://HOST:PORT or grpc://HOST:PORT")
    elif protocol not in PROTOCOLS:
        raise ClientError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    address = (url if address is None else address).rstrip("/")
    problem = address_problem(address)
    if problem:
        raise ClientError(f"server URL {url!r}: {problem}; give HOST:PORT with a port in 1-65535")
    return address, protocol


def address_problem(address: str) -> str | None:
    """What keeps `address` from being a server's host:port, or None."""
    try:
        parts = urllib.parse.urlsplit(f"//{address}")
        port = parts.port
    except ValueError as exc:  # an unclosed IPv6 bracket, a port that is no number or out of range
        return str(exc)
    if not parts.hostname or parts.path or parts.query or parts.fragment:
        return "not a host and port"
    return "no port" if port is None else ("port 0" if port == 0 else None)


def bytes_tensor(payloads: list[bytes]) -> np.ndarray:
    """Encoded pictures as the (N, 1) object array Triton's BYTES inputs take."""
    array = np.empty((len(payloads), 1), dtype=object)
    for index, payload in enumerate(payloads):
        array[index, 0] = payload
    return array


class TritonClient:
    """Talks to one server over one protocol."""

    def __init__(self, url: str, protocol: str = "http", timeout: float = CLIENT_TIMEOUT_S):
        self.address, self.protocol = split_url(url, protocol)
        try:
            if self.protocol == "http":
                import tritonclient.http as module

                self.client = module.InferenceServerClient(self.address, connection_timeout=timeout, network_timeout=timeout)
            else:
                import tritonclient.grpc as module

                self.client = module.InferenceServerClient(self.address)
        except ImportError:
            raise ClientError("the Triton client is not installed: pip install 'tritonclient[http,grpc]'") from None
        self.module, self.timeout = module, timeout
        self._configs: dict[str, dict] = {}

    def _call(self, what: str, function, *args, **kwargs):
        from tritonclient.utils import InferenceServerException

        try:
            return function(*args, **kwargs)
        except InferenceServerException as exc:
            raise ClientError(f"{what}: {exc.message() or exc}", exc.status()) from None
        except (OSError, ConnectionError) as exc:
            raise ClientError(f"{what}: cannot reach the server at {self.address} ({exc})") from None

    def model_ready(self, model: str) -> bool:
        try:
            return bool(self._call(f"{model} ready", self.client.is_model_ready, model))
        except ClientError:
            return False

    def model_config(self, model: str) -> dict:
        """The server's config of `model` as a dict (same keys over HTTP and gRPC)."""
        if model not in self._configs:
            if self.protocol == "http":
                config = self._call(model, self.client.get_model_config, model)
            else:
                config = self._call(model, self.client.get_model_config, model, as_json=True)["config"]
            self._configs[model] = config
        return self._configs[model]

    def max_batch(self, model: str) -> int:
        return int(self.model_config(model).get("max_batch_size", 0))

    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        """One request; returns the named outputs as numpy arrays."""
        from tritonclient.utils import np_to_triton_dtype

        feeds = []
        for name, array in inputs.items():
            dtype = "BYTES" if array.dtype == object else np_to_triton_dtype(array.dtype)
            feed = self.module.InferInput(name, list(array.shape), dtype)
            feed.set_data_from_numpy(array)
            feeds.append(feed)
        wanted = [self.module.InferRequestedOutput(name) for name in outputs]
        options = {"client_timeout": self.timeout} if self.protocol == "grpc" else {}
        result = self._call(model, self.client.infer, model, feeds, outputs=wanted, **options)
        return {name: result.as_numpy(name) for name in outputs}

    def embed_images(self, payloads: list[bytes], boxes: np.ndarray | None = None,
                     model: str = DEFAULT_ENSEMBLE) -> np.ndarray:
        """Encoded pictures (and optional (N, 4) face boxes) -> (N, D) embeddings from the ensemble."""
        inputs = {IMAGE_INPUT: bytes_tensor(payloads)}
        if boxes is not None:
            inputs[BOX_INPUT] = np.asarray(boxes, dtype=np.float32)
        return self.infer(model, inputs, [EMBEDDING_OUTPUT])[EMBEDDING_OUTPUT]

    def detect_faces(self, payload: bytes, model: str = model_name(DEFAULT_ENSEMBLE, PHOTO_KIND)) -> PhotoReply:
        """One encoded photo -> its faces (best first) with their embeddings, from the photo model (none: [])."""
        photo = np.empty((1,), dtype=object)
        photo[0] = payload
        found = self.infer(model, {IMAGE_INPUT: photo}, list(PHOTO_OUTPUTS))
        faces = faces_from_arrays(found["boxes"], found["scores"], found["landmarks"])
        if len(found[EMBEDDING_OUTPUT]) != len(faces):
            raise ClientError(f"{model}: {len(faces)} faces but {len(found[EMBEDDING_OUTPUT])} embeddings")
        return PhotoReply([EmbeddedFace(face, vector) for face, vector in zip(faces, found[EMBEDDING_OUTPUT])],
                          int(found["left_out"].reshape(-1)[0]))

    def batch_counts(self, model: str) -> dict[int, int]:
        """Server statistics: how many executions ran each batch size (dynamic batching shows as sizes > 1)."""
        if self.protocol == "http":
            stats = self._call(model, self.client.get_inference_statistics, model)
        else:
            stats = self._call(model, self.client.get_inference_statistics, model, as_json=True)
        counts: dict[int, int] = {}
        for entry in stats.get("model_stats", []):
            for batch in entry.get("batch_stats", []):
                size = int(batch["batch_size"])
                counts[size] = counts.get(size, 0) + int(batch["compute_infer"]["count"])
        return counts

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> TritonClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
