from __future__ import annotations

import pytest

from fec.errors import ConfigError
from fec.train.config import load_config, parse_overrides


def test_yaml_then_overrides_on_top_of_defaults(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: resnet18\nlr: 0.01\nmargins: {ONE_CLASS: 0.3, TWO_CLASS: 0.2, THREE_CLASS: 0.2}\n")
    config = load_config(path, {"lr": 0.5, **parse_overrides(("batch_size=12", "flip=false"))})
    assert (config.model, config.lr, config.batch_size, config.flip) == ("resnet18", 0.5, 12, False)
    assert config.margins["ONE_CLASS"] == 0.3
    assert config.max_steps == 1000  # default kept


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"learning_rate": 0.1}, "unknown config key(s) learning_rate; known keys: data,"),
        ({"amp": "fp8"}, "amp must be one of"),
        ({"batch_size": "many"}, "config key batch_size: expected int, got 'many'"),
        ({"flip": "maybe"}, "config key flip: expected bool"),
        ({"max_steps": 0}, "max_steps must be positive"),
        ({"loss": "hinge"}, "loss must be one of ('triplet', 'softmax')"),
        ({"temperature": 0.0}, "temperature must be positive"),
    ],
)
def test_bad_values_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    assert message in str(error.value)


def test_bad_yaml_and_override_syntax(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="is not key=value"):
        parse_overrides(("lr",))
