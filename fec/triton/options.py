"""What `fec-triton` asks for, in one light class: the command reads its option defaults from here (so `--help`
imports nothing heavy), and the repository's planners read the options from it.

    options = RepositoryOptions(device="gpu", embedding="onnx").validate()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fec.artifacts import MAX_BATCH
from fec.hardware import MAX_THREADS
from fec.runtimes.triton_client import DEFAULT_ENSEMBLE, EMBEDDING_KINDS
from fec.triton.config import INSTANCE_KINDS
from fec.triton.errors import RepositoryError
from fec.triton.serving import MAX_FACES
from fec.vocabulary import Precision

DEFAULT_REPO = Path("triton_repo")
TRT_PRECISIONS = ("FP32", "FP16", "INT8")
OPENVINO_KINDS = ("openvino", "ov-python")  # written only when asked: a server needs OpenVINO for them
OPENVINO_PRECISIONS = (Precision.FP32, Precision.BF16)
MAX_MODEL_NAME = 64  # Triton model folders are named after it, with suffixes such as _preprocess and _photo
MAX_TIME_BUDGET_S = 3600.0
# Each instance is a process (python backend) or a session with its own memory: a repository asking for 10000 would
# start 10000 when served. 64 is beyond any machine's use for one model; 10 s is beyond any batching delay's.
MAX_INSTANCES = 64
MAX_QUEUE_DELAY_US = 10_000_000


@dataclass(frozen=True)
class RepositoryOptions:
    """What `fec-triton` asks for; `validate()` turns impossible combinations into RepositoryError."""

    name: str = DEFAULT_ENSEMBLE
    device: str = "cpu"                   # where the embedding model's instances run: cpu or gpu
    instances: int = 1
    max_batch: int = 32
    # 0: a batch is whatever queued while the instances were busy. A wait for a fuller batch cost every request it
    # and gained nothing: at 8 clients 500 us lost 10-20% of the images/s, 2000 us half (benchmarks/triton.md).
    max_queue_delay_us: int = 0
    queue_timeout_s: float = 30.0         # a request queued longer than this is answered with an error, not kept
    embedding: str | None = None          # an EMBEDDING_KINDS entry; None: trt when an engine is given, else onnx
    trt_accelerator: bool = False         # onnxruntime on GPU through TensorRT
    trt_precision: str = "FP16"
    openvino_precision: str = Precision.FP32      # the OpenVINO kinds' inference precision: fp32, or bf16 on CPUs that do it
    openvino_static_shapes: bool = False  # ov-python: compile for each batch size, as the verified openvino-static did
    trt_cache_path: str = "/tmp/fec-trt-cache"
    face_margin: float | None = None      # None: the margin recorded in the export (training's)
    ort_threads: int = 0
    preprocess_instances: int | None = None  # None: one per core of the machine writing the repository
    pin_cores: bool = True                # an instance per core: each on its own core (fused.pin_instance)
    photos: bool = False                  # also the photo model (<name>_photo): photos in, faces and embeddings out
    max_faces: int = MAX_FACES            # the photo model embeds a photo's best faces up to this; the rest are counted
    photo_time_budget_s: float = 30.0     # one photo's work on the server; a photo over it fails alone, with its reason

    def validate(self) -> RepositoryOptions:
        rules = [
            (self.name.replace("_", "").replace("-", "").isalnum() and len(self.name) <= MAX_MODEL_NAME,
             f"model name {self.name[:80]!r} must be at most {MAX_MODEL_NAME} letters, digits, _ or -"),
            (self.device in INSTANCE_KINDS, f"device must be one of {', '.join(INSTANCE_KINDS)}"),
            (1 <= self.instances <= MAX_INSTANCES, f"instances must be in [1, {MAX_INSTANCES}], got {self.instances}"),
            (1 <= self.max_batch <= MAX_BATCH, f"max batch must be in [1, {MAX_BATCH}], got {self.max_batch}"),
            (0 <= self.max_queue_delay_us <= MAX_QUEUE_DELAY_US,
             f"max queue delay must be in [0, {MAX_QUEUE_DELAY_US}] microseconds, got {self.max_queue_delay_us}"),
            (0 < self.queue_timeout_s <= MAX_TIME_BUDGET_S,
             f"queue timeout must be in (0, {MAX_TIME_BUDGET_S:g}] seconds, got {self.queue_timeout_s:g}"),
            (self.embedding in (None, *EMBEDDING_KINDS), f"embedding must be one of {', '.join(EMBEDDING_KINDS)}"),
            (self.embedding not in OPENVINO_KINDS or self.device == "cpu",
             f"--embedding {self.embedding} runs on the CPU (--device cpu)"),
            (self.openvino_precision in OPENVINO_PRECISIONS,
             f"OpenVINO precision must be one of {', '.join(OPENVINO_PRECISIONS)}"),
            (self.trt_precision in TRT_PRECISIONS, f"TensorRT precision must be one of {', '.join(TRT_PRECISIONS)}"),
            (not self.trt_accelerator or self.device == "gpu", "the TensorRT execution accelerator needs --device gpu"),
            (self.face_margin is None or 0.0 <= self.face_margin <= 1.0, "face margin must be in [0, 1]"),
            (0 <= self.ort_threads <= MAX_THREADS, f"ONNX Runtime threads must be in [0, {MAX_THREADS}], got {self.ort_threads}"),
            (self.preprocess_instances is None or 1 <= self.preprocess_instances <= MAX_INSTANCES,
             f"preprocess instances must be in [1, {MAX_INSTANCES}], got {self.preprocess_instances}"),
            (1 <= self.max_faces <= MAX_BATCH, f"max faces must be in [1, {MAX_BATCH}], got {self.max_faces}"),
            (0 < self.photo_time_budget_s <= MAX_TIME_BUDGET_S,
             f"photo time budget must be in (0, {MAX_TIME_BUDGET_S:g}] seconds, got {self.photo_time_budget_s:g}"),
        ]
        for ok, message in rules:
            if not ok:
                raise RepositoryError(message)
        if self.photos:
            self._check_photo_detector()
        return self

    def _check_photo_detector(self) -> None:
        from fec.detect import missing_package
        from fec.triton.photo_config import PHOTO_DETECTOR

        missing = missing_package(PHOTO_DETECTOR)
        if missing:
            raise RepositoryError(f"--photos: {missing}")


