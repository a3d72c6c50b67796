"""fec-deploy's cache.json is a file in the user's folder, not a promise: an entry of the wrong shape is made
again, never read into a decision."""

from __future__ import annotations

import json

import pytest

from fec.deploy.cache import DEPLOY_CACHE_SCHEMA, INDEX, DeployCache
from fec.deploy.run import VERDICT_FIELDS

GOOD = {"delta_pt": -0.13, "flips": 0.0071, "min_cos": 0.9946, "nonfinite": 0, "error": ""}


def cache_with(tmp_path, entries) -> DeployCache:
    (tmp_path / INDEX).write_text(json.dumps({"format": DEPLOY_CACHE_SCHEMA, "entries": entries}))
    return DeployCache(tmp_path)


@pytest.mark.parametrize("entry", [
    "verified",                                               # not a mapping
    {"key": "k", "result": "PASS"},                           # a result that is no record
    {"key": "k", "result": {**GOOD, "delta_pt": "abc"}},      # a number that is text
    {"key": "k", "result": {**GOOD, "min_cos": True}},        # a bool where a number goes
    {"key": "k", "result": {"delta_pt": 0.0}},                # fields missing
    {"key": "k", "result": {**GOOD, "flips": [0.1]}},         # a list
    {"key": 7, "result": GOOD},                               # a key that is no sha256 text
])
def test_a_damaged_verification_entry_is_run_again(tmp_path, entry):
    cache = cache_with(tmp_path, {"verify/onnxruntime/onnx-fp32": entry, "verify/openvino/onnx-fp32": {"key": "k",
                                                                                                      "result": GOOD}})
    assert cache.verification("onnxruntime/onnx-fp32", "k", VERDICT_FIELDS) is None
    assert cache.verification("openvino/onnx-fp32", "k", VERDICT_FIELDS) == GOOD
    assert cache.verification("openvino/onnx-fp32", "other key", VERDICT_FIELDS) is None


def test_the_reference_accuracy_is_reused_only_as_numbers(tmp_path):
    accuracy = {"overall": 0.81, "ONE_CLASS_TRIPLET": 0.78}
    cache = cache_with(tmp_path, {"verify/torch/checkpoint": {"key": "k", "result": accuracy},
                                  "verify/torch/other": {"key": "k", "result": {**accuracy, "overall": "high"}}})
    assert cache.verification("torch/checkpoint", "k") == accuracy
    assert cache.verification("torch/other", "k") is None


def test_an_unreadable_index_is_an_empty_cache(tmp_path):
    (tmp_path / INDEX).write_text("{torn")
    assert DeployCache(tmp_path).entries == {}
