"""What fec-deploy compares: every (export, backend) pair that could serve the model, and why some cannot here.

A candidate is one backend of fec.runtimes.backends running either the checkpoint itself (PyTorch) or
one export of it (an ONNX file in fp32, fp16 or int8 for the CPU with a `--float-below` choice, or a
TensorRT engine). A backend with a precision of its own (openvino-bf16, onnxruntime-tensorrt-fp16,
torch-cuda-fp16) runs the fp32 form and computes in its precision. Candidates this machine cannot run
are kept with the reason, so the decision table can say why they were not chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fec.deploy.options import DEFAULT_FLOAT_BELOW, INT8_QUANTIZERS
from fec.errors import DeployError, FecError
from fec.export.nncf_quantizer import INSTALL_HINT as NNCF_INSTALL_HINT
from fec.export.registry import NNCF_SETTINGS, ExportRequest, get_format
from fec.runtimes.backends import CHECKPOINT_FORM, Backend, backend_names, get_backend, importable
from fec.vocabulary import Precision


@dataclass(frozen=True)
class ExportSpec:
    """One export of the checkpoint: its format, precision and (int8) which convolutions stay float."""

    format: str                       # onnx | trt
    precision: Precision              # fp32 | fp16 | int8
    float_below: int | None = None    # int8 only
    quantizer: str = "onnxruntime"    # int8 only: onnxruntime, nncf (fec's float islands), nncf-accuracy (NNCF's
                                      # accuracy control) or nncf-default (the peer)

    @property
    def name(self) -> str:
        """The export's folder name under exports/: onnx-fp32, onnx-int8-cpu-fb16, onnx-int8-nncf, trt-fp16."""
        if self.precision == Precision.INT8 and self.quantizer in NNCF_SETTINGS:
            return f"{self.format}-int8-{self.quantizer}"
        if self.precision == Precision.INT8:
            return f"{self.format}-int8-cpu-fb{self.float_below}"
        return f"{self.format}-{self.precision}"

    def request(self, calib_data: Path | None, calib_size: int, max_batch: int, max_drop: float = 0.5) -> ExportRequest:
        """What fec-export is asked for (int8: for the CPU, calibrated on `calib_size` faces of `calib_data`;
        nncf-accuracy: losing at most `max_drop` points on its triplets)."""
        if self.precision != Precision.INT8:
            return ExportRequest(precision=self.precision, max_batch=max_batch, opt_batch=min(16, max_batch))
        return ExportRequest(precision=Precision.INT8, target="cpu", calib_data=calib_data, calib_size=calib_size,
                             float_below=self.float_below or 0, quantizer=self.quantizer, max_batch=max_batch,
                             opt_batch=min(16, max_batch), max_drop=max_drop)


NNCF_SPEC = ExportSpec("onnx", Precision.INT8, 0, "nncf")
NNCF_ACCURACY_SPEC = ExportSpec("onnx", Precision.INT8, 0, "nncf-accuracy")
# The peer fec-deploy's choice is compared with: what an OpenVINO user gets in five lines, NNCF's default
# post-training int8 compiled with OpenVINO's default hints. Verified and timed in the same run; never chosen.
PEER_SPEC = ExportSpec("onnx", Precision.INT8, 0, "nncf-default")
PEER_BACKEND = "openvino-defaults"


@dataclass(frozen=True)
class Candidate:
    backend: str
    export: ExportSpec | None = None  # None: the checkpoint itself
    source: str = ""                  # a student distilled from the checkpoint (fec-deploy --compress: s48); "": it

    @property
    def folder_name(self) -> str | None:
        """Its export's folder under exports/: onnx-int8-nncf, or s48-onnx-int8-nncf for a student's."""
        if self.export is None:
            return None
        return f"{self.source}-{self.export.name}" if self.source else self.export.name

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.folder_name or 'checkpoint'}"

    @property
    def precision(self) -> Precision:
        """What it computes in: the backend's own precision on an fp32 form, else the export's."""
        return get_backend(self.backend).row_precision(self.export.precision if self.export else Precision.FP32)


PEER = Candidate(PEER_BACKEND, PEER_SPEC)


@dataclass(frozen=True)
class Skipped:
    candidate: Candidate
    reason: str


def export_specs(form: str, float_below: tuple[int, ...],
                 quantizers: tuple[str, ...] = INT8_QUANTIZERS) -> list[ExportSpec | None]:
    """The exports one of a backend's forms stands for: none (the checkpoint), one, or for int8 one per
    --float-below choice (ONNX Runtime's quantizer) and one of NNCF's, as `quantizers` asks."""
    if form == CHECKPOINT_FORM:
        return [None]
    if form.startswith("trt-"):
        return [ExportSpec("trt", Precision(form.removeprefix("trt-")))]
    if form == Precision.INT8:
        ort = [ExportSpec("onnx", Precision.INT8, choice) for choice in float_below] if "onnxruntime" in quantizers else []
        nncf = [spec for spec in (NNCF_SPEC, NNCF_ACCURACY_SPEC) if spec.quantizer in quantizers]
        return ort + nncf
    return [ExportSpec("onnx", Precision(form))]


def deploy_backends() -> list[str]:
    """The backends fec-deploy makes candidates of: every registered one with export forms, in registration order."""
    return [name for name in backend_names() if get_backend(name).forms]


def plan_candidates(precisions: tuple[str, ...] = tuple(Precision), backends: tuple[str, ...] | None = None,
                    float_below: tuple[int, ...] = DEFAULT_FLOAT_BELOW, int8: bool = True,
                    quantizers: tuple[str, ...] = INT8_QUANTIZERS) -> tuple[list[Candidate], list[Skipped]]:
    """The candidates to try here, and those that cannot run here (with the reason), in a stable order.
    `int8=False` (no calibration data) leaves the int8 exports out, with that reason."""
    known = deploy_backends()
    unknown = [name for name in backends or () if name not in known]
    if unknown:
        raise DeployError(f"--backend: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    runnable, skipped = [], []
    for name in known:
        if backends and name not in backends:
            continue
        backend = get_backend(name)
        for form in backend.forms:
            for spec in export_specs(form, float_below, quantizers):
                candidate = Candidate(name, spec)
                if candidate.precision not in precisions:
                    continue
                reason = why_not_here(backend, spec, int8)
                if reason:
                    skipped.append(Skipped(candidate, reason))
                else:
                    runnable.append(candidate)
    return runnable, skipped


def why_not_here(backend: Backend, spec: ExportSpec | None, int8: bool) -> str | None:
    """Why this machine cannot make or run the candidate, or None."""
    reason = backend.unavailable()
    if reason:
        return reason
    if spec is not None and spec.precision == Precision.INT8 and not int8:
        return "int8 needs calibration faces: give --calib-data (or keep train.csv beside the test CSV)"
    if spec is not None and spec.quantizer in NNCF_SETTINGS and not importable("nncf"):
        return f"nncf is not installed ({NNCF_INSTALL_HINT})"
    if spec is not None:
        try:
            get_format(spec.format).check_available()
        except FecError as exc:
            return str(exc)
    return None
