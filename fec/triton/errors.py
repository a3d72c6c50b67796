"""Typed errors of the Triton package: each is reported by the CLI as one line and exit code 2."""

from fec.errors import FecError


class ServingError(FecError):
    """Base of every user-facing Triton packaging, serving or client error."""


class ConfigCheckError(ServingError):
    """A model configuration that Triton would reject or that does not fit the exported model."""


class RepositoryError(ServingError):
    """A model repository that cannot be written or read as asked."""


class ServerError(ServingError):
    """tritonserver is missing, did not start, or stopped unexpectedly."""


class ClientError(ServingError):
    """The server could not be reached, or rejected a request.

    `status` is the server's answer when there was one: the HTTP status ("400": the request was bad,
    "500": the server failed) or the gRPC code ("StatusCode.INVALID_ARGUMENT", "StatusCode.INTERNAL").
    """

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status
