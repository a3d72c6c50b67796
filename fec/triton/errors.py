"""Typed errors of the Triton package: each is reported by the CLI as one line and exit code 2.

ServingError (the base) and ClientError sit below this package, beside the client the Triton runner
uses; they are imported here so that serving code and users find every Triton error in one place.
"""

from fec.errors import ServingError
from fec.runtimes.triton_client import ClientError

__all__ = ["ClientError", "ConfigCheckError", "RepositoryError", "ServerError", "ServingError"]


class ConfigCheckError(ServingError):
    """A model configuration that Triton would reject or that does not fit the exported model."""


class RepositoryError(ServingError):
    """A model repository that cannot be written or read as asked."""


class ServerError(ServingError):
    """tritonserver is missing, did not start, or stopped unexpectedly."""
