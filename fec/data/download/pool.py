"""The bounded thread pool: many URLs in flight, few queued, and a clean stop on any interruption."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from fec.data.download.outcomes import UrlOutcome
from fec.data.download.plan import UrlJob


def run_bounded(jobs: Iterable[UrlJob], worker: Callable[[UrlJob], UrlOutcome], workers: int,
                stop: threading.Event) -> Iterator[UrlOutcome]:
    """Yield outcomes as they finish, with at most 2 x `workers` jobs queued; on any interruption the
    queued ones are cancelled and the running ones told to stop retrying."""
    queue = iter(jobs)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fec-download") as pool:
        pending: set[Future] = set()
        try:
            while True:
                while len(pending) < 2 * workers and (job := next(queue, None)) is not None:
                    pending.add(pool.submit(worker, job))
                if not pending:
                    return
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            stop.set()
            for future in pending:
                future.cancel()
