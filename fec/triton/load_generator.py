"""A bounded load generator: C concurrent clients x R requests each against one model.

Used by the load test (which asserts only success and batching) and by benchmarks/triton_load.py
(which records throughput and latency). Clients start together; each stops at its request count or
at the deadline, whichever comes first.

Two kinds of client. `tritonclient`: C threads, each with fec's TritonClient (what fec-embed uses). `sockets`: C
connections served by one thread and a selector, speaking Triton's HTTP protocol with its binary tensor extension,
every request encoded before the clock starts, as perf_analyzer does; each answer is still checked (status, count and
shape of the embeddings). A load generator on the server's own cores takes CPU from it. At 8 clients against a
python model that does nothing (AMD EPYC Zen 3, 2026-12-07; benchmarks/triton.md):
- tritonclient spent 0.42-0.51 ms of CPU per request (a thread per client, its JSON and HTTP layers);
- an asyncio loop over the same requests, 0.09-0.13 ms;
- the sockets client, 0.08 ms.
So the sockets client measures the server rather than the client.
"""

from __future__ import annotations

import json
import resource
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from fec.errors import FecError
from fec.runtimes.triton_client import EMBEDDING_OUTPUT, IMAGE_INPUT, TritonClient, split_url

CLIENT_KINDS = ("tritonclient", "sockets")
RECEIVE_BYTES = 1 << 16
MAX_ANSWER_BYTES = 64 << 20  # far beyond 4096 embeddings; a larger Content-Length is no answer of ours
CONNECT_TIMEOUT_S = 10.0
MAX_ERRORS_KEPT = 5


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
    client_cpu_s: float = 0.0   # CPU time this process (the clients) spent during the run

    @property
    def throughput(self) -> float:
        """Successful images per second."""
        return (self.requests - self.failures) * self.images_per_request / self.seconds if self.seconds else 0.0

    @classmethod
    def combined(cls, parts: list[LoadResult]) -> LoadResult:
        """Several runs of the same clients as one: counts, seconds and CPU added, latencies pooled."""
        first = parts[0]
        return cls(first.clients, sum(part.requests for part in parts), first.images_per_request,
                   sum(part.failures for part in parts), sum(part.seconds for part in parts),
                   np.concatenate([part.latencies_ms for part in parts]),
                   [error for part in parts for error in part.errors][:MAX_ERRORS_KEPT],
                   any(part.deadline_hit for part in parts), sum(part.client_cpu_s for part in parts))

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms.size else float("nan")

    def to_dict(self) -> dict:
        images = max(1, (self.requests - self.failures) * self.images_per_request)
        return {"clients": self.clients, "requests": self.requests, "images_per_request": self.images_per_request,
                "failures": self.failures, "seconds": round(self.seconds, 3), "images_per_s": round(self.throughput, 1),
                "p50_ms": round(self.percentile(50), 2), "p99_ms": round(self.percentile(99), 2),
                "client_cpu_ms_per_image": round(self.client_cpu_s / images * 1000.0, 3),
                "deadline_hit": self.deadline_hit, "errors": self.errors}


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def request_batches(payloads: list[bytes], clients: int, requests_per_client: int, images_per_request: int):
    """The pictures of client `index`'s request `number`: consecutive pictures, cycling through `payloads`."""
    def batch(index: int, number: int) -> list[bytes]:
        first = (index * requests_per_client + number) * images_per_request
        return [payloads[(first + offset) % len(payloads)] for offset in range(images_per_request)]
    return batch


def run_load(url: str, protocol: str, model: str, payloads: list[bytes], clients: int, requests_per_client: int,
             images_per_request: int = 1, deadline_s: float = 300.0, client: str = "tritonclient") -> LoadResult:
    """Send `clients` x `requests_per_client` requests of `images_per_request` pictures; collect latencies.
    `client` "sockets" speaks HTTP only."""
    if client == "sockets":
        if protocol != "http":
            raise ValueError("the sockets client speaks HTTP only")
        return run_socket_load(url, model, payloads, clients, requests_per_client, images_per_request, deadline_s)
    start_line = threading.Barrier(clients + 1, timeout=60)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[list[str]] = [[] for _ in range(clients)]
    stop_at = [0.0]
    batch_of = request_batches(payloads, clients, requests_per_client, images_per_request)

    def client_loop(index: int) -> None:
        try:
            connection = TritonClient(url, protocol)
        except FecError as exc:
            errors[index].append(str(exc))
            connection = None
        start_line.wait()
        if connection is None:
            return
        with connection:
            for number in range(requests_per_client):
                if time.monotonic() > stop_at[0]:
                    return
                batch = batch_of(index, number)
                began = time.perf_counter()
                try:
                    connection.embed_images(batch, model=model)
                    latencies[index].append((time.perf_counter() - began) * 1000.0)
                except FecError as exc:
                    errors[index].append(str(exc))

    threads = [threading.Thread(target=client_loop, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + deadline_s
    start_line.wait()
    began, cpu_before = time.perf_counter(), process_cpu_s()
    for thread in threads:
        thread.join(deadline_s + 60)
    seconds, cpu = time.perf_counter() - began, process_cpu_s() - cpu_before
    return collected(clients, requests_per_client, images_per_request, seconds, latencies, errors, cpu)


def collected(clients: int, requests_per_client: int, images_per_request: int, seconds: float,
              latencies: list[list[float]], errors: list[list[str]], cpu_s: float) -> LoadResult:
    sent = sum(len(items) for items in latencies) + sum(len(items) for items in errors)
    flat_errors = [message for items in errors for message in items]
    return LoadResult(clients, sent, images_per_request, len(flat_errors), seconds,
                      np.asarray([value for items in latencies for value in items]), flat_errors[:MAX_ERRORS_KEPT],
                      deadline_hit=sent < clients * requests_per_client, client_cpu_s=cpu_s)


def http_infer_request(host: str, model: str, payloads: list[bytes]) -> bytes:
    """One whole HTTP/1.1 request: the pictures as a BYTES input in binary form (each a 4-byte little-endian length,
    then its bytes), the embeddings asked for in binary form (Triton's binary tensor data extension)."""
    blob = b"".join(struct.pack("<I", len(payload)) + payload for payload in payloads)
    header = json.dumps({"inputs": [{"name": IMAGE_INPUT, "shape": [len(payloads), 1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(blob)}}],
                         "outputs": [{"name": EMBEDDING_OUTPUT, "parameters": {"binary_data": True}}]}).encode()
    head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n"
            f"Inference-Header-Content-Length: {len(header)}\r\nContent-Length: {len(header) + len(blob)}\r\n\r\n")
    return head.encode() + header + blob


def embeddings_of(status_line: bytes, fields: dict[str, str], body: bytes, count: int) -> np.ndarray:
    """The (count, D) float32 embeddings of a response, or FecError with the server's message."""
    if not status_line.startswith(b"HTTP/1.1 200"):
        message = body.decode("utf-8", "replace")
        try:
            message = json.loads(message)["error"]
        except (ValueError, KeyError, TypeError):
            pass
        raise FecError(f"{status_line.decode('latin-1').strip()}: {message}")
    try:
        size = int(fields["inference-header-content-length"])
        output = json.loads(body[:size])["outputs"][0]
        embeddings = np.frombuffer(body[size:], dtype=np.float32).reshape(output["shape"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # not Triton's binary answer to an infer request
        raise FecError(f"a 200 answer without binary embeddings ({type(exc).__name__}: {exc})") from None
    if embeddings.shape[0] != count:
        raise FecError(f"{count} pictures sent, {embeddings.shape[0]} embeddings received")
    return embeddings


def encoded_plans(host: str, model: str, payloads: list[bytes], clients: int, requests_per_client: int,
                  images_per_request: int) -> list[list[tuple[bytes, int]]]:
    """Per client, its requests as whole HTTP messages with their picture counts, encoded before the clock starts
    (the same pictures, the same bytes: each distinct request is encoded once)."""
    batch_of = request_batches(payloads, clients, requests_per_client, images_per_request)
    encoded: dict[tuple[int, ...], bytes] = {}
    plans = []
    for index in range(clients):
        plan = []
        for number in range(requests_per_client):
            batch = batch_of(index, number)
            key = tuple(id(payload) for payload in batch)
            if key not in encoded:
                encoded[key] = http_infer_request(host, model, batch)
            plan.append((encoded[key], len(batch)))
        plans.append(plan)
    return plans


@dataclass
class SocketClient:
    """One connection of the sockets client: sends its next request when the answer to the last one is in."""

    sock: socket.socket
    plan: list[tuple[bytes, int]]
    latencies: list[float]
    errors: list[str]
    sent: int = 0
    began: float = 0.0
    received: bytearray = field(default_factory=bytearray)

    def send_next(self) -> bool:
        """Send the next request; False when the plan is done."""
        if self.sent == len(self.plan):
            return False
        self.began = time.perf_counter()
        self.sock.sendall(self.plan[self.sent][0])
        self.sent += 1
        return True

    def answered(self) -> bool | None:
        """Read what arrived: True when the answer to the request in flight is complete (recorded), False when more is
        to come, None when the server closed the connection."""
        data = self.sock.recv(RECEIVE_BYTES)
        if not data:
            self.errors.append("the server closed the connection")
            return None
        self.received += data
        head_end = self.received.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        status_line, _, rest = bytes(self.received[:head_end]).partition(b"\r\n")
        fields = {name.strip().lower(): value.strip() for name, _, value in
                  (line.partition(":") for line in rest.decode("latin-1").split("\r\n") if line)}
        length = int(fields.get("content-length", "0"))  # ValueError for a malformed one: the connection is dropped
        if not 0 <= length <= MAX_ANSWER_BYTES:
            raise ValueError(f"Content-Length {length}")
        if len(self.received) < head_end + 4 + length:
            return False
        body = bytes(self.received[head_end + 4:head_end + 4 + length])
        del self.received[:head_end + 4 + length]
        try:
            embeddings_of(status_line, fields, body, self.plan[self.sent - 1][1])
            self.latencies.append((time.perf_counter() - self.began) * 1000.0)
        except FecError as exc:
            self.errors.append(str(exc))
        return True


def run_socket_load(url: str, model: str, payloads: list[bytes], clients: int, requests_per_client: int,
                    images_per_request: int = 1, deadline_s: float = 300.0) -> LoadResult:
    """run_load with `clients` connections served by one thread and a selector (see the module docstring)."""
    address, _ = split_url(url, "http")
    host, port = address.rsplit(":", 1)
    plans = encoded_plans(address, model, payloads, clients, requests_per_client, images_per_request)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[list[str]] = [[] for _ in range(clients)]
    selector = selectors.DefaultSelector()
    for index in range(clients):
        try:
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            errors[index].append(f"cannot reach the server at {address} ({exc})")
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(sock, selectors.EVENT_READ, SocketClient(sock, plans[index], latencies[index], errors[index]))
    began, cpu_before = time.perf_counter(), process_cpu_s()
    try:
        serve_answers(selector, began + deadline_s)
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    seconds, cpu = time.perf_counter() - began, process_cpu_s() - cpu_before
    return collected(clients, requests_per_client, images_per_request, seconds, latencies, errors, cpu)


def serve_answers(selector: selectors.BaseSelector, stop_at: float) -> None:
    """Every connection sends, then sends again as each answer arrives, until its plan is done or `stop_at`."""
    for key in list(selector.get_map().values()):
        step(selector, key.data, first=True)
    while selector.get_map() and time.perf_counter() < stop_at:
        for key, _ in selector.select(timeout=max(0.0, stop_at - time.perf_counter())):
            step(selector, key.data)


def step(selector: selectors.BaseSelector, client: SocketClient, first: bool = False) -> None:
    """Send the first request, or read what arrived and send the next; a connection that is done, closed or broken
    (its answer malformed included) leaves the selector."""
    try:
        state = True if first else client.answered()
        if state is None or (state and not client.send_next()):
            drop(selector, client)
    except (OSError, ValueError) as exc:
        client.errors.append(f"connection to the server failed ({type(exc).__name__}: {exc})")
        drop(selector, client)


def drop(selector: selectors.BaseSelector, client: SocketClient) -> None:
    selector.unregister(client.sock)
    client.sock.close()
