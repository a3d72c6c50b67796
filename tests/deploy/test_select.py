"""Choosing from recorded measurements: no timing here, only the rules (fec.deploy.select)."""

from __future__ import annotations

import math

from fec.deploy.select import FAILED, UNAVAILABLE, Measured, Timing, choose_per_batch, choose_under_budget


def candidate(name: str, delta_pt: float = 0.0, p50: dict[int, float] | None = None, spread: float = 0.01,
              p99: dict[int, float] | None = None, **fields) -> Measured:
    timings = {batch: {"compute": Timing(ms, (p99 or {}).get(batch, ms * 1.2), batch / ms * 1000, spread)}
               for batch, ms in (p50 or {}).items()}
    fields = {"flips": 0.0, "min_cos": 1.0, "nonfinite": 0, **fields}
    return Measured(name, name.split("/")[0], name.split("/")[1], "fp32", delta_pt=delta_pt, timings=timings, **fields)


RECORDED = [
    candidate("torch/checkpoint", 0.0, {1: 2.0, 32: 17.0}),
    candidate("onnxruntime/onnx-fp32", 0.0, {1: 0.30, 32: 10.0}),
    candidate("onnxruntime/onnx-int8-cpu-fb16", -0.13, {1: 0.22, 32: 5.7}),
    candidate("onnxruntime/onnx-int8-cpu-fb0", -0.9, {1: 0.15, 32: 4.0}),    # fastest, but loses 0.9 pt
    candidate("openvino/onnx-int8-cpu-fb0", 0.2, {1: 0.40, 32: 5.9}),       # within 3.5% of the chosen at 32
    candidate("tensorrt/trt-fp16", status=UNAVAILABLE, reason="tensorrt is not installed"),
    candidate("openvino/onnx-fp16", status=FAILED, reason="timing: boom"),
]


def test_the_fastest_within_the_accuracy_budget_wins_at_each_batch():
    at_1, at_32 = (choose_per_batch(RECORDED, batch, max_drop=0.5, mode="compute") for batch in (1, 32))
    assert (at_1.chosen, at_1.p50_ms, at_32.chosen) == ("onnxruntime/onnx-int8-cpu-fb16", 0.22, "onnxruntime/onnx-int8-cpu-fb16")
    assert at_1.verdicts["onnxruntime/onnx-int8-cpu-fb0"] == (
        "over the accuracy budget: -0.90 pt against PyTorch (max drop 0.5 pt)")
    assert at_1.verdicts["onnxruntime/onnx-fp32"] == "slower: 1.36x the chosen's median (0.300 ms against 0.220)"
    assert at_1.verdicts["tensorrt/trt-fp16"] == "cannot run here: tensorrt is not installed"
    assert at_1.verdicts["openvino/onnx-fp16"] == "failed: timing: boom"
    assert (at_1.runner_up, at_1.tied) == ("onnxruntime/onnx-fp32", False)


def test_a_wider_budget_admits_the_faster_int8_export():
    assert choose_per_batch(RECORDED, 32, max_drop=1.0, mode="compute").chosen == "onnxruntime/onnx-int8-cpu-fb0"


def test_a_runner_up_within_the_measured_noise_is_called_a_tie():
    noisy = [candidate("onnxruntime/a", 0.0, {32: 5.7}, spread=0.05), candidate("openvino/b", 0.0, {32: 5.9}, spread=0.01)]
    decision = choose_per_batch(noisy, 32, max_drop=0.5, mode="compute")
    assert decision.chosen == "onnxruntime/a" and decision.tied
    assert math.isclose(decision.gap, 5.9 / 5.7 - 1) and decision.noise == 0.05
    assert decision.verdicts["openvino/b"] == "within the measured noise of the chosen (3.5% slower, noise 5.0%)"
    assert decision.to_dict()["tied"] is True


def test_nan_accuracy_or_nonfinite_embeddings_never_win():
    broken = [candidate("onnxruntime/nan", float("nan"), {1: 0.1}), candidate("onnxruntime/inf", 0.0, {1: 0.1}, nonfinite=3),
              candidate("torch/checkpoint", 0.0, {1: 2.0})]
    decision = choose_per_batch(broken, 1, max_drop=0.5, mode="compute")
    assert decision.chosen == "torch/checkpoint"
    assert decision.verdicts["onnxruntime/inf"] == "3 NaN/Inf values in its embeddings"
    assert decision.verdicts["onnxruntime/nan"].startswith("over the accuracy budget: +nan pt")


def test_nothing_measured_at_a_batch_means_no_choice_there():
    decision = choose_per_batch(RECORDED, 8, max_drop=0.5, mode="compute")
    assert decision.chosen is None and decision.verdicts["torch/checkpoint"] == "not measured at batch 8 (compute)"


def test_a_latency_budget_picks_the_highest_throughput_whose_p99_fits():
    recorded = [candidate("onnxruntime/fp32", 0.0, {1: 0.3, 32: 10.0}, p99={1: 0.4, 32: 12.0}),
                candidate("onnxruntime/int8", -0.1, {1: 0.2, 32: 5.7}, p99={1: 0.3, 32: 7.0}),
                candidate("onnxruntime/int8-fb0", -2.0, {1: 0.1, 32: 3.0}, p99={1: 0.2, 32: 4.0})]
    tight = choose_under_budget(recorded, [1, 32], max_drop=0.5, budget_ms=1.0, mode="compute")
    assert (tight.chosen, tight.batch, tight.p99_ms) == ("onnxruntime/int8", 1, 0.3)
    roomy = choose_under_budget(recorded, [1, 32], max_drop=0.5, budget_ms=8.0, mode="compute")
    assert (roomy.chosen, roomy.batch) == ("onnxruntime/int8", 32)
    assert roomy.verdicts["onnxruntime/fp32"] == "lower throughput within the budget: 3333 images/s at batch 1 against 5614"
    assert roomy.verdicts["onnxruntime/int8-fb0"].startswith("over the accuracy budget")
    none = choose_under_budget(recorded, [1, 32], max_drop=0.5, budget_ms=0.1, mode="compute")
    assert none.chosen is None and none.verdicts["onnxruntime/fp32"] == "p99 over 0.1 ms at every batch measured"


def test_measurements_round_trip_through_json():
    for measured in RECORDED:
        assert Measured.from_dict(measured.to_dict()) == measured
