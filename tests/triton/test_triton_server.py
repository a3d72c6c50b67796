"""The real tritonserver (nvidia-pytriton wheel) on 127.0.0.1: PyTorch-equal embeddings, bad requests, load, clients."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from triton_helpers import child_pids, cosines, process_stat, still_running

from fec.data.triplets import FaceBox
from fec.hardware import cpu_info
from fec.runtimes.triton_client import TritonClient, bytes_tensor
from fec.triton.errors import ClientError
from tests.helpers import png_header

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


def model_input(fill: float) -> np.ndarray:
    """One model input (1, 3, 112, 112) with one value replaced by `fill` (NaN, inf, a huge number)."""
    batch = np.zeros((1, 3, 112, 112), np.float32)
    batch[0, 1, 50, 60] = fill
    return batch


NAN_BOX = np.array([[np.nan, 0.9, 0.1, 0.9]], np.float32)
BAD_REQUESTS = {  # case: (model, inputs (None: one good picture), what the error says); each is the client's fault: 400
    "corrupt image bytes": ("fecnet", {"image": bytes_tensor([b"\x89PNG\r\n\x1a\n truncated"])}, "not a readable image"),
    "wrong dtype": ("fecnet", {"image": np.zeros((1, 1), np.float32)}, "data-type is 'FP32', but model 'fecnet' expects 'BYTES'"),
    "wrong shape": ("fecnet", {"image": bytes_tensor([b"a", b"b"]).reshape(1, 2)}, "unexpected shape for input 'image'"),
    "empty batch": ("fecnet", {"image": bytes_tensor([]).reshape(0, 1)}, "got 0"),
    "oversized batch": ("fecnet", {"image": bytes_tensor([b"x"] * 17)}, "batch-size must be <= 16"),
    "empty face box": ("fecnet", {"image": None, "box": np.array([[0.6, 0.4, 0.1, 0.9]], np.float32)}, "box is empty"),
    "wrong input size": ("fecnet_ort_python", {"images": np.zeros((1, 3, 64, 64), np.float32)}, "unexpected shape"),
    "empty float batch": ("fecnet_ort_python", {"images": np.zeros((0, 3, 112, 112), np.float32)}, "got 0"),
    "picture over the pixel cap": ("fecnet", {"image": bytes_tensor([png_header(30000, 30000)])}, "80 megapixel limit"),
    "NaN in a face box": ("fecnet", {"image": None, "box": NAN_BOX}, "image 0: box left nan is outside [0, 1]"),
    "NaN model input": ("fecnet_ort_python", {"images": model_input(np.nan)}, "input holds NaN or infinite values"),
    "infinite model input": ("fecnet_ort_python", {"images": model_input(-np.inf)}, "input holds NaN or infinite values"),
    "huge model input": ("fecnet_ort_python", {"images": model_input(3e30)}, "input values exceed 10000 in magnitude"),
}
GRPC_BAD_REQUESTS = ["corrupt image bytes", "picture over the pixel cap", "empty face box", "NaN model input"]


def bad_request(case: str, pictures) -> tuple[str, dict, str]:
    model, inputs, message = BAD_REQUESTS[case]
    if "image" in inputs and inputs["image"] is None:
        inputs = {**inputs, "image": bytes_tensor([pictures[0].payload])}
    return model, inputs, message


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_a_400_and_the_server_keeps_serving(server, pictures, torch_reference, case):
    model, inputs, message = bad_request(case, pictures)
    with TritonClient(server.http_url) as client:
        with pytest.raises(ClientError) as caught:
            client.infer(model, inputs, ["embeddings"])
        served = client.embed_images([pictures[0].payload, pictures[3].payload])
    assert caught.value.status == "400", str(caught.value)
    assert message in str(caught.value) and "\n" not in str(caught.value) and "object at 0x" not in str(caught.value)
    assert_same_embeddings(served, torch_reference([pictures[0], pictures[3]]))


@pytest.mark.parametrize("case", GRPC_BAD_REQUESTS)
def test_bad_request_over_grpc_is_invalid_argument(server, pictures, case):
    model, inputs, message = bad_request(case, pictures)
    with TritonClient(server.grpc_url, "grpc") as client:
        with pytest.raises(ClientError) as caught:
            client.infer(model, inputs, ["embeddings"])
        assert client.embed_images([pictures[0].payload]).shape == (1, 16)
    assert caught.value.status == "StatusCode.INVALID_ARGUMENT", str(caught.value)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_pixel_bomb_header_is_refused_before_decoding(server, protocol):
    """A 50-byte PNG claiming 30000 x 30000 pixels (2.7 GB decoded) is refused from its header, at once."""
    bomb = png_header(30000, 30000)
    url = server.http_url if protocol == "http" else server.grpc_url
    with TritonClient(url, protocol) as client:
        started = time.monotonic()
        with pytest.raises(ClientError) as caught:
            client.embed_images([bomb])
        elapsed = time.monotonic() - started
    assert len(bomb) < 100 and elapsed < 10.0
    assert caught.value.status in ("400", "StatusCode.INVALID_ARGUMENT")
    assert "image 0: over the 80 megapixel limit for one picture" in str(caught.value)


def test_preprocessing_runs_one_instance_per_core(server):
    with TritonClient(server.http_url) as client:
        groups = client.model_config("fecnet_preprocess")["instance_group"]
    assert [(group["kind"], group["count"]) for group in groups] == [("KIND_CPU", cpu_info().cores)]


def test_the_fused_models_instances_each_run_on_a_core_of_their_own(server):
    """fec-triton's default (--pin-cores): with an instance per core, instance i on the i-th core."""
    stubs = [pid for pid in child_pids(server.process.pid)
             if b"/fecnet/1/model.py" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    allowed = sorted(os.sched_getaffinity(0))
    placed = sorted((os.sched_getaffinity(pid) for pid in stubs), key=sorted)
    assert len(stubs) == max(2, cpu_info().cores)
    if len(stubs) == len(allowed):
        assert placed == [{core} for core in allowed]
    else:  # more instances than cores, or spare cores: left to the scheduler
        assert placed == [set(allowed)] * len(stubs)


def settled_executions(client, model: str, before: dict[int, int], expected_requests: int, wait_s: float = 10.0):
    """Executions per batch size since `before`, once the server's statistics have caught up.

    Triton answers an ensemble's client before the last step's statistics are recorded, so a read right after
    the last response can miss the final execution (CI saw 1599 of 1600). Poll briefly; more than expected fails at once.
    """
    deadline = time.monotonic() + wait_s
    while True:
        after = client.batch_counts(model)
        executions = {size: after.get(size, 0) - before.get(size, 0) for size in after}
        if sum(size * count for size, count in executions.items()) >= expected_requests or time.monotonic() > deadline:
            return executions
        time.sleep(0.1)


def test_load_8_clients_x_200_requests_batches_dynamically(server, pictures):
    from fec.triton.load_generator import run_load

    payloads = [picture.payload for picture in pictures if picture.box is None and picture.name.startswith("lfw")]
    with TritonClient(server.http_url) as client:  # the python kinds' fecnet is one model: it batches and computes
        before = client.batch_counts("fecnet")
        result = run_load(server.http_url, "http", "fecnet", payloads, clients=8, requests_per_client=200, deadline_s=150)
        executions = settled_executions(client, "fecnet", before, expected_requests=1600)
    assert (result.requests, result.failures, result.errors) == (1600, 0, [])
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


def fec_serve_command(repo, http_port: int, grpc_port: int, log) -> list[str]:
    return [sys.executable, "-m", "fec.cli.serve", "--repo", str(repo), "--http-port", str(http_port),
            "--grpc-port", str(grpc_port), "--log", str(log)]


def test_fec_serve_serves_until_ctrl_c(python_repo, pictures, tmp_path):
    from fec.triton.server import free_port

    http_port, grpc_port = free_port(), free_port()
    serve = subprocess.Popen(fec_serve_command(python_repo, http_port, grpc_port, tmp_path / "server.log"),
                             stderr=subprocess.PIPE, text=True)
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


def test_fec_serve_killed_by_sigkill_takes_its_tritonserver_and_stubs_down(python_repo, tmp_path):
    from fec.triton.server import free_port

    serve = subprocess.Popen(fec_serve_command(python_repo, free_port(), free_port(), tmp_path / "server.log"),
                             stderr=subprocess.PIPE, text=True)
    started: dict[int, str] = {}  # pid -> start time of every process fec-serve started, directly or not
    try:
        wait_for_line(serve, "ready:", timeout=120)
        servers = [pid for pid in child_pids(serve.pid) if Path(f"/proc/{pid}/comm").read_text().strip() == "tritonserver"]
        assert len(servers) == 1, child_pids(serve.pid)
        stubs = child_pids(servers[0])
        # the preprocessing instances, the embedding model's, and the fused fecnet's (one per core, at least two)
        assert len(stubs) == cpu_info().cores + 1 + max(2, cpu_info().cores), stubs
        started = {pid: process_stat(pid)[2] for pid in [*servers, *stubs]}
        os.kill(serve.pid, signal.SIGKILL)
        assert serve.wait(timeout=10) == -signal.SIGKILL
        deadline = time.monotonic() + 15
        while still_running(started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert still_running(started) == []
    finally:
        if serve.poll() is None:
            os.kill(serve.pid, signal.SIGKILL)
        for pid in still_running(started):  # only on failure: leave no orphan behind
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("taken", ["http", "grpc"])
def test_fec_serve_refuses_a_port_already_in_use(tmp_path, taken):
    import socket

    from fec.cli import serve as serve_cli
    from fec.triton.server import free_port

    pytest.importorskip("pytriton", reason="fec-serve needs the nvidia-pytriton wheel: pip install 'fec[serve]'")
    (tmp_path / "repo" / "m").mkdir(parents=True)
    (tmp_path / "repo" / "m" / "config.pbtxt").write_text('name: "m"\nbackend: "python"\nmax_batch_size: 1\n')
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        ports = {"http": port, "grpc": free_port()} if taken == "http" else {"http": free_port(), "grpc": port}
        result = CliRunner().invoke(serve_cli.main, ["--repo", str(tmp_path / "repo"), "--http-port", str(ports["http"]),
                                                     "--grpc-port", str(ports["grpc"]), "--log", str(tmp_path / "s.log")])
    what = {"http": "HTTP", "grpc": "gRPC"}[taken]
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"error: {what} port {port} on 127.0.0.1 is already in use (another server?); "
                                          f"stop that server or choose another --{taken}-port"]
    assert not (tmp_path / "s.log").exists()  # nothing was launched


@pytest.mark.parametrize("address", ["127.0.0.1", "::ffff:127.0.0.1"])  # HTTP binds IPv4; gRPC an IPv4-mapped IPv6 socket
def test_readiness_asks_which_process_holds_the_ports(address):
    import socket

    from fec.triton.server import listens_on

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as listener:
        try:
            listener.bind((address, 0))
        except OSError:
            pytest.skip(f"cannot bind {address} here")
        listener.listen()
        port = listener.getsockname()[1]
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            assert listens_on(os.getpid(), [port]) is True
            assert listens_on(sleeper.pid, [port]) is False  # someone else answering on our port is not our server
        finally:
            sleeper.kill()
            sleeper.wait()
    assert listens_on(os.getpid(), [port]) is False


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


def test_an_openvino_ensemble_serves_the_same_embeddings(onnx_export, pictures, torch_reference, tmp_path):
    """--embedding ov-python: the same python-backend model.py (fused: fecnet decodes and embeds), on fec's OpenVINO
    runner."""
    pytest.importorskip("pytriton", reason="the server tests need the nvidia-pytriton wheel: pip install 'fec[serve]'")
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra (pip install openvino)")
    from fec.triton.exports import read_exports
    from fec.triton.repository import RepositoryOptions, write_repository
    from fec.triton.server import TritonServer

    repo = tmp_path / "repo"
    write_repository(read_exports([onnx_export]), RepositoryOptions(embedding="ov-python", max_batch=16, ort_threads=1),
                     repo)
    whole = [picture for picture in pictures if picture.box is None]
    with TritonServer(repo, log_path=tmp_path / "tritonserver.log") as running:
        with TritonClient(running.http_url) as client:
            served = client.embed_images([p.payload for p in whole])
            fused = client.model_config("fecnet")
        assert sorted(running.models) == ["fecnet", "fecnet_ort_python", "fecnet_ov_python", "fecnet_preprocess"]
    assert (fused["backend"], fused["parameters"]["runner"]["string_value"]) == ("python", "openvino")  # one model
    assert_same_embeddings(served, torch_reference(whole))


def test_the_repository_fec_deploy_chooses_serves_pytorchs_embeddings(checkpoint, synth_data, pictures, torch_reference,
                                                                      tmp_path):
    """fec-deploy's Triton repository (its choice, in the python backend) served for real and equal to PyTorch."""
    pytest.importorskip("pytriton", reason="the server tests need the nvidia-pytriton wheel: pip install 'fec[serve]'")
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra (pip install openvino)")
    from fec.bench.measure import MeasureSettings
    from fec.deploy import DeployOptions, deploy
    from fec.triton.server import TritonServer

    options = DeployOptions(data=synth_data / "test.csv", out=tmp_path / "deploy", batches=(1, 8), precisions=("fp32",),
                            backends=("torch", "onnxruntime", "openvino"), threads=1, modes=("compute",), peer=False,
                            settings=MeasureSettings(warmup_iters=1, iters=3, max_windows=2))
    result = deploy(checkpoint, options, serve_with="python")
    served = result.served
    assert served["candidate"] in ("onnxruntime/onnx-fp32", "openvino/onnx-fp32")
    whole = [picture for picture in pictures if picture.box is None]
    with TritonServer(Path(served["repo"]), log_path=tmp_path / "tritonserver.log") as running:
        with TritonClient(running.http_url) as client:
            embeddings = client.embed_images([p.payload for p in whole])
        assert served["embedding_model"] in running.models
    assert_same_embeddings(embeddings, torch_reference(whole))
