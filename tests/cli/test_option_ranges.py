"""Options out of their range are refused before any work, in one line naming the option (exit 2): the commands
would otherwise crash deep inside (a negative thread count in torch, a port past 65535 in a socket), loop on
nothing, or allocate terabytes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fec.cli import bench, deploy, embed, evaluate, export, serve, train, triton, verify
from fec.cli.data import main as fec_data
from fec.models import create_model
from fec.models.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = create_model("compact_cnn", standardize_input=True)
    path = tmp_path_factory.mktemp("option_ranges") / "model.pt"
    return save_checkpoint(path, {"model": dict(model.config), "state_dict": model.state_dict(),
                                  "preprocessing": model.preprocessing.to_dict(), "config": {"face_size": 64}})


CASES = [
    (evaluate.main, ["CKPT", "--data", "DATA", "--batch-size", "0"], "Invalid value for '--batch-size'"),
    (evaluate.main, ["CKPT", "--data", "DATA", "--face-size", "0"], "Invalid value for '--face-size'"),
    (evaluate.main, ["CKPT", "--data", "DATA", "--json", "TMP"], "TMP: is a folder; give a file name"),
    (bench.main, ["CKPT", "--backend", "torch", "--inputs", "random", "--threads", "-1"], "Invalid value for '--threads'"),
    (bench.main, ["CKPT", "--backend", "torch", "--inputs", "random", "--batch", "100000000"],
     "batch sizes must be in [1, 4096], got [100000000]"),
    (deploy.main, ["CKPT", "--data", "DATA", "--max-drop", "nan"], "--max-drop: give 0 or more accuracy points, got nan"),
    (deploy.main, ["CKPT", "--data", "DATA", "--threads", "-3"], "Invalid value for '--threads'"),
    (bench.main, ["CKPT", "--inputs", "random", "--threads", "100000"], "'--threads': 100000 is not in the range 1<=x<=1024"),
    (deploy.main, ["CKPT", "--data", "DATA", "--out", "TMP/s", "--threads", "100000"],
     "'--threads': 100000 is not in the range 1<=x<=1024"),
    (train.main, ["--data", "DATA", "--out", "TMP/s", "--nproc", "0"], "'--nproc': 0 is not in the range 1<=x<=1024"),
    (serve.main, ["--http-port", "70000"], "Invalid value for '--http-port'"),
    (serve.main, ["--timeout", "-1"], "Invalid value for '--timeout'"),
    (serve.main, ["--timeout", "nan"], "Invalid value for '--timeout': nan is not a finite number"),
    (fec_data, ["download", "DATA", "--out", "TMP/s", "--timeout", "inf"],
     "Invalid value for '--timeout': inf is not a finite number"),
    (fec_data, ["synth", "--out", "TMP/s", "--seed", "-1"], "Invalid value for '--seed'"),
    (fec_data, ["synth", "--out", "TMP/s", "--image-size", "100000"],
     "synthetic face size must be a whole number of pixels in [32, 1024], got 100000"),
    (fec_data, ["synth", "--out", "CKPT", "--triplets", "10"], "CKPT: exists and is not a folder; choose another --out"),
    (export.main, ["CKPT", "--format", "onnx", "--opset", "999", "--out", "TMP/s"], "--opset 999: choose an opset in [13, "),
]

# Batch sizes and client threads: 65536 faces at 299 px are 64 GiB of input; a thread per request in flight
CASES += [
    (evaluate.main, ["CKPT", "--data", "DATA", "--batch-size", "65536"], "'--batch-size': 65536 is not in the range 1<=x<=4096"),
    (verify.main, ["TMP", "--data", "DATA", "--batch-size", "65536"], "'--batch-size': 65536 is not in the range 1<=x<=4096"),
    (bench.main, ["CKPT", "--inputs", "random", "--concurrency", "100000"],
     "'--concurrency': 100000 is not in the range 1<=x<=1024"),
]

# Processes, threads and loops by a user's number: a repository asking for 10000 instances starts 10000 when served
CASES += [
    (triton.main, ["TMP", "--repo", "TMP/r", "--instances", "10000"], "instances must be in [1, 64], got 10000"),
    (triton.main, ["TMP", "--repo", "TMP/r", "--preprocess-instances", "65"], "preprocess instances must be in [1, 64], got 65"),
    (triton.main, ["TMP", "--repo", "TMP/r", "--ort-threads", "5000"], "ONNX Runtime threads must be in [0, 1024], got 5000"),
    (triton.main, ["TMP", "--repo", "TMP/r", "--max-queue-delay-us", "100000000"],
     "max queue delay must be in [0, 10000000] microseconds, got 100000000"),
    (triton.main, ["TMP", "--repo", "TMP/r", "--queue-timeout", "nan"], "queue timeout must be in (0, 3600] seconds, got nan"),
    (embed.main, ["TMP", "--checkpoint", "CKPT", "--concurrency", "5000"],
     "'--concurrency': 5000 is not in the range 1<=x<=1024"),
    (embed.main, ["TMP", "--checkpoint", "CKPT", "--batch-size", "5000"], "'--batch-size': 5000 is not in the range 1<=x<=4096"),
    (bench.main, ["CKPT", "--inputs", "random", "--iters", "10000000"], "iterations must be in [1, 1000000], got 10000000"),
    (bench.main, ["CKPT", "--inputs", "random", "--max-windows", "5000"], "at most 1000 windows, got 5000"),
    (bench.main, ["train", "--data", "DATA", "--steps", "1000000"], "'--steps': 1000000 is not in the range 1<=x<=100000"),
    (deploy.main, ["CKPT", "--data", "DATA", "--passes", "1000"], "--passes: give 1 to 100"),
]

# Comma lists: int() read 1_0 as 10; an item given twice or an empty one was taken as it came
LIST_RULE = "give each item once, separated by single commas"
CASES += [
    (deploy.main, ["CKPT", "--data", "DATA", "--batch", "1,1"],
     f"Invalid value for '--batch': 1 is given twice in '1,1'; {LIST_RULE}"),
    (deploy.main, ["CKPT", "--data", "DATA", "--batch", "1,,2"],
     f"Invalid value for '--batch': an empty item in '1,,2'; {LIST_RULE}"),
    (deploy.main, ["CKPT", "--data", "DATA", "--batch", "1_0"],
     f"Invalid value for '--batch': '1_0' is not a whole number (digits only) in '1_0'; {LIST_RULE}"),
    (deploy.main, ["CKPT", "--data", "DATA", "--float-below", "+5"],
     f"Invalid value for '--float-below': '+5' is not a whole number (digits only) in '+5'; {LIST_RULE}"),
    (deploy.main, ["CKPT", "--data", "DATA", "--precision", "fp32,int8,fp32"],
     f"Invalid value for '--precision': fp32 is given twice in 'fp32,int8,fp32'; {LIST_RULE}"),
    (bench.main, ["CKPT", "--inputs", "random", "--batch", "8,"],
     f"Invalid value for '--batch': an empty item in '8,'; {LIST_RULE}"),
    (deploy.main, ["CKPT", "--data", "DATA", "--out", "TMP/d", "--backend", "onnxruntime"],  # named --backends
     "other is judged against; keep torch in --backend and fp32 in --precision"),
    (bench.main, ["CKPT", "--inputs", "random", "--backend", "torch,torch"],
     f"Invalid value for '--backend': torch is given twice in 'torch,torch'; {LIST_RULE}"),
]

# A server URL whose port is past 65535: a ValueError from the HTTP client, and gRPC wrapped it round (99999 -> 34463)
BAD_PORT = "Port out of range 0-65535; give HOST:PORT with a port in 1-65535"
CASES += [
    (embed.main, ["TMP", "--url", "http://127.0.0.1:99999"], f"error: server URL 'http://127.0.0.1:99999': {BAD_PORT}"),
    (bench.main, ["grpc://127.0.0.1:99999/fecnet", "--inputs", "random"],
     f"error: triton: server URL '127.0.0.1:99999': {BAD_PORT}"),
]

# An output under a regular file (`--out afile/x`) is refused by its option before any work (it crashed in mkdir or
# open, some commands only after their work was done).
FILE_IN_THE_WAY = "CKPT/x: CKPT is a file, not a folder; choose another path"
CASES += [
    (command, [*args, option, "CKPT/x"], f"Invalid value for '{option}': {FILE_IN_THE_WAY}")
    for command, args, options in [
        (fec_data, ["synth"], ["--out"]),
        (fec_data, ["download", "DATA"], ["--out"]),
        (fec_data, ["fit-boxes", "DATA"], ["--out"]),
        (train.main, ["--data", "DATA"], ["--out"]),
        (evaluate.main, ["CKPT", "--data", "DATA"], ["--json", "--embeddings", "--store"]),
        (export.main, ["CKPT", "--format", "onnx"], ["--out", "--store", "--timing-cache"]),
        (verify.main, ["TMP", "--data", "DATA"], ["--json", "--store"]),
        (triton.main, ["TMP"], ["--repo"]),
        (embed.main, ["DATA", "--checkpoint", "CKPT"], ["--out", "--sheet"]),
        (bench.main, ["CKPT", "--inputs", "random"], ["--json", "--csv", "--plot"]),
        (deploy.main, ["CKPT", "--data", "DATA"], ["--out", "--triton-repo"]),
        (serve.main, [], ["--log"]),
    ]
    for option in options
]


@pytest.mark.parametrize("command, args, message", CASES, ids=[" ".join(case[1][-2:]) for case in CASES])
def test_an_option_out_of_range_is_one_line_and_exit_2(command, args, message, checkpoint, tiny_synth, tmp_path):
    names = {"CKPT": str(checkpoint), "DATA": str(tiny_synth / "test.csv"), "TMP": str(tmp_path)}

    def named(text: str) -> str:
        for name, value in names.items():
            text = text.replace(name, value)
        return text

    result = CliRunner().invoke(command, [named(arg) for arg in args])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert named(message) in result.stderr and "Traceback" not in result.output
    assert len([line for line in lines if line.startswith(("error:", "Error:"))]) == 1, result.stderr
    assert not (tmp_path / "s").exists()
