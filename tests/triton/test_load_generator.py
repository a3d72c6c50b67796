"""The load generator's two clients (fec/triton/load_generator.py) against the real server."""

from __future__ import annotations

import pytest

from fec.triton.load_generator import http_infer_request, run_load


def test_the_sockets_clients_request_is_triton_http_with_binary_pictures():
    request = http_infer_request("127.0.0.1:8000", "fecnet", [b"ab", b"cde"])
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v2/models/fecnet/infer HTTP/1.1"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    header_size = int(fields["Inference-Header-Content-Length"])
    assert int(fields["Content-Length"]) == len(body) and fields["Host"] == "127.0.0.1:8000"
    assert body[header_size:] == b"\x02\x00\x00\x00ab\x03\x00\x00\x00cde"  # each picture: its length, then its bytes
    assert b'"shape": [2, 1]' in body[:header_size] and b'"binary_data_size": 13' in body[:header_size]


@pytest.mark.slow
@pytest.mark.parametrize("client", ["sockets", "tritonclient"])
def test_both_load_clients_get_every_embedding_and_report_a_bad_picture(server, pictures, client):
    payloads = [picture.payload for picture in pictures if picture.box is None]
    result = run_load(server.http_url, "http", "fecnet", payloads, clients=4, requests_per_client=10,
                      images_per_request=3, client=client)
    assert (result.requests, result.failures, result.errors, result.latencies_ms.size) == (40, 0, [], 40)
    assert result.throughput > 0 and result.client_cpu_s > 0
    refused = run_load(server.http_url, "http", "fecnet", [b"not a picture"], clients=1, requests_per_client=2,
                       client=client)
    assert (refused.requests, refused.failures) == (2, 2)
    assert "image 0: not a readable image" in refused.errors[0]


def test_the_sockets_client_reports_a_server_it_cannot_reach_or_that_hangs_up():
    import socket
    import threading

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    unreachable = run_load(f"http://127.0.0.1:{closed_port}", "http", "fecnet", [b"x"], clients=2, requests_per_client=3,
                           client="sockets")
    assert (unreachable.requests, unreachable.failures, unreachable.latencies_ms.size) == (2, 2, 0)
    assert unreachable.errors[0].startswith(f"cannot reach the server at 127.0.0.1:{closed_port}")

    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up_after_reading():
        connection, _ = listener.accept()
        connection.recv(1 << 16)
        connection.close()

    threading.Thread(target=hang_up_after_reading, daemon=True).start()
    with listener:
        dropped = run_load(f"http://127.0.0.1:{listener.getsockname()[1]}", "http", "fecnet", [b"x"], clients=1,
                           requests_per_client=3, client="sockets", deadline_s=10)
    assert (dropped.requests, dropped.failures, dropped.errors) == (1, 1, ["the server closed the connection"])
    assert dropped.deadline_hit  # 1 of 3 requests sent: the run says it stopped short


@pytest.mark.parametrize("answer, error, failures", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
     "a 200 answer without binary embeddings (KeyError: 'inference-header-content-length')", 2),  # and goes on
    (b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
     "connection to the server failed (ValueError: invalid literal for int() with base 10: 'lots')", 1),  # dropped
    (b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
     "connection to the server failed (ValueError: Content-Length 999999999999)", 1)])
def test_the_sockets_client_counts_an_answer_that_is_not_tritons_as_a_failure(answer, error, failures):
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def answer_each_request():
        connection, _ = listener.accept()
        with connection:
            while connection.recv(1 << 16):
                connection.sendall(answer)

    threading.Thread(target=answer_each_request, daemon=True).start()
    with listener:
        result = run_load(f"http://127.0.0.1:{listener.getsockname()[1]}", "http", "fecnet", [b"x"], clients=1,
                          requests_per_client=2, client="sockets", deadline_s=10)
    assert (result.failures, result.latencies_ms.size, result.errors[0]) == (failures, 0, error)
