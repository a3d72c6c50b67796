"""Checks a config passes before it is written: Triton's own schema, then our model's facts.

`parse_config` parses config.pbtxt text into tritonclient's `ModelConfig` protobuf (the schema the
server uses). `check_model_io` compares a config with the tensors of the exported file: names,
dtypes, dims without the batch axis, and a max_batch_size the export can take. `check_ensemble`
follows the tensors through the steps of an ensemble. Each raises ConfigCheckError listing every
problem it found.
"""

from __future__ import annotations

from google.protobuf import text_format

from fec.triton.config import TRITON_DTYPES
from fec.triton.errors import ConfigCheckError
from fec.triton.model_io import DYNAMIC, ModelIO, TensorInfo

TYPE_NAMES = {value: key for key, value in TRITON_DTYPES.items() if key != "bytes"}


def model_config_pb2():
    """Triton's ModelConfig protobuf module, or ConfigCheckError saying how to install it."""
    try:
        from tritonclient.grpc import model_config_pb2 as module
    except ImportError:
        raise ConfigCheckError("checking configs needs tritonclient: pip install 'tritonclient[grpc]'") from None
    return module


def parse_config(text: str, source: str = "config.pbtxt"):
    """Parse config.pbtxt text with Triton's schema; unknown fields and bad values are errors."""
    schema = model_config_pb2()
    try:
        return text_format.Parse(text, schema.ModelConfig())
    except text_format.ParseError as exc:
        raise ConfigCheckError(f"{source}: not a valid Triton model config: {exc}") from None


def data_type_name(proto_config, value: int) -> str:
    data_type = proto_config.DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"]
    return data_type.enum_type.values_by_number[value].name


def raise_problems(name: str, problems: list[str]) -> None:
    if problems:
        raise ConfigCheckError(f"model {name!r}: " + "; ".join(problems))


def check_common(config) -> None:
    """Rules every config obeys: batching needs max_batch_size > 0, warm-ups fit the inputs."""
    problems = []
    batching = config.max_batch_size > 0
    if config.max_batch_size < 0:
        problems.append(f"max_batch_size {config.max_batch_size} is negative")
    if config.HasField("dynamic_batching"):
        if not batching:
            problems.append("dynamic_batching needs max_batch_size > 0")
        too_big = [size for size in config.dynamic_batching.preferred_batch_size if size > config.max_batch_size]
        if too_big:
            problems.append(f"preferred batch sizes {too_big} exceed max_batch_size {config.max_batch_size}")
    problems += [f"instance group {group.name or index} has count {group.count}"
                 for index, group in enumerate(config.instance_group) if group.count < 1]
    problems += warmup_problems(config)
    raise_problems(config.name, problems)


def warmup_problems(config) -> list[str]:
    inputs = {tensor.name: tensor for tensor in config.input}
    problems = []
    for warmup in config.model_warmup:
        if config.max_batch_size and not 1 <= warmup.batch_size <= config.max_batch_size:
            problems.append(f"warm-up {warmup.name!r} batch {warmup.batch_size} is outside 1..{config.max_batch_size}")
        for name, sample in warmup.inputs.items():
            tensor = inputs.get(name)
            if tensor is None:
                problems.append(f"warm-up {warmup.name!r} feeds unknown input {name!r}")
            elif sample.data_type != tensor.data_type or list(sample.dims) != list(tensor.dims):
                problems.append(f"warm-up {warmup.name!r} input {name!r} does not match the input's type or dims")
        missing = [tensor.name for tensor in config.input if not tensor.optional and tensor.name not in warmup.inputs]
        if missing:
            problems.append(f"warm-up {warmup.name!r} lacks inputs {missing}")
    return problems


def check_model_io(config, model: ModelIO, source: str) -> None:
    """The config's tensors and batch size agree with the exported model's (`source` names the file)."""
    problems = []
    batching = config.max_batch_size > 0
    wanted_inputs = sorted(tensor.name for tensor in model.inputs)
    given_inputs = sorted(tensor.name for tensor in config.input)
    if given_inputs != wanted_inputs:
        problems.append(f"inputs {given_inputs} differ from {source}'s {wanted_inputs}")
    for tensor in config.input:
        problems += tensor_problems(config, tensor, model.input(tensor.name), batching, source)
    for tensor in config.output:
        found = model.output(tensor.name)
        if found is None:
            problems.append(f"output {tensor.name!r} is not an output of {source} ({[t.name for t in model.outputs]})")
        else:
            problems += tensor_problems(config, tensor, found, batching, source)
    if model.max_batch is not None and config.max_batch_size > model.max_batch:
        problems.append(f"max_batch_size {config.max_batch_size} exceeds {source}'s maximum batch {model.max_batch}")
    raise_problems(config.name, problems)


def tensor_problems(config, tensor, found: TensorInfo | None, batching: bool, source: str) -> list[str]:
    if found is None:
        return []
    problems = []
    data_type = data_type_name(config, tensor.data_type)
    if TYPE_NAMES.get(data_type) != found.dtype:
        problems.append(f"{tensor.name!r} is {data_type} but {source} has {found.dtype}")
    shape = found.shape
    if batching:
        if not shape or (shape[0] != DYNAMIC and shape[0] < config.max_batch_size):
            problems.append(f"{tensor.name!r} of {source} has no batch axis that takes {config.max_batch_size}")
            return problems
        shape = shape[1:]
    if not dims_match(tuple(tensor.dims), shape):
        problems.append(f"{tensor.name!r} dims {list(tensor.dims)} differ from {source}'s {list(shape)}"
                        + (" (dims exclude the batch axis)" if batching else ""))
    return problems


def dims_match(config_dims: tuple[int, ...], model_dims: tuple[int, ...]) -> bool:
    """Equal, except that a dynamic model axis takes any config value (a dynamic config axis needs one)."""
    return len(config_dims) == len(model_dims) and all(
        model_dim == DYNAMIC or config_dim == model_dim for config_dim, model_dim in zip(config_dims, model_dims))


def check_ensemble(config, members: dict) -> None:
    """An ensemble: no warm-up or instances of its own, and every tensor flows from an input or a step."""
    problems = []
    if config.platform != "ensemble":
        problems.append(f"platform is {config.platform!r}, not 'ensemble'")
    if config.model_warmup:
        problems.append("an ensemble cannot have model_warmup (warm its member models instead)")
    if config.instance_group or config.HasField("dynamic_batching"):
        problems.append("an ensemble takes no instance_group or dynamic_batching (its members batch)")
    available = {tensor.name: tensor for tensor in config.input}
    for step in config.ensemble_scheduling.step:
        member = members.get(step.model_name)
        if member is None:
            problems.append(f"step model {step.model_name!r} is not in the repository")
            continue
        problems += step_problems(config, step, member, available)
    for tensor in config.output:
        produced = available.get(tensor.name)
        if produced is None:
            problems.append(f"output {tensor.name!r} is produced by no step")
        elif not same_tensor_type(produced, tensor):
            problems.append(f"output {tensor.name!r} differs in type or dims from the step output feeding it")
    raise_problems(config.name, problems)


def step_problems(config, step, member, available: dict) -> list[str]:
    problems = []
    if member.max_batch_size < config.max_batch_size:
        problems.append(f"{step.model_name!r} takes batches of {member.max_batch_size}, "
                        f"below the ensemble's {config.max_batch_size}")
    member_inputs = {tensor.name: tensor for tensor in member.input}
    for model_input, ensemble_tensor in step.input_map.items():
        target = member_inputs.get(model_input)
        source = available.get(ensemble_tensor)
        if target is None:
            problems.append(f"{step.model_name!r} has no input {model_input!r}")
        elif source is None:
            problems.append(f"ensemble tensor {ensemble_tensor!r} feeding {step.model_name!r} "
                            "is produced by no earlier step or input")
        elif not same_tensor_type(source, target):
            problems.append(f"{ensemble_tensor!r} -> {step.model_name}.{model_input}: type or dims differ")
    unmapped = [name for name, tensor in member_inputs.items() if not tensor.optional and name not in step.input_map]
    if unmapped:
        problems.append(f"{step.model_name!r} inputs {unmapped} are not fed")
    member_outputs = {tensor.name: tensor for tensor in member.output}
    for model_output, ensemble_tensor in step.output_map.items():
        if model_output not in member_outputs:
            problems.append(f"{step.model_name!r} has no output {model_output!r}")
        else:
            available[ensemble_tensor] = member_outputs[model_output]
    return problems


def same_tensor_type(left, right) -> bool:
    """Two config tensors that can be linked: same type, dims equal where neither is dynamic."""
    return left.data_type == right.data_type and len(left.dims) == len(right.dims) and all(
        DYNAMIC in (a, b) or a == b for a, b in zip(left.dims, right.dims))
