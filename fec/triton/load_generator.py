"""A bounded load generator: C concurrent clients x R requests each against one model.

Used by the load test (which asserts only success and batching) and by benchmarks/triton_load.py
(which records throughput and latency). Clients start together; each stops at its request count or
at the deadline, whichever comes first.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from fec.errors import FecError
from fec.runtimes.triton_client import TritonClient


@dataclass
class LoadResult:
    clients: int
    requests: int               # requests sent
    images_per_request: int
    failures: int
    seconds: float
    latencies_ms: np.ndarray
    errors: list[str] = field(default_factory=list)  # the first few failure messages
    deadline_hit: bool = False

    @property
    def throughput(self) -> float:
        """Successful images per second."""
        return (self.requests - self.failures) * self.images_per_request / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms.size else float("nan")

    def to_dict(self) -> dict:
        return {"clients": self.clients, "requests": self.requests, "images_per_request": self.images_per_request,
                "failures": self.failures, "seconds": round(self.seconds, 3), "images_per_s": round(self.throughput, 1),
                "p50_ms": round(self.percentile(50), 2), "p99_ms": round(self.percentile(99), 2),
                "deadline_hit": self.deadline_hit, "errors": self.errors}


def run_load(url: str, protocol: str, model: str, payloads: list[bytes], clients: int, requests_per_client: int,
             images_per_request: int = 1, deadline_s: float = 300.0) -> LoadResult:
    """Send `clients` x `requests_per_client` requests of `images_per_request` pictures; collect latencies."""
    start_line = threading.Barrier(clients + 1, timeout=60)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[list[str]] = [[] for _ in range(clients)]
    stop_at = [0.0]

    def client_loop(index: int) -> None:
        try:
            client = TritonClient(url, protocol)
        except FecError as exc:
            errors[index].append(str(exc))
            client = None
        start_line.wait()
        if client is None:
            return
        with client:
            for number in range(requests_per_client):
                if time.monotonic() > stop_at[0]:
                    return
                first = (index * requests_per_client + number) * images_per_request
                batch = [payloads[(first + offset) % len(payloads)] for offset in range(images_per_request)]
                began = time.perf_counter()
                try:
                    client.embed_images(batch, model=model)
                    latencies[index].append((time.perf_counter() - began) * 1000.0)
                except FecError as exc:
                    errors[index].append(str(exc))

    threads = [threading.Thread(target=client_loop, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + deadline_s
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(deadline_s + 60)
    seconds = time.perf_counter() - began
    sent = sum(len(items) for items in latencies) + sum(len(items) for items in errors)
    flat_errors = [message for items in errors for message in items]
    return LoadResult(clients, sent, images_per_request, len(flat_errors), seconds,
                      np.asarray([value for items in latencies for value in items]), flat_errors[:5],
                      deadline_hit=sent < clients * requests_per_client)
