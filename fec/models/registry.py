"""The model registry: one entry per backbone, each declaring its preprocessing.

    @register_model("resnet18", Preprocessing(224))
    def resnet18(embedding_dim: int = 16, **options) -> FECNet: ...

`create_model(name, ...)` builds one; unknown names fail with the list of what exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from fec.errors import ModelError
from fec.models.fecnet import per_image_standardization
from fec.preprocessing import Preprocessing, input_size_problem


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]
    preprocessing: Preprocessing
    description: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, preprocessing: Preprocessing):
    """Decorator registering a builder `fn(embedding_dim=16, **options) -> FECNet`."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        doc = (builder.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelSpec(name, builder, preprocessing, doc[0] if doc else "")
        return builder

    return wrap


MAX_EMBEDDING_DIM = 4096  # the paper's is 16; far beyond any use, short of allocating a checkpoint's whim


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None


def create_model(name: str, embedding_dim: int = 16, pretrained: str | Path | None = None,
                 input_size: int | None = None, standardize_input: bool = False, **options) -> nn.Module:
    """Build a registered model; `pretrained` is a local trunk weights file (nothing is downloaded).

    `input_size` overrides the declared input size (pooling adapts); the model's `preprocessing`
    and `config` record the value used, so checkpoints rebuild the same model. `standardize_input`
    puts per-image standardisation in front of the trunk (every model; fec-train turns it on). It
    defaults to off here so that checkpoints saved before it existed rebuild unchanged.
    """
    spec = get_spec(name)
    if input_size is not None and input_size_problem(input_size):
        raise ModelError(f"model {name!r}: {input_size_problem(input_size)}")
    if not isinstance(standardize_input, bool):
        raise ModelError(f"model {name!r}: standardize_input {standardize_input!r} is not true or false")
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or not 1 <= embedding_dim <= MAX_EMBEDDING_DIM:
        raise ModelError(f"model {name!r}: embedding_dim {embedding_dim!r} is not a whole number in [1, {MAX_EMBEDDING_DIM}]")
    dropout = options.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:  # NaN too
        raise ModelError(f"model {name!r}: dropout {dropout!r} is not a number in [0, 1)")
    try:
        model = spec.builder(embedding_dim=embedding_dim, **options)
    except (TypeError, ValueError, RuntimeError) as exc:  # torch's layers refuse impossible sizes with RuntimeError
        raise ModelError(f"model {name!r}: bad option ({str(exc).splitlines()[0][:200]})") from None
    if standardize_input:
        model.standardize = per_image_standardization()
    model.spec = spec
    model.preprocessing = replace(spec.preprocessing, input_size=input_size or spec.preprocessing.input_size)
    model.config = {"name": name, "embedding_dim": embedding_dim, "input_size": model.preprocessing.input_size,
                    "standardize_input": bool(standardize_input), **options}
    if pretrained is not None:
        load_trunk_weights(model, Path(pretrained))
    return model


def load_trunk_weights(model: nn.Module, path: Path) -> None:
    """Load a local state dict (e.g. torchvision ImageNet weights) into the model's trunk."""
    if not path.is_file():
        raise ModelError(f"{path}: pretrained weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files
        raise ModelError(f"{path}: not a PyTorch weights file ({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    trunk_state = model.trunk.state_dict()
    matched = {k: v for k, v in state.items() if k in trunk_state and v.shape == trunk_state[k].shape}
    if not matched:
        raise ModelError(f"{path}: no tensor matches the {model.config['name']} trunk; is it for another model?")
    model.trunk.load_state_dict(matched, strict=False)
