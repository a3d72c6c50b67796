"""The real tritonserver (nvidia-pytriton wheel) on 127.0.0.1: PyTorch-equal embeddings, bad requests, load, clients."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from triton_helpers import cosines

from fec.data.triplets import FaceBox
from fec.triton.client import TritonClient, bytes_tensor
from fec.triton.errors import ClientError

pytestmark = pytest.mark.slow


def box_rows(pictures) -> np.ndarray:
    return np.array([[p.box.left, p.box.right, p.box.top, p.box.bottom] for p in pictures], np.float32)


def as_sent(picture):
    """The picture with its box rounded to float32, exactly as the server receives it."""
    return replace(picture, box=FaceBox(*(float(value) for value in box_rows([picture])[0])))


def assert_same_embeddings(served: np.ndarray, expected: np.ndarray) -> None:
    assert served.shape == expected.shape and served.dtype == np.float32
    assert cosines(served, expected).min() >= 0.9999
    assert np.abs(served - expected).max() < 1e-4


def test_server_loads_what_it_can_run(server):
    assert sorted(server.models) == ["fecnet", "fecnet_ort_python", "fecnet_preprocess"]
    assert server.skipped == {"fecnet_onnx": "needs the onnxruntime backend, which this server lacks"}
    assert "127.0.0.1" in server.http_url


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_server_embeddings_equal_pytorch(server, pictures, torch_reference, protocol):
    whole = [picture for picture in pictures if picture.box is None]
    boxed = [as_sent(picture) for picture in pictures if picture.box is not None]
    url = server.http_url if protocol == "http" else server.grpc_url
    with TritonClient(url, protocol) as client:
        served_whole = client.embed_images([p.payload for p in whole])
        served_boxed = client.embed_images([p.payload for p in boxed], boxes=box_rows(boxed))
    assert len(whole) >= 11 and len(boxed) >= 6  # astronaut + 10 LFW faces; astronaut's face + synthetic faces
    assert_same_embeddings(served_whole, torch_reference(whole))
    assert_same_embeddings(served_boxed, torch_reference(boxed))
    assert np.allclose(np.linalg.norm(served_whole, axis=1), 1.0, atol=1e-5)


BAD_REQUESTS = {  # case: (model, inputs (None: one good picture), what the error says)
    "corrupt image bytes": ("fecnet", {"image": bytes_tensor([b"\x89PNG\r\n\x1a\n truncated"])}, "not a readable image"),
    "wrong dtype": ("fecnet", {"image": np.zeros((1, 1), np.float32)}, "data-type is 'FP32', but model 'fecnet' expects 'BYTES'"),
    "wrong shape": ("fecnet", {"image": bytes_tensor([b"a", b"b"]).reshape(1, 2)}, "unexpected shape for input 'image'"),
    "empty batch": ("fecnet", {"image": bytes_tensor([]).reshape(0, 1)}, "got 0"),
    "oversized batch": ("fecnet", {"image": bytes_tensor([b"x"] * 17)}, "batch-size must be <= 16"),
    "empty face box": ("fecnet", {"image": None, "box": np.array([[0.6, 0.4, 0.1, 0.9]], np.float32)}, "box is empty"),
    "wrong input size": ("fecnet_ort_python", {"images": np.zeros((1, 3, 64, 64), np.float32)}, "unexpected shape"),
    "empty float batch": ("fecnet_ort_python", {"images": np.zeros((0, 3, 112, 112), np.float32)}, "got 0"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_an_error_and_the_server_keeps_serving(server, pictures, torch_reference, case):
    model, inputs, message = BAD_REQUESTS[case]
    if "image" in inputs and inputs["image"] is None:
        inputs = {**inputs, "image": bytes_tensor([pictures[0].payload])}
    output = "embeddings"
    with TritonClient(server.http_url) as client:
        with pytest.raises(ClientError) as caught:
            client.infer(model, inputs, [output])
        assert message in str(caught.value)
        served = client.embed_images([pictures[0].payload, pictures[3].payload])
    assert_same_embeddings(served, torch_reference([pictures[0], pictures[3]]))


def test_load_8_clients_x_200_requests_batches_dynamically(server, pictures):
    from fec.triton.load import run_load

    payloads = [picture.payload for picture in pictures if picture.box is None and picture.name.startswith("lfw")]
    with TritonClient(server.http_url) as client:
        before = client.batch_counts("fecnet_ort_python")
        result = run_load(server.http_url, "http", "fecnet", payloads, clients=8, requests_per_client=200, deadline_s=150)
        after = client.batch_counts("fecnet_ort_python")
    assert (result.requests, result.failures, result.errors) == (1600, 0, [])
    executions = {size: after.get(size, 0) - before.get(size, 0) for size in after}
    assert sum(size * count for size, count in executions.items()) == 1600  # every request computed exactly once
    assert max(size for size, count in executions.items() if count) > 1, executions  # dynamic batching engaged


def test_triton_runner_matches_the_torch_runner(server, pictures, checkpoint):
    """The Runner over a Triton client feeds the embedding model the same float batch PyTorch gets."""
    from fec.preprocessing import Preprocessing, decode_image, preprocess_images
    from fec.runtimes import create_runner

    torch_runner = create_runner("torch", checkpoint=checkpoint)
    with torch_runner, create_runner("triton", url=server.http_url) as triton_runner:
        images = [decode_image(picture.payload) for picture in pictures] * 2
        batch = preprocess_images(images, Preprocessing(torch_runner.input_size))
        assert len(batch) > triton_runner.request_batch  # sent in pieces of max_batch_size
        assert triton_runner.describe()["model"] == "fecnet_ort_python"
        assert_same_embeddings(triton_runner.infer(batch), torch_runner.infer(batch))


def test_fec_embed_through_the_server_equals_local(server, pictures, checkpoint, tmp_path):
    from fec.cli import embed as embed_cli

    folder = tmp_path / "faces"
    folder.mkdir()
    for picture in pictures:
        (folder / picture.name).write_bytes(picture.payload)
    query = folder / "astronaut.png"
    remote = CliRunner().invoke(embed_cli.main, ["--url", server.http_url, str(folder), "--out", str(tmp_path / "r.npy"),
                                                 "--similar", str(query), "--top", "3", "--sheet", str(tmp_path / "s.png"),
                                                 "--batch-size", "5"], catch_exceptions=False)
    assert remote.exit_code == 0, remote.output
    assert "astronaut-face.jpg" in remote.output.splitlines()[1]  # the same face, re-encoded, ranks first
    assert (tmp_path / "s.png").stat().st_size > 1000
    local = CliRunner().invoke(embed_cli.main, ["--checkpoint", str(checkpoint), str(folder), "--out",
                                                str(tmp_path / "l.npy"), "-q"], catch_exceptions=False)
    assert local.exit_code == 0, local.output
    assert (tmp_path / "r.paths.txt").read_text() == (tmp_path / "l.paths.txt").read_text()
    assert_same_embeddings(np.load(tmp_path / "r.npy"), np.load(tmp_path / "l.npy"))


def test_fec_embed_unreachable_server_is_one_line(tmp_path, pictures):
    from fec.cli import embed as embed_cli
    from fec.triton.server import free_port

    (tmp_path / "a.png").write_bytes(pictures[0].payload)
    result = CliRunner().invoke(embed_cli.main, ["--url", f"127.0.0.1:{free_port()}", str(tmp_path / "a.png")])
    assert result.exit_code == 2
    assert result.output.startswith("error: model 'fecnet' is not ready")


def test_fec_serve_serves_until_ctrl_c(python_repo, pictures, tmp_path):
    from fec.triton.server import free_port

    http_port, grpc_port = free_port(), free_port()
    command = [sys.executable, "-m", "fec.cli.serve", "--repo", str(python_repo), "--http-port", str(http_port),
               "--grpc-port", str(grpc_port), "--log", str(tmp_path / "server.log")]
    serve = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        lines = wait_for_line(serve, "ready:", timeout=120)
        assert "skipping fecnet_onnx: needs the onnxruntime backend" in "".join(lines)
        with TritonClient(f"127.0.0.1:{grpc_port}", "grpc") as client:
            assert client.embed_images([pictures[0].payload]).shape == (1, 16)
        serve.send_signal(signal.SIGINT)
        _, rest = serve.communicate(timeout=60)
    finally:
        if serve.poll() is None:
            os.kill(serve.pid, signal.SIGKILL)
    assert serve.returncode == 0
    assert "tritonserver stopped" in rest
    with pytest.raises(ClientError):
        TritonClient(f"127.0.0.1:{http_port}").infer("fecnet", {"image": bytes_tensor([b"x"])}, ["embeddings"])


def wait_for_line(process, fragment: str, timeout: float) -> list[str]:
    """stderr lines of `process` up to the one containing `fragment`."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if fragment in line:
            return lines
    raise AssertionError(f"no {fragment!r} from fec-serve: {''.join(lines)}")
