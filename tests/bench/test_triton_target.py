"""fec-bench against the real tritonserver (nvidia-pytriton wheel) on 127.0.0.1: concurrent clients over HTTP and gRPC.

The served model is the python-backend ONNX Runtime model of a tiny checkpoint's export; its input
size and preprocessing are read from the server (the repository's preprocess model).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fec.cli.bench import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    pytest.importorskip("pytriton", reason="needs the nvidia-pytriton wheel's tritonserver: pip install 'fec[serve]'")
    pytest.importorskip("tritonclient.http", reason="needs tritonclient[http,grpc]")
    from fec.export import ExportRequest, export_model
    from fec.triton.exports import read_exports
    from fec.triton.repository import RepositoryOptions, write_repository
    from fec.triton.server import TritonServer

    folder = tmp_path_factory.mktemp("bench_triton")
    export_model(tiny_checkpoint, "onnx", ExportRequest(max_batch=8, opt_batch=4, exporter="legacy"), out=folder / "onnx")
    options = RepositoryOptions(embedding="ort-python", max_batch=8, max_queue_delay_us=500, ort_threads=1)
    write_repository(read_exports([folder / "onnx"]), options, folder / "repo")
    with TritonServer(folder / "repo", log_path=folder / "tritonserver.log") as running:
        yield running


def test_concurrent_clients_over_http_and_grpc_on_real_faces(server, tiny_synth, tmp_path):
    http = f"{server.http_url}/fecnet_ort_python"
    grpc = f"grpc://{server.grpc_url}/fecnet_ort_python"
    result = CliRunner().invoke(main, [http, grpc, "--concurrency", "2", "--batch", "1,4", "--data", str(tiny_synth),
                                       "--warmup", "1", "--iters", "4", "--max-windows", "2", "--tolerance", "0.5",
                                       "--json", str(tmp_path / "bench.json"), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench.json").read_text())

    assert [(row["backend"], row["batch"], row["inputs"], row["concurrency"]) for row in report["rows"]] == [
        ("triton-http", 1, "faces", 2), ("triton-http", 4, "faces", 2),
        ("triton-grpc", 1, "faces", 2), ("triton-grpc", 4, "faces", 2)]
    for row in report["rows"]:
        assert row["iterations"] == 2 * 4 * 2          # 2 clients x 4 requests x the 2 reported windows
        assert 0 < row["min_ms"] <= row["p50_ms"] <= row["max_ms"] and row["throughput"] > 0
        assert row["device"] in (server.http_url.removeprefix("http://"), server.grpc_url)
    assert report["settings"]["concurrency"] == 2


def test_a_model_the_server_does_not_have_is_one_line(server):
    result = CliRunner().invoke(main, [f"{server.http_url}/nope", "--inputs", "random"])
    assert result.exit_code == 2
    assert result.output.startswith("error: triton: ") and len(result.output.strip().splitlines()) == 1
