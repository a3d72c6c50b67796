"""fec-triton / fec-embed / fec-serve from the user's side, and the server plumbing that needs no server."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner

from fec.cli import embed as embed_cli
from fec.cli import serve as serve_cli
from fec.cli import triton as triton_cli
from fec.runtimes.triton_client import split_url
from fec.triton.errors import ClientError, ServerError
from fec.triton.server import ServerInstall, TritonServer, plan_loading, prepared_copy, pytriton_env

pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="config checks need tritonclient[grpc]")


def invoke(command, args):
    return CliRunner().invoke(command, [str(arg) for arg in args], catch_exceptions=False)


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.output


def test_fec_triton_refuses_an_export_whose_verification_failed_unless_forced(onnx_export, tmp_path):
    import json
    import shutil

    failed = tmp_path / "failed-export"
    shutil.copytree(onnx_export, failed)
    manifest = json.loads((failed / "manifest.json").read_text())
    manifest["verification"] = {"passed": False, "data": "test.csv", "results": []}
    (failed / "manifest.json").write_text(json.dumps(manifest))
    refused = invoke(triton_cli.main, [failed, "--repo", tmp_path / "repo", "--embedding", "ort-python"])
    assert_one_line_error(refused, f"{failed}: its recorded verification (fec-verify on test.csv) FAILED")
    assert not (tmp_path / "repo").exists()
    forced = invoke(triton_cli.main, [failed, "--repo", tmp_path / "repo", "--embedding", "ort-python", "--force"])
    assert forced.exit_code == 0, forced.output


def test_fec_triton_writes_the_repository_and_says_how_to_serve_it(onnx_export, tmp_path):
    result = invoke(triton_cli.main, [onnx_export, "--repo", tmp_path / "repo", "--embedding", "ort-python",
                                      "--max-batch", "48", "--instances", "2"])
    assert result.exit_code == 0, result.output
    assert "ensemble fecnet -> fecnet_ort_python" in result.output
    assert "note: max_batch_size 32, the ONNX export's declared maximum (asked for 48)" in result.output
    assert f"fec-serve --repo {tmp_path / 'repo'}" in result.output
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == [
        ".fec-triton.json", "README.md", "fecnet", "fecnet_onnx", "fecnet_ort_python", "fecnet_preprocess"]


@pytest.mark.parametrize("args, fragment", [
    (["--trt-accelerator"], "needs --device gpu"),
    (["--embedding", "trt"], "needs an export folder with a TensorRT engine"),
    (["--face-margin", "2"], "face margin must be in [0, 1]"),
    (["--name", "x" * 300], f"model name '{'x' * 80}' must be at most 64 letters, digits, _ or -"),
    (["--name", "../up"], "model name '../up' must be at most 64 letters, digits, _ or -"),
])
def test_fec_triton_option_mistakes_are_one_line(onnx_export, tmp_path, args, fragment):
    assert_one_line_error(invoke(triton_cli.main, [onnx_export, "--repo", tmp_path / "repo", *args]), fragment)
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("placement", ["--device", "--kind"])
def test_fec_triton_places_the_embedding_model_with_device_or_its_old_name_kind(onnx_export, tmp_path, placement):
    result = invoke(triton_cli.main, [onnx_export, "--repo", tmp_path / "repo", "--embedding", "ort-python", placement, "gpu"])
    assert result.exit_code == 0, result.output
    assert "kind: KIND_GPU" in (tmp_path / "repo" / "fecnet_ort_python" / "config.pbtxt").read_text()


@pytest.mark.parametrize("flag, pinned", [([], "1"), (["--no-pin-cores"], "0"), (["--pin-cores"], "1")])
def test_fec_triton_pins_the_fused_instances_to_cores_unless_told_not_to(onnx_export, tmp_path, flag, pinned):
    result = invoke(triton_cli.main, [onnx_export, "--repo", tmp_path / "repo", "--embedding", "ort-python", *flag])
    assert result.exit_code == 0, result.output
    config = (tmp_path / "repo" / "fecnet" / "config.pbtxt").read_text()
    assert f'key: "pin_cores"\n  value {{\n    string_value: "{pinned}"' in config


def test_fec_triton_rejects_a_folder_that_is_not_an_export(tmp_path):
    assert_one_line_error(invoke(triton_cli.main, [tmp_path, "--repo", tmp_path / "repo"]), "not an export folder")


def test_fec_embed_needs_exactly_one_source(tmp_path):
    result = invoke(embed_cli.main, [tmp_path])
    assert result.exit_code == 2 and "exactly one of --url" in result.output


def test_fec_embed_local_reports_or_skips_broken_pictures(checkpoint, pictures, tmp_path):
    for picture in pictures[:3]:
        (tmp_path / picture.name).write_bytes(picture.payload)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert_one_line_error(invoke(embed_cli.main, ["--checkpoint", checkpoint, tmp_path]), "1 pictures failed")
    result = invoke(embed_cli.main, ["--checkpoint", checkpoint, tmp_path, "--skip-bad", "--out", tmp_path / "e.jsonl"])
    assert result.exit_code == 0, result.output
    assert "warning: skipped" in result.output and "broken.jpg" in result.output
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 3


def test_a_picture_name_with_a_line_break_cannot_misalign_the_npy_listing(checkpoint, pictures, tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "plain.png").write_bytes(pictures[0].payload)
    (folder / "two\nlines.png").write_bytes(pictures[0].payload)
    result = invoke(embed_cli.main, ["--checkpoint", checkpoint, folder, "--out", tmp_path / "e.npy"])
    assert_one_line_error(result, "a picture name with a line break cannot be listed one per line")
    assert "rename it, or write --out as .jsonl" in result.output
    assert not (tmp_path / "e.npy").exists() and not (tmp_path / "e.paths.txt").exists()
    result = invoke(embed_cli.main, ["--checkpoint", checkpoint, folder, "--out", tmp_path / "e.jsonl"])
    assert result.exit_code == 0 and len((tmp_path / "e.jsonl").read_text().splitlines()) == 2


def test_fec_serve_missing_repository_is_one_line(tmp_path):
    assert_one_line_error(invoke(serve_cli.main, ["--repo", tmp_path / "nothing"]), "model repository not found")


def test_plan_loading_skips_models_whose_backend_is_missing(onnx_export, tmp_path):
    from fec.triton.exports import read_exports
    from fec.triton.repository import RepositoryOptions, write_repository

    write_repository(read_exports([onnx_export]), RepositoryOptions(), tmp_path / "repo")  # ensemble -> fecnet_onnx
    load, skipped = plan_loading(tmp_path / "repo", frozenset({"python"}))
    assert load == ["fecnet_ort_python", "fecnet_preprocess"]
    assert skipped == {"fecnet_onnx": "needs the onnxruntime backend, which this server lacks",
                       "fecnet": "its step models ['fecnet_onnx'] cannot be loaded"}
    load, skipped = plan_loading(tmp_path / "repo", frozenset({"python", "onnxruntime"}))
    assert (sorted(load), skipped) == (["fecnet", "fecnet_onnx", "fecnet_ort_python", "fecnet_preprocess"], {})
    install = ServerInstall(Path("/nonexistent/tritonserver"), tmp_path / "no-backends", "test")
    with pytest.raises(ServerError, match="can load none of the models"):
        TritonServer(tmp_path / "repo", 1, 2, install=install)


def test_prepared_server_copy_holds_the_stub_and_is_made_once(tmp_path):
    source = tmp_path / "tritonserver"
    (source / "bin").mkdir(parents=True)
    (source / "backends" / "python").mkdir(parents=True)
    (source / "bin" / "tritonserver").write_text("binary")
    (source / "python_backend_stubs" / "3.11").mkdir(parents=True)
    stub = source / "python_backend_stubs" / "3.11" / "triton_python_backend_stub"
    stub.write_text("stub")
    target = prepared_copy(source, stub, tmp_path / "cache" / "server")
    assert (target / "backends" / "python" / "triton_python_backend_stub").read_text() == "stub"
    assert not (target / "python_backend_stubs").exists()
    (target / "bin" / "tritonserver").write_text("kept")
    assert prepared_copy(source, stub, target) == target and (target / "bin" / "tritonserver").read_text() == "kept"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["server"]


def test_wheel_server_environment_puts_this_python_first(tmp_path, monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/lib/old")
    env = pytriton_env(tmp_path / "libs")
    libdir = sysconfig.get_config_var("LIBDIR")
    assert env["LD_LIBRARY_PATH"].split(os.pathsep) == [libdir, str(tmp_path / "libs"), "/usr/lib/old"]
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)


@pytest.mark.parametrize("url, protocol, expected", [
    ("http://127.0.0.1:8000/", "grpc", ("127.0.0.1:8000", "http")),
    ("grpc://127.0.0.1:8001", "http", ("127.0.0.1:8001", "grpc")),
    ("localhost:8001", "grpc", ("localhost:8001", "grpc")),
])
def test_split_url(url, protocol, expected):
    assert split_url(url, protocol) == expected


def test_split_url_rejects_other_schemes():
    with pytest.raises(ClientError, match="unsupported URL"):
        split_url("https://example.org:443")


@pytest.mark.parametrize("url, problem", [
    ("http://127.0.0.1:99999", "Port out of range 0-65535"),
    ("127.0.0.1:99999", "Port out of range 0-65535"),
    ("grpc://[::1:8001", "Invalid IPv6 URL"),
    ("http://localhost", "no port"),
    ("http://localhost:0", "port 0"),
    ("http://:8000", "not a host and port"),
])
def test_split_url_refuses_an_address_that_is_no_host_and_port(url, problem):
    with pytest.raises(ClientError) as error:
        split_url(url, "grpc")
    assert str(error.value) == f"server URL {url!r}: {problem}; give HOST:PORT with a port in 1-65535"
    assert split_url("http://[::1]:8000", "grpc") == ("[::1]:8000", "http")
