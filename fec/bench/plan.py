"""Which backend measures which target, decided before anything is loaded or timed.

Every named backend must fit some target and every target must get one, and the request (batch
sizes, measurement settings, concurrency) must suit the chosen backends: a mistake here is one
clear error before the first model loads, not a failure halfway through a long run.
"""

from __future__ import annotations

from fec.artifacts import MAX_BATCH
from fec.bench.errors import BenchError
from fec.bench.options import BenchOptions
from fec.bench.targets import Target
from fec.runtimes.backends import TARGET_KINDS, Backend, backend_names, get_backend


def plan(targets: list[Target], backends: list[str] | None) -> list[tuple[Target, Backend]]:
    """(target, backend) pairs: by default every backend that fits a target and can run here; else the named ones,
    each fitting some target, and every target getting one."""
    if backends is None:
        return [(target, backend) for target in targets for backend in default_backends(target)]
    chosen = [get_backend(name) for name in backends]
    pairs = [(target, backend) for target in targets for backend in chosen if backend.kind in target.kinds]
    for backend in chosen:
        if not any(backend is picked for _, picked in pairs):
            kinds = " or ".join(sorted({TARGET_KINDS[kind] for target in targets for kind in target.kinds}))
            runs = "; ".join(f"{TARGET_KINDS[kind]}: {', '.join(backend_names(kind))}"
                             for kind in sorted({kind for target in targets for kind in target.kinds}))
            raise BenchError(f"backend {backend.name!r} cannot run {kinds} (it runs {TARGET_KINDS[backend.kind]}; {runs})")
    for target in targets:
        if not any(chosen_target is target for chosen_target, _ in pairs):
            fitting = [name for kind in target.kinds for name in backend_names(kind)]
            raise BenchError(f"{target.path}: none of the chosen backends can run it (it needs one of {', '.join(fitting)})")
    return pairs


def default_backends(target: Target) -> list[Backend]:
    fitting = [get_backend(name) for kind in target.kinds for name in backend_names(kind)]
    available = [backend for backend in fitting if backend.unavailable() is None]
    if not available:
        reasons = "; ".join(f"{backend.name}: {backend.unavailable()}" for backend in fitting)
        raise BenchError(f"{target.path}: no backend that runs it can run here ({reasons})")
    return available


def check_request(pairs: list[tuple[Target, Backend]], options: BenchOptions) -> None:
    """Settings, batch sizes and concurrency that the planned pairs can be measured with."""
    options.settings.validate()
    if not options.batches or min(options.batches) < 1 or max(options.batches) > MAX_BATCH:
        raise BenchError(f"batch sizes must be in [1, {MAX_BATCH}], got {options.batches}")
    if options.concurrency < 1:
        raise BenchError(f"concurrency must be >= 1, got {options.concurrency}")
    local = sorted({backend.name for _, backend in pairs if not backend.kind.startswith("server")})
    if options.concurrency > 1 and local:
        raise BenchError(f"--concurrency {options.concurrency} applies to Triton server targets; {', '.join(local)} "
                         "run one request at a time")
