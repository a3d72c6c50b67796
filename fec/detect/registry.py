"""The face detector registry: one entry per detector, each naming the package it needs.

    @register_detector("mtcnn", package="facenet-pytorch", module="facenet_pytorch", install="pip install ...")
    class MtcnnDetector(FaceDetector): ...

`create_detector(name, **options)` builds one; an unknown name fails with the list of what exists, and
a detector whose package is missing fails with one line saying how to install it safely.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from fec.detect.faces import DetectedFace
from fec.errors import DetectorError

DEFAULT_DETECTOR = "mtcnn"  # what --detector, the box convention and the photo model use unless told


class FaceDetector(ABC):
    """Finds faces in a decoded picture. Safe to share between threads."""

    name: str = ""

    @abstractmethod
    def detect(self, picture: Image.Image) -> list[DetectedFace]:
        """Every face found, best score first; [] when there is none."""


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    factory: Callable[..., FaceDetector]
    package: str  # the distribution a user installs
    module: str  # what it imports as
    install: str  # the command that installs it without breaking this environment


_REGISTRY: dict[str, DetectorSpec] = {}


def register_detector(name: str, *, package: str, module: str, install: str):
    """Decorator registering a detector class (or factory) `factory(**options) -> FaceDetector`."""

    def wrap(factory):
        if name in _REGISTRY:
            raise ValueError(f"face detector {name!r} is registered twice")
        _REGISTRY[name] = DetectorSpec(name, factory, package, module, install)
        return factory

    return wrap


def list_detectors() -> list[str]:
    return sorted(_REGISTRY)


def get_detector_spec(name: str) -> DetectorSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DetectorError(f"unknown face detector {name!r}; available: {', '.join(list_detectors())}") from None


def missing_package(name: str) -> str | None:
    """The one-line install hint when detector `name`'s package is not importable here, else None."""
    spec = get_detector_spec(name)
    try:
        found = importlib.util.find_spec(spec.module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return f"face detector {name!r} needs the package {spec.package}, which is not installed: {spec.install}"


def create_detector(name: str, **options) -> FaceDetector:
    """Build a registered detector; unknown names, missing packages and bad options raise DetectorError."""
    spec = get_detector_spec(name)
    problem = missing_package(name)
    if problem:
        raise DetectorError(problem)
    try:
        return spec.factory(**options)
    except TypeError as exc:
        raise DetectorError(f"face detector {name!r}: bad option ({exc})") from None
