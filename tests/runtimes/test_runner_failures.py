"""A model that loads but cannot run here fails in one line naming the runner; our own bugs still raise."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fec.runtimes import create_runner
from fec.runtimes.base import Runner, RunnerError, last_line


def fails_at_run_time(path) -> None:
    """images (N, 3, 8, 8) reshaped to rows of 7: it loads, and no batch can run (192 N is never a multiple of 7)."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["images", "shape"], ["embeddings"])], "fails_at_run_time",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["rows", 7])],
        [numpy_helper.from_array(np.array([-1, 7], np.int64), "shape")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))


@pytest.mark.parametrize("runner_name, says", [
    ("onnxruntime", "The input tensor cannot be reshaped to the requested shape"),
    ("openvino", "conflicts with the reshape pattern"),
])
def test_a_run_time_failure_of_the_library_is_one_runner_error(runner_name, says, tmp_path):
    pytest.importorskip(runner_name, reason=f"{runner_name} is not installed")
    fails_at_run_time(tmp_path / "model.onnx")
    with create_runner(runner_name, model=tmp_path / "model.onnx") as runner:
        with pytest.raises(RunnerError) as raised:
            runner.infer(np.zeros((5, 3, 8, 8), np.float32))
    message = str(raised.value)
    assert message.startswith(f"{runner_name}: inference failed: ") and says in message
    assert "\n" not in message and len(message) < 500


class BuggyRunner(Runner):
    name = "buggy"

    def inference_errors(self):
        return (KeyError,)

    def infer_impl(self, batch):
        raise ValueError("our own bug")


def test_only_the_listed_library_errors_are_turned_into_runner_errors():
    with pytest.raises(ValueError, match="our own bug"):
        BuggyRunner().infer(np.zeros((1, 3, 8, 8), np.float32))


def test_the_line_kept_is_the_last_and_a_long_one_keeps_both_ends():
    openvino_style = RuntimeError("Exception from a.cpp:1:\nException from b.cpp:2:\n[CPU] MVN node bad\n")
    assert last_line(openvino_style) == "[CPU] MVN node bad"
    long = last_line(RuntimeError("start " + "x" * 1000 + " the cause"), limit=90)
    assert long.startswith("start ") and long.endswith(" the cause") and " ... " in long and len(long) <= 95
    assert last_line(RuntimeError()) == "RuntimeError"
