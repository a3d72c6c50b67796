"""Typed errors for user mistakes.

Every error a user can cause (a bad CSV row, an unknown model, a foreign checkpoint) derives from
`FecError`; the CLI turns it into one line and a non-zero exit. Anything else is our bug and keeps
its traceback.
"""


class FecError(Exception):
    """A mistake in the user's input, reported as one line without a traceback."""


class DataError(FecError):
    """A malformed dataset file, row or image."""


class ModelError(FecError):
    """An unknown model name or an unusable weights file."""


class CheckpointError(FecError):
    """A checkpoint that is missing, corrupt or from another model."""


class ConfigError(FecError):
    """A bad configuration file or override."""


class OutputPathError(FecError):
    """An output path that cannot be written: a file where one of its folders must be, no permission."""


class HardwareError(FecError):
    """The hardware a step needs (a CUDA GPU, a CPU feature) is not here."""


class ArtifactError(FecError):
    """A file one stage wrote for the next (an engine sidecar, a manifest) that is missing or damaged."""


class ServingError(FecError):
    """Base of every user-facing Triton packaging, serving or client error."""


class DeployError(FecError):
    """A deployment search that cannot start or finish (no test data, an unusable output folder)."""


class DetectorError(DataError):
    """An unknown face detector, a bad detector option, or a detector whose package is not installed."""


class FecWarning(UserWarning):
    """Something a run goes on from but must tell the user (the CLI prints it as one `warning:` line)."""


class PictureWarning(FecWarning):
    """A picture decoded with a part of it ignored (a damaged EXIF block)."""


class RecordWarning(FecWarning):
    """A checkpoint or manifest that lacks a setting, so a default that may not match training is used."""
