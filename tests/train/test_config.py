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
    with pytest.raises(ConfigError) as error:
        parse_overrides(("lr=0.1", "max_steps=5", "lr =0.2"))
    assert str(error.value) == "--set lr is given twice ('0.1' and '0.2'); keep one"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"batch_size": "3.9"}, "config key batch_size: expected int, got 3.9"),
        ({"batch_size": "true"}, "config key batch_size: expected int, got True"),
        ({"lr": ".inf"}, "config key lr: expected float, got inf"),
        ({"lr": ".nan"}, "config key lr: expected float, got nan"),
        ({"log_every": "0"}, "log_every, eval_every, checkpoint_every and eval_batch_size must be at least 1"),
        ({"eval_batch_size": "0"}, "eval_batch_size must be in [1, 4096]"),
        ({"batch_size": "100000000"}, "batch_size must be in [1, 4096]"),
        ({"cache_images": "maybe"}, "cache_images must be one of auto, on, off, true, false"),
        ({"margins": "{ONE_CLASS: .nan, TWO_CLASS: .2, THREE_CLASS: .2}"},
         "margins: ONE_CLASS is 'nan', not a number in [0, 4]; give one for each of ONE_CLASS, TWO_CLASS, THREE_CLASS"),
        ({"margins": "{ONE_CLASS: -5, TWO_CLASS: .2, THREE_CLASS: .2}"}, "margins: ONE_CLASS is '-5', not a number in [0, 4]"),
        ({"margins": "{ONE_CLASS: [1], TWO_CLASS: .2, THREE_CLASS: .2}"}, "margins: ONE_CLASS is '[1]', not a number in [0, 4]"),
        ({"margins": "{a: 1}"}, "margins: unknown triplet type 'a'"),
        ({"margins": "{}"}, "margins: no margin for ONE_CLASS, TWO_CLASS, THREE_CLASS;"),
        ({"num_workers": "-1"}, "weight_decay, grad_clip, warmup_steps and num_workers must not be negative"),
        ({"weight_decay": "-1"}, "weight_decay, grad_clip, warmup_steps and num_workers must not be negative"),
        ({"face_size": "0"}, "face_size must be in [16, 1024]"),
        ({"face_size": "60000"}, "face_size must be in [16, 1024]"),
        ({"face_margin": "-0.6"}, "face_margin must be in [0, 1]"),
        ({"dropout": "1.0"}, "dropout must be in [0, 1)"),
        ({"seed": "-1"}, "seed must be in [0, 2**32)"),
        ({"min_agreement": "2"}, "min_agreement must be in [0, 1]"),
        ({"store": ["a", "b"]}, "config key store: expected str, got list"),
        ({"num_workers": "1000"}, "num_workers must be in [0, 64]: each worker is a forked process holding its own "
                                  "copy of the data, so more cost memory (1000 took 11.6 GB) without loading faster"),
    ],
)
def test_values_of_the_right_type_but_impossible_are_refused_before_training(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    assert str(error.value) == message or str(error.value).startswith(message)


def test_a_yaml_anchor_bomb_is_refused_without_expanding_it(tmp_path):
    """Each level repeats the one before nine times: 9**9 (387 million) strings once expanded. YAML shares them
    until something walks the value; the type check refuses it unwalked."""
    levels = ["&l0 lol"] + [f"&l{level} [{', '.join([f'*l{level - 1}'] * 9)}]" for level in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(f"test_data: [{', '.join(levels)}]\n")
    with pytest.raises(ConfigError) as error:
        load_config(bomb)
    assert str(error.value) == "config key test_data: expected str, got list"


def test_a_binary_or_oversized_config_file_is_one_line(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00model: x")
    with pytest.raises(ConfigError, match=r"binary.yaml: not a text file \(a YAML config is UTF-8 text\)$"):
        load_config(binary)
    large = tmp_path / "large.yaml"
    large.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match=r"large.yaml: \d+ bytes is too large for a config file"):
        load_config(large)


@pytest.mark.parametrize(("setting", "stored"), [("false", "off"), ("off", "off"), ("no_such", None), ("ON", "on"),
                                                  (False, "off"), (True, "on"), ("auto", "auto")])
def test_cache_images_takes_auto_on_or_off_from_yaml_or_an_override(setting, stored):
    if stored is None:
        with pytest.raises(ConfigError, match="cache_images must be one of auto, on, off"):
            load_config(None, {"cache_images": setting})
    else:
        assert load_config(None, {"cache_images": setting}).cache_images == stored


def test_only_on_and_auto_within_the_limit_cache_faces():
    from fec.data.dataset import should_cache

    assert [should_cache(100, 64, setting) for setting in ("on", "off", "auto", True, False)] == [True, False, True, True, False]
    assert should_cache(10**9, 224, "auto") is False


def test_a_config_file_with_a_key_that_is_not_a_name_is_one_line(tmp_path):
    path = tmp_path / "numbers.yaml"
    path.write_text("max_steps: 2\n1: 2\n")
    with pytest.raises(ConfigError, match="^unknown config key\\(s\\) 1; known keys: data, "):
        load_config(path)


def test_a_store_under_a_file_is_one_line_naming_the_key(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    with pytest.raises(ConfigError) as error:
        load_config(None, {"store": str(afile / "x")})
    assert str(error.value) == f"store {afile / 'x'}: {afile} is a file, not a folder; choose another store"


@pytest.mark.parametrize(("text", "value"), [("1e6", 1e6), ("1E-3", 1e-3), ("2.5e+2", 250.0), ("3", 3.0)])
def test_a_float_key_takes_exponent_notation_yaml_reads_as_a_string(tmp_path, text, value):
    """YAML 1.1 reads 1e6 (no dot) as a string: `--set lr=1e6` and `lr: 1e6` were refused as one."""
    assert load_config(None, parse_overrides((f"lr={text}",))).lr == value
    path = tmp_path / "run.yaml"
    path.write_text(f"temperature: {text}\n")
    assert load_config(path).temperature == value


@pytest.mark.parametrize(("text", "message"), [("-1e-4", "lr must be positive"),
                                               ("1e6x", "config key lr: expected float, got '1e6x'"),
                                               ("1e999", "config key lr: expected float, got inf")])
def test_exponent_notation_is_still_checked_as_a_number(text, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, parse_overrides((f"lr={text}",)))
    assert str(error.value) == message


def test_a_key_given_twice_in_a_yaml_config_is_one_line_naming_it_and_its_lines(tmp_path):
    """PyYAML keeps the last of two equal keys without a word: the run trained with a value its author did not mean."""
    path = tmp_path / "run.yaml"
    path.write_text("lr: 0.01\nmax_steps: 10\nlr: 0.5\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}:3: key 'lr' is given twice (first on line 1); keep one"
    path.write_text("margins:\n  ONE_CLASS: 0.1\n  TWO_CLASS: 0.2\n  ONE_CLASS: 0.3\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}:4: key 'ONE_CLASS' is given twice (first on line 2); keep one"
