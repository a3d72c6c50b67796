"""Where a benchmark target's preprocessing comes from when the target is a server (fec.bench.targets)."""

from __future__ import annotations

import json

import pytest

from fec.bench.errors import BenchError
from fec.bench.targets import server_preprocessing
from fec.preprocessing import Preprocessing


class RecordedServer:
    """The two calls server_preprocessing makes of a Triton client, answered from a dict of model configs."""

    def __init__(self, configs: dict[str, dict]):
        self.configs = configs

    def model_ready(self, name: str) -> bool:
        return name in self.configs

    def model_config(self, name: str) -> dict:
        return self.configs[name]


def preprocess_config(preprocessing) -> dict:
    return {"parameters": {"preprocessing": {"string_value": json.dumps(preprocessing)}}}


def test_the_preprocess_models_declared_normalisation_is_used():
    prep = Preprocessing(96, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    server = RecordedServer({"fecnet_preprocess": preprocess_config(prep.to_dict())})
    assert server_preprocessing(server, "fecnet") == prep


def test_without_a_preprocess_model_the_caller_normalises():
    assert server_preprocessing(RecordedServer({}), "fecnet") is None
    assert server_preprocessing(RecordedServer({}), None) is None


@pytest.mark.parametrize("config", [
    {"parameters": {}},
    {"parameters": {"preprocessing": {"string_value": "{not json"}}},
    preprocess_config({"input_size": 96, "mean": [0.5] * 3, "std": [0, 0, 0]}),
])
def test_a_preprocess_model_whose_normalisation_cannot_be_read_is_an_error_not_a_guess(config):
    with pytest.raises(BenchError, match=r"^server model fecnet_preprocess: its preprocessing cannot be read \(.+\); "
                                         r"repackage it with fec-triton$"):
        server_preprocessing(RecordedServer({"fecnet_preprocess": config}), "fecnet")
