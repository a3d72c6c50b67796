"""Typed errors of the benchmark package."""

from fec.errors import FecError


class BenchError(FecError):
    """A benchmark that cannot run as asked (unknown backend, a backend that cannot run the target, bad file)."""
