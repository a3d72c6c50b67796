"""How each model of a Triton repository is planned: its config, the files of its version folder, and what
to check it against. `fec.triton.repository` chooses which of these to write, checks them and writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fec.artifacts import UINT8_NHWC
from fec.hardware import cpu_info
from fec.runtimes.backends import OPENVINO_BACKEND_F32
from fec.runtimes.triton_client import (
    BOX_INPUT,
    IMAGE_INPUT,
    PREPROCESS_KIND,
    model_name,
)
from fec.triton.config import (
    INSTANCE_KINDS,
    Accelerator,
    DynamicBatching,
    EnsembleStep,
    InstanceGroup,
    ModelConfig,
    Tensor,
    Warmup,
    triton_dtype,
)
from fec.triton.errors import RepositoryError
from fec.triton.exports import ExportSet
from fec.triton.model_io import ModelIO
from fec.triton.options import RepositoryOptions
from fec.triton.photo_config import photo_comment, photo_config
from fec.triton.python_models import FUSED, PHOTO, PREPROCESS, RUNNER_EMBEDDING, template_text
from fec.triton.serving import FaceSettings
from fec.vocabulary import Precision

FACE_TENSOR = "face_batch"  # ensemble tensor between the preprocess and embedding steps
# A lone instance behind a queue policy with a timeout (what every batched model has: fec-triton --queue-timeout)
# leaves requests waiting 500 ms on tritonserver 2.51: with a queue timeout its batcher hands a batch only to an idle
# instance, and when it misses that instance's wake-up it sleeps its idle wait. One instance served 62-66 images/s
# at 8 clients with p99 520 ms, two 1250-1910 with p99 8-14 ms (benchmarks/triton.md), so the fused model, which
# every picture passes, has at least two.
MIN_FUSED_INSTANCES = 2


@dataclass
class PlannedModel:
    """A model to write: its config, the files of its version folder, and what to check it against."""

    config: ModelConfig
    files: dict[str, Path | str] = field(default_factory=dict)  # name in 1/ -> source file, or text
    model_io: ModelIO | None = None
    source: str = ""
    summary: str = ""
    embedding_model: str = ""  # the ensemble's or fused model's: the model whose ONNX file or engine it runs

    @property
    def name(self) -> str:
        return self.config.name



def fitted_batch(options: RepositoryOptions, limit: int | None, what: str, notes: list[str]) -> int:
    """The asked max batch, lowered to `limit` (with a note saying so)."""
    if limit is None or options.max_batch <= limit:
        return options.max_batch
    notes.append(f"max_batch_size {limit}, {what} (asked for {options.max_batch})")
    return limit


def embedding_tensors(model_io: ModelIO) -> tuple[Tensor, Tensor]:
    """The model's single input and output as config tensors (dims without the batch axis)."""
    if len(model_io.inputs) != 1 or len(model_io.outputs) != 1:
        raise RepositoryError(f"expected one input and one output, got {[t.name for t in model_io.inputs]} -> "
                              f"{[t.name for t in model_io.outputs]}")
    source, target = model_io.inputs[0], model_io.outputs[0]
    return (Tensor(source.name, triton_dtype(source.dtype), source.shape[1:]),
            Tensor(target.name, triton_dtype(target.dtype), target.shape[1:]))


def instance_group(options: RepositoryOptions, kind: str | None = None, count: int | None = None) -> tuple[InstanceGroup, ...]:
    return (InstanceGroup(INSTANCE_KINDS[kind or options.device], count or options.instances),)


def preprocess_instance_count(options: RepositoryOptions) -> int:
    """Decoding, cropping and resizing are CPU work: one instance per core unless asked otherwise, so one
    request of many large pictures does not hold up every other client."""
    return options.preprocess_instances or cpu_info().cores


def batching(options: RepositoryOptions) -> DynamicBatching:
    """Dynamic batching that waits at most the asked delay for a fuller batch, and answers a request still queued
    after the queue timeout with an error (so a backlog behind slow requests fails fast instead of piling up)."""
    return DynamicBatching(max_queue_delay_us=options.max_queue_delay_us,
                           queue_timeout_us=round(options.queue_timeout_s * 1e6))


def warmups(tensor: Tensor, max_batch: int) -> tuple[Warmup, ...]:
    """Warm-up runs at batch 1 and at the largest batch, so first requests do not pay for allocation."""
    sizes = sorted({1, max_batch})
    return tuple(Warmup(f"zero_batch_{size}", size, (tensor,)) for size in sizes)


def comment(exports: ExportSet, what: str) -> str:
    return (f"{what}\nWritten by fec-triton from {', '.join(str(folder) for folder in exports.folders)} "
            f"(model {exports.model_name}); re-run fec-triton instead of editing.")


def onnx_model(exports: ExportSet, options: RepositoryOptions, max_batch: int) -> PlannedModel:
    source, target = embedding_tensors(exports.onnx_io)
    accelerators = ()
    if options.trt_accelerator:
        accelerators = (Accelerator("tensorrt", (("precision_mode", options.trt_precision),
                                                 ("max_workspace_size_bytes", str(1 << 30)),
                                                 ("trt_engine_cache_enable", "1"),
                                                 ("trt_engine_cache_path", options.trt_cache_path))),)
    config = ModelConfig(
        name=model_name(options.name, "onnx"), platform="onnxruntime_onnx", max_batch_size=max_batch,
        default_model_filename="model.onnx", inputs=(source,), outputs=(target,),
        instance_groups=instance_group(options), dynamic_batching=batching(options),
        warmups=warmups(source, max_batch), accelerators=accelerators,
        comment=comment(exports, "FECNet embedding on the onnxruntime backend."))
    where = "GPU + TensorRT EP" if options.trt_accelerator else options.device.upper()
    return PlannedModel(config, {"model.onnx": exports.onnx}, exports.onnx_io, str(exports.onnx),
                        f"platform onnxruntime_onnx on {where} (needs Triton's onnxruntime backend)")


def openvino_model(exports: ExportSet, options: RepositoryOptions, max_batch: int, notes: list[str]) -> PlannedModel:
    """The ONNX file on Triton's OpenVINO backend (CPU): latency hint, and bf16 only when asked for (fp32 cannot
    be pinned there: see OPENVINO_BACKEND_F32, added to `notes`)."""
    source, target = embedding_tensors(exports.onnx_io)
    name = model_name(options.name, "openvino")
    parameters = [("PERFORMANCE_HINT", "LATENCY")]
    if options.ort_threads:
        parameters.append(("INFERENCE_NUM_THREADS", str(options.ort_threads)))
    if options.openvino_precision == Precision.BF16:
        parameters.append(("HINT_BF16", "YES"))
    else:
        notes.append(f"{name}: {OPENVINO_BACKEND_F32}")
    config = ModelConfig(
        name=name, backend="openvino", max_batch_size=max_batch,
        default_model_filename="model.onnx", inputs=(source,), outputs=(target,),
        instance_groups=instance_group(options), dynamic_batching=batching(options),
        warmups=warmups(source, max_batch), parameters=tuple(parameters),
        comment=comment(exports, "FECNet embedding on the openvino backend (CPU)."))
    return PlannedModel(config, {"model.onnx": exports.onnx}, exports.onnx_io, str(exports.onnx),
                        f"backend openvino on CPU, {options.openvino_precision} (needs Triton's OpenVINO backend)")


# Python-backend embedding kinds: the fec.runtimes runner their model.py runs, and its name in prose.
PYTHON_RUNNERS = {"ort-python": ("onnxruntime", "ONNX Runtime"), "ov-python": ("openvino", "OpenVINO")}


def runner_parameters(options: RepositoryOptions, kind: str, threads: int) -> tuple[tuple[str, str], ...]:
    """What fec.triton.serving.runner_from_args reads: the runner, its ONNX file and threads (0: one per core), and for
    OpenVINO its precision and whether it compiles for each batch size (as the verified openvino-static did)."""
    runner = PYTHON_RUNNERS[kind][0]
    openvino = (("precision", options.openvino_precision),
                *((("static_shapes", "1"),) if options.openvino_static_shapes else ()))
    return (("runner", runner), ("onnx_file", "model.onnx"), ("intra_op_threads", str(threads)),
            *(openvino if runner == "openvino" else ()))


def python_runner_model(exports: ExportSet, options: RepositoryOptions, max_batch: int, kind: str,
                        chosen: bool = True) -> PlannedModel:
    """An embedding model inside the python backend: model.py runs model.onnx on one of fec's runners. One that
    is not the ensemble's (`chosen` False) runs on the CPU: a GPU instance of it would need onnxruntime-gpu in the
    server's Python, and a model that fails to load stops a server that loads every model."""
    runner, title = PYTHON_RUNNERS[kind]
    source, target = embedding_tensors(exports.onnx_io)
    config = ModelConfig(
        name=model_name(options.name, kind), backend="python", max_batch_size=max_batch,
        inputs=(source,), outputs=(target,), instance_groups=instance_group(options, None if chosen else "cpu"),
        dynamic_batching=batching(options), warmups=warmups(source, max_batch),
        parameters=runner_parameters(options, kind, options.ort_threads),
        comment=comment(exports, f"FECNet embedding on {title} inside the python backend."))
    return PlannedModel(config, {"model.onnx": exports.onnx, "model.py": template_text(RUNNER_EMBEDDING)},
                        exports.onnx_io, str(exports.onnx), f"python backend running model.onnx on {title}")


def trt_model(exports: ExportSet, options: RepositoryOptions, notes: list[str]) -> PlannedModel:
    engines = exports.engines
    model_io = engines[0].io
    profile_max = min(engine.max_batch for engine in engines)
    name = model_name(options.name, "trt")
    max_batch = fitted_batch(options, profile_max, f"{name}: the engines' profile maximum", notes)
    source, target = embedding_tensors(model_io)
    if len(engines) == 1:
        files, filenames, default = {"model.plan": engines[0].path}, (), "model.plan"
    else:
        names = {engine.compute_capability: f"model_sm{engine.compute_capability.replace('.', '')}.plan" for engine in engines}
        files = {names[engine.compute_capability]: engine.path for engine in engines}
        filenames, default = tuple(sorted(names.items())), ""
    config = ModelConfig(
        name=name, platform="tensorrt_plan", max_batch_size=max_batch,
        default_model_filename=default, cc_model_filenames=filenames, inputs=(source,), outputs=(target,),
        instance_groups=instance_group(options, "gpu"), dynamic_batching=batching(options),
        warmups=warmups(source, max_batch),
        comment=comment(exports, "FECNet embedding on the tensorrt backend (GPU only)."))
    capabilities = ", ".join(str(engine.compute_capability) for engine in engines)
    return PlannedModel(config, files, ModelIO(model_io.inputs, model_io.outputs, profile_max), str(engines[0].path),
                        f"platform tensorrt_plan on GPU (compute capability {capabilities}; needs the tensorrt backend)")


def preprocess_output(exports: ExportSet, name: str) -> Tensor:
    """What fec.triton.serving.prepare_faces makes: the preprocessing's size, in the export's input format."""
    size = exports.preprocessing.input_size
    if exports.input_format == UINT8_NHWC:
        return Tensor(name, "TYPE_UINT8", (size, size, 3))
    return Tensor(name, "TYPE_FP32", (3, size, size))


def face_parameters(exports: ExportSet, options: RepositoryOptions) -> tuple[tuple[str, str], ...]:
    """How pictures become faces (fec.triton.serving.FaceSettings): the preprocessing, the margin, the input layout."""
    margin = exports.face_margin if options.face_margin is None else options.face_margin
    return (("preprocessing", json.dumps(exports.preprocessing.to_dict())),
            ("face_margin", str(margin)), ("output_format", exports.input_format))


def preprocess_model(exports: ExportSet, options: RepositoryOptions, output_name: str) -> PlannedModel:
    model_input = preprocess_output(exports, output_name)
    parameters = face_parameters(exports, options)
    config = ModelConfig(
        name=model_name(options.name, PREPROCESS_KIND), backend="python", max_batch_size=options.max_batch,
        inputs=(Tensor(IMAGE_INPUT, "TYPE_STRING", (1,)), Tensor(BOX_INPUT, "TYPE_FP32", (4,), optional=True)),
        outputs=(model_input,), instance_groups=instance_group(options, "cpu", preprocess_instance_count(options)),
        dynamic_batching=batching(options),
        parameters=parameters,
        comment=comment(exports, "Encoded image bytes (+ optional normalised face box left, right, top, bottom)\n"
                                 "-> decoded, cropped, resized and normalised exactly as in training (fec.preprocessing)."))
    return PlannedModel(config, {"model.py": template_text(PREPROCESS)},
                        summary=f"python backend ({preprocess_instance_count(options)} CPU instances): image bytes "
                                f"(+ face box) -> {model_input.name} {list(model_input.dims)}")


def photo_model(exports: ExportSet, options: RepositoryOptions, embedding: ModelConfig) -> PlannedModel:
    margin = exports.face_margin if options.face_margin is None else options.face_margin
    instances = preprocess_instance_count(options)
    faces = FaceSettings(exports.preprocessing, margin, exports.input_format, exports.box_convention, options.max_faces)
    config = photo_config(options.name, embedding, faces, instances, comment(exports, photo_comment(faces, embedding.name)),
                          options.photo_time_budget_s)
    return PlannedModel(config, {"model.py": template_text(PHOTO)},
                        summary=f"python backend ({instances} CPU instances): a photo -> every face's box, score, "
                                f"landmarks and {embedding.name} embedding")


def ensemble_model(options: RepositoryOptions, preprocess: ModelConfig, embedding: ModelConfig) -> PlannedModel:
    model_input, model_output = embedding.inputs[0], embedding.outputs[0]
    steps = (
        EnsembleStep(preprocess.name, ((IMAGE_INPUT, IMAGE_INPUT), (BOX_INPUT, BOX_INPUT)),
                     ((preprocess.outputs[0].name, FACE_TENSOR),)),
        EnsembleStep(embedding.name, ((model_input.name, FACE_TENSOR),), ((model_output.name, model_output.name),)),
    )
    config = ModelConfig(
        name=options.name, platform="ensemble", max_batch_size=min(preprocess.max_batch_size, embedding.max_batch_size),
        inputs=preprocess.inputs, outputs=(model_output,), ensemble_steps=steps,
        comment=f"Image bytes -> {preprocess.name} -> {embedding.name} -> {model_output.name}.\n"
                "Written by fec-triton; re-run fec-triton instead of editing.")
    return PlannedModel(config, summary=f"ensemble: image bytes -> {preprocess.name} -> {embedding.name} -> "
                                        f"{list(model_output.dims)} embedding", embedding_model=embedding.name)


def fused_model(exports: ExportSet, options: RepositoryOptions, preprocess: ModelConfig, embedding: PlannedModel,
                kind: str) -> PlannedModel:
    """The python kinds' `<name>`: the ensemble's tensors, but one python model doing the preprocess model's work and
    the embedding model's (python_models/fused_model.py says why). Decoding is CPU work, so it gets the preprocess
    model's instance count (one per core, at least MIN_FUSED_INSTANCES); on several instances sharing the cores,
    ONNX Runtime runs one thread each unless --ort-threads says otherwise."""
    model_output = embedding.config.outputs[0]
    instances = options.preprocess_instances or max(MIN_FUSED_INSTANCES, cpu_info().cores)
    threads = options.ort_threads or (1 if instances > 1 else 0)
    config = ModelConfig(
        name=options.name, backend="python", max_batch_size=min(preprocess.max_batch_size, embedding.config.max_batch_size),
        inputs=preprocess.inputs, outputs=(model_output,),
        instance_groups=instance_group(options, None, instances), dynamic_batching=batching(options),
        parameters=(*face_parameters(exports, options), *runner_parameters(options, kind, threads),
                    ("pin_cores", "1" if options.pin_cores else "0")),
        comment=comment(exports, f"Image bytes (+ optional face box) -> {list(model_output.dims)} embedding in one python "
                                 f"model:\ndecoded, cropped and resized as in training, then model.onnx on "
                                 f"{PYTHON_RUNNERS[kind][1]}."))
    return PlannedModel(config, {"model.onnx": exports.onnx, "model.py": template_text(FUSED)}, source=str(exports.onnx),
                        summary=f"python backend ({instances} {options.device.upper()} instances): image bytes (+ face box) "
                                f"-> face -> model.onnx on {PYTHON_RUNNERS[kind][1]} -> {list(model_output.dims)} "
                                "embedding, in one model (the ensemble's tensors)",
                        embedding_model=embedding.name)
