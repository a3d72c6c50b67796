"""Config objects render to pbtxt that Triton's schema parses back to the same values; checks catch mistakes."""

from __future__ import annotations

import pytest

from fec.triton import checks
from fec.triton.config import (
    Accelerator,
    DynamicBatching,
    EnsembleStep,
    InstanceGroup,
    Message,
    ModelConfig,
    PbtxtEnum,
    Tensor,
    Warmup,
    render,
    scalar,
)
from fec.triton.errors import ConfigCheckError
from fec.triton.model_io import DYNAMIC, ModelIO, TensorInfo

pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="config checks need tritonclient[grpc]")

IMAGES = Tensor("images", "TYPE_FP32", (3, 112, 112))
EMBEDDINGS = Tensor("embeddings", "TYPE_FP32", (16,))
ONNX_IO = ModelIO((TensorInfo("images", "float32", (DYNAMIC, 3, 112, 112)),),
                  (TensorInfo("embeddings", "float32", (DYNAMIC, 16)),), max_batch=32)


def onnx_config(**changes) -> ModelConfig:
    fields = dict(name="fecnet_onnx", platform="onnxruntime_onnx", max_batch_size=32, inputs=(IMAGES,),
                  outputs=(EMBEDDINGS,), instance_groups=(InstanceGroup("KIND_GPU", 2, (0,)),),
                  dynamic_batching=DynamicBatching(1500, (8, 16)),
                  accelerators=(Accelerator("tensorrt", (("precision_mode", "FP16"), ("trt_engine_cache_enable", "1"))),),
                  parameters=(("note", 'say "hi"\\ünï'),))
    fields.update(changes)
    fields.setdefault("warmups", (Warmup("w", 4, fields["inputs"]),))  # a warm-up that fits the inputs
    return ModelConfig(**fields)


def test_rendered_config_parses_back_to_every_value():
    proto = checks.parse_config(onnx_config().to_pbtxt())
    assert (proto.name, proto.platform, proto.max_batch_size) == ("fecnet_onnx", "onnxruntime_onnx", 32)
    assert [(t.name, list(t.dims)) for t in proto.input] == [("images", [3, 112, 112])]
    assert proto.output[0].data_type == 11  # TYPE_FP32 in model_config.proto
    group = proto.instance_group[0]
    assert (group.kind, group.count, list(group.gpus)) == (1, 2, [0])  # KIND_GPU
    assert list(proto.dynamic_batching.preferred_batch_size) == [8, 16]
    assert proto.dynamic_batching.max_queue_delay_microseconds == 1500
    warmup = proto.model_warmup[0]
    images = warmup.inputs["images"]
    assert (warmup.batch_size, list(images.dims), images.zero_data, images.random_data) == (4, [3, 112, 112], True, False)
    accelerator = proto.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accelerator.name == "tensorrt"
    assert dict(accelerator.parameters) == {"precision_mode": "FP16", "trt_engine_cache_enable": "1"}
    assert proto.parameters["note"].string_value == 'say "hi"\\ünï'


def test_ensemble_and_cc_filenames_render_as_maps():
    config = ModelConfig("ens", (IMAGES,), (EMBEDDINGS,), 8, platform="ensemble",
                         ensemble_steps=(EnsembleStep("a", (("x", "images"),), (("y", "embeddings"),)),))
    step = checks.parse_config(config.to_pbtxt()).ensemble_scheduling.step[0]
    assert (step.model_name, step.model_version, dict(step.input_map), dict(step.output_map)) == (
        "a", -1, {"x": "images"}, {"y": "embeddings"})
    plan = ModelConfig("t", (IMAGES,), (EMBEDDINGS,), 8, platform="tensorrt_plan",
                       cc_model_filenames=(("8.6", "model_sm86.plan"), ("9.0", "model_sm90.plan")))
    assert dict(checks.parse_config(plan.to_pbtxt()).cc_model_filenames) == {"8.6": "model_sm86.plan", "9.0": "model_sm90.plan"}


def test_render_writes_enums_bare_strings_quoted_and_nested_blocks():
    lines = render(Message([("kind", PbtxtEnum("KIND_CPU")), ("name", "a"), ("dims", (1, 2)), ("sub", Message([("on", True)]))]))
    assert lines == ['kind: KIND_CPU', 'name: "a"', 'dims: [ 1, 2 ]', 'sub {', '  on: true', '}']
    with pytest.raises(TypeError):
        scalar(object())


def test_schema_rejects_unknown_fields_and_enum_values():
    with pytest.raises(ConfigCheckError, match="not a valid Triton model config"):
        checks.parse_config('name: "x"\nmax_batch: 4\n')
    with pytest.raises(ConfigCheckError):
        checks.parse_config(onnx_config(inputs=(Tensor("images", "TYPE_FLOAT", (3,)),)).to_pbtxt())


def check_against_onnx(config: ModelConfig) -> None:
    proto = checks.parse_config(config.to_pbtxt())
    checks.check_common(proto)
    checks.check_model_io(proto, ONNX_IO, "model.onnx")


def test_matching_config_passes_the_model_checks():
    check_against_onnx(onnx_config())


@pytest.mark.parametrize("changes, message", [
    ({"inputs": (Tensor("images", "TYPE_FP32", (1, 3, 112, 112)),)}, "dims exclude the batch axis"),
    ({"inputs": (Tensor("pixels", "TYPE_FP32", (3, 112, 112)),)}, "inputs ['pixels'] differ"),
    ({"inputs": (Tensor("images", "TYPE_FP16", (3, 112, 112)),)}, "is TYPE_FP16 but model.onnx has float32"),
    ({"outputs": (Tensor("embeddings", "TYPE_FP32", (128,)),)}, "dims [128] differ"),
    ({"outputs": (Tensor("logits", "TYPE_FP32", (16,)),)}, "'logits' is not an output"),
    ({"max_batch_size": 64, "warmups": ()}, "exceeds model.onnx's maximum batch 32"),
    ({"warmups": (Warmup("big", 64, (IMAGES,)),)}, "batch 64 is outside 1..32"),
    ({"dynamic_batching": DynamicBatching(100, (64,))}, "preferred batch sizes [64] exceed"),
    ({"max_batch_size": 0, "warmups": (), "dynamic_batching": None,
      "inputs": (Tensor("images", "TYPE_FP32", (3, 112, 112)),)}, "dims [3, 112, 112] differ"),
])
def test_model_checks_name_the_mistake(changes, message):
    with pytest.raises(ConfigCheckError) as caught:
        check_against_onnx(onnx_config(**changes))
    assert message in str(caught.value)


def member(name, inputs, outputs, max_batch=16):
    return checks.parse_config(ModelConfig(name, inputs, outputs, max_batch, backend="python").to_pbtxt())


def ensemble(steps, warmups=(), max_batch=16, outputs=(EMBEDDINGS,)):
    image = Tensor("image", "TYPE_STRING", (1,))
    return checks.parse_config(ModelConfig("fecnet", (image,), outputs, max_batch, platform="ensemble",
                                           ensemble_steps=steps, warmups=warmups).to_pbtxt())


MEMBERS = {
    "pre": member("pre", (Tensor("image", "TYPE_STRING", (1,)),), (IMAGES,)),
    "emb": member("emb", (IMAGES,), (EMBEDDINGS,)),
}
GOOD_STEPS = (EnsembleStep("pre", (("image", "image"),), (("images", "faces"),)),
              EnsembleStep("emb", (("images", "faces"),), (("embeddings", "embeddings"),)))


def test_ensemble_check_follows_tensors_through_steps():
    checks.check_ensemble(ensemble(GOOD_STEPS), MEMBERS)


@pytest.mark.parametrize("config, message", [
    (lambda: ensemble(GOOD_STEPS, warmups=(Warmup("w", 1, (Tensor("image", "TYPE_STRING", (1,)),)),)),
     "cannot have model_warmup"),
    (lambda: ensemble(GOOD_STEPS[1:]), "'faces' feeding 'emb' is produced by no earlier step"),
    (lambda: ensemble((GOOD_STEPS[0], EnsembleStep("missing", (), ()))), "'missing' is not in the repository"),
    (lambda: ensemble(GOOD_STEPS, max_batch=32), "takes batches of 16, below the ensemble's 32"),
    (lambda: ensemble(GOOD_STEPS, outputs=(Tensor("embeddings", "TYPE_FP16", (16,)),)), "differs in type or dims"),
    (lambda: ensemble((EnsembleStep("pre", (), (("images", "faces"),)), GOOD_STEPS[1])), "inputs ['image'] are not fed"),
])
def test_ensemble_check_names_the_mistake(config, message):
    with pytest.raises(ConfigCheckError) as caught:
        checks.check_ensemble(config(), MEMBERS)
    assert message in str(caught.value)
