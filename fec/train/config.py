"""Training configuration: defaults, a YAML file on top, then `key=value` overrides on top of that.

Unknown keys are errors that list the known ones: a misspelt option is never silently dropped.
The resolved configuration is saved in the run folder and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fec.artifacts import MAX_BATCH
from fec.data.face_store import MAX_FACE_MARGIN, MAX_FACE_SIZE
from fec.errors import ConfigError
from fec.io import file_in_the_way
from fec.losses import DEFAULT_MARGINS, LOSSES, margin_vector
from fec.preprocessing import MIN_INPUT_SIZE
from fec.vocabulary import Precision

AMP_MODES = ("auto", "off", Precision.FP16, Precision.BF16)
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "constant")
MAX_NUM_WORKERS = 64  # data-loading processes; a few per core already keep any accelerator fed
CACHE_SETTINGS = {"auto": "auto", "on": "on", "off": "off", "true": "on", "false": "off"}


@dataclass
class TrainConfig:
    data: str = ""                     # folder with train.csv/test.csv, or a train CSV path
    test_data: str = ""                # test CSV; default: test.csv beside the training CSV
    store: str = ""                    # face store folder; default: faces/ beside the training CSV
    face_size: int = 224               # size of the stored face crops
    face_margin: float = 0.0
    box_convention: str = "auto"       # fec-data fit-boxes' file, kept with the model: auto (beside the CSV), none, a path
    skip_bad_rows: bool = False
    data_root: str = ""                # folder local pictures must lie in; default: the CSV's folder
    allow_outside_paths: bool = False  # local pictures may lie anywhere
    min_agreement: float = 0.0         # train only on triplets at least this agreed on
    val_fraction: float = 0.1          # training triplets held out for checkpoint selection
    model: str = "mobilenet_v3_small"
    embedding_dim: int = 16
    input_size: int = 0                # model input pixels; 0 = the model's declared size
    dropout: float = 0.2
    head: str = ""                     # resnet18, mobilenet_v3_small: global (the paper's; "" = the model's own) | grid
    standardize_input: bool = True     # per-image standardisation first: leaves the early plateau sooner
    pretrained: str = ""               # local trunk weights file
    max_steps: int = 1000
    batch_size: int = 64               # triplets per step, over all processes
    optimizer: str = "adamw"            # adamw | adam | sgd (momentum 0.9)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    schedule: str = "cosine"
    grad_clip: float = 5.0             # max gradient norm; 0 disables
    amp: str = "auto"
    channels_last: bool = False        # NHWC tensors: faster convolutions on CPUs (oneDNN) and tensor cores
    loss: str = "triplet"              # triplet: the paper's margin loss | softmax: cross-entropy over pairs
    temperature: float = 0.1           # softmax loss only: logits are -squared distance / temperature
    margins: dict = field(default_factory=lambda: {k.value: v for k, v in DEFAULT_MARGINS.items()})
    balanced_types: bool = False
    flip: bool = True
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    cache_images: str = "auto"          # decoded faces in memory: auto (when they fit) | on | off
    log_every: int = 20
    eval_every: int = 200
    checkpoint_every: int = 200
    keep_last: int = 3
    eval_batch_size: int = 256

    def validate(self) -> TrainConfig:
        checks = [
            (self.amp in AMP_MODES, f"amp must be one of {AMP_MODES}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (self.max_steps > 0, "max_steps must be positive"),
            (1 <= self.batch_size <= MAX_BATCH, f"batch_size must be in [1, {MAX_BATCH}]"),
            (1 <= self.eval_batch_size <= MAX_BATCH, f"eval_batch_size must be in [1, {MAX_BATCH}]"),
            (self.cache_images.lower() in CACHE_SETTINGS, f"cache_images must be one of {', '.join(CACHE_SETTINGS)}"),
            (0.0 <= self.val_fraction < 1.0, "val_fraction must be in [0, 1)"),
            (self.lr > 0, "lr must be positive"),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}"),
            (self.temperature > 0, "temperature must be positive"),
            (self.keep_last >= 1, "keep_last must be at least 1"),
            (MIN_INPUT_SIZE <= self.face_size <= MAX_FACE_SIZE, f"face_size must be in [{MIN_INPUT_SIZE}, {MAX_FACE_SIZE}]"),
            (0.0 <= self.face_margin <= MAX_FACE_MARGIN, f"face_margin must be in [0, {MAX_FACE_MARGIN:g}]"),
            (0.0 <= self.min_agreement <= 1.0, "min_agreement must be in [0, 1]"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (min(self.weight_decay, self.grad_clip, self.warmup_steps, self.num_workers) >= 0,
             "weight_decay, grad_clip, warmup_steps and num_workers must not be negative"),
            (self.num_workers <= MAX_NUM_WORKERS,
             f"num_workers must be in [0, {MAX_NUM_WORKERS}]: each worker is a forked process holding its own copy of "
             "the data, so more cost memory (1000 took 11.6 GB) without loading faster"),
            (min(self.log_every, self.eval_every, self.checkpoint_every, self.eval_batch_size) >= 1,
             "log_every, eval_every, checkpoint_every and eval_batch_size must be at least 1"),
            (0 <= self.seed < 2**32, "seed must be in [0, 2**32)"),
            (not self.store or file_in_the_way(self.store) is None,
             f"store {self.store}: {file_in_the_way(self.store or '.')} is a file, not a folder; choose another store"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        try:
            margin_vector(self.margins)
        except ValueError as exc:
            raise ConfigError(f"margins: {exc}; give one for each of ONE_CLASS, TWO_CLASS, THREE_CLASS") from None
        self.cache_images = CACHE_SETTINGS[self.cache_images.lower()]
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Keys added after 0.1, with the value that reproduces what a 0.1 run did: a run folder written then
# resumes as it was trained, not with today's default.
LEGACY_VALUES = {"standardize_input": False}

# Keys a resumed run may change: where things are, how often to log, evaluate and save, the step budget.
CHANGEABLE_ON_RESUME = frozenset({"data", "test_data", "store", "skip_bad_rows", "data_root", "allow_outside_paths",
                                  "max_steps", "device", "num_workers", "cache_images", "log_every", "eval_every",
                                  "checkpoint_every", "keep_last", "eval_batch_size"})


def config_changes(trained: dict, config: TrainConfig) -> list[tuple[str, object, object]]:
    """(key, trained value, asked value) for each key a resume may not change; keys unknown to `trained` are skipped."""
    changes = []
    for key, asked in config.to_dict().items():
        if key in CHANGEABLE_ON_RESUME or (key not in trained and key not in LEGACY_VALUES):
            continue
        value = trained.get(key, LEGACY_VALUES.get(key))
        if value != asked:
            changes.append((key, value, asked))
    return changes


def load_config(path: str | Path | None = None, overrides: dict | None = None, saved_run: bool = False) -> TrainConfig:
    """Defaults <- YAML file <- overrides, validated.

    `saved_run`: the file is a run's own config.yaml (for --resume); keys it lacks take LEGACY_VALUES.
    """
    values: dict = {}
    if path:
        saved = _read_yaml(Path(path))
        if saved_run:
            values.update({key: value for key, value in LEGACY_VALUES.items() if key not in saved})
        values.update(saved)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(str(key) for key in set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; known keys: {', '.join(known)}")
    config = TrainConfig()
    for key, value in values.items():
        setattr(config, key, _coerce(key, value, getattr(config, key)))
    return config.validate()


def parse_overrides(pairs: tuple[str, ...]) -> dict:
    """`key=value` strings -> dict of raw strings; `_coerce` parses each by its key's type."""
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {pair!r} is not key=value")
        if key.strip() in overrides:
            raise ConfigError(f"--set {key.strip()} is given twice ({overrides[key.strip()]!r} and {text!r}); keep one")
        overrides[key.strip()] = text
    return overrides


MAX_CONFIG_BYTES = 1 << 20  # a config is a page of keys; anything larger is not one


class DuplicateKey(yaml.YAMLError):
    """A mapping that gives one key twice: PyYAML would keep the last without a word."""

    def __init__(self, key, line: int, first_line: int):
        super().__init__(f"{line}: key {key!r} is given twice (first on line {first_line}); keep one")


MERGE_TAG = "tag:yaml.org,2002:merge"  # `<<: *defaults`: merged keys may be overridden, as YAML means


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping, naming it and both lines."""

    def construct_mapping(self, node, deep=False):
        first_lines = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE_TAG:  # keys written here, not merged
                key = self.construct_object(key_node)
                if key in first_lines:
                    raise DuplicateKey(key, key_node.start_mark.line + 1, first_lines[key])
                first_lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size} bytes is too large for a config file (at most {MAX_CONFIG_BYTES})")
    try:
        values = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a YAML config is UTF-8 text)") from None
    except DuplicateKey as exc:
        raise ConfigError(f"{path}:{exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    return values


def _coerce(key: str, value, default):
    """Convert `value` to the type of the default, or raise ConfigError naming the key."""
    target = type(default)
    if target is str and isinstance(value, bool):
        return "on" if value else "off"  # YAML 1.1 reads a bare off/on as a boolean
    try:
        if isinstance(value, str) and target is not str:
            value = _parsed_text(value, target)
        if not _fits(value, target):
            raise ValueError
        return target(value) if target in (int, float, str) else value
    except (TypeError, ValueError, yaml.YAMLError):
        shown = repr(value) if isinstance(value, (str, int, float, bool)) else type(value).__name__  # never str() a
        raise ConfigError(f"config key {key}: expected {target.__name__}, got {shown[:80]}") from None  # YAML bomb


FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _parsed_text(text: str, target: type):
    """Text (an override: 0.1, true, {ONE_CLASS: 0.3}) as YAML reads it; for a float key also a number in exponent
    notation without a dot (1e6), which YAML 1.1 reads as a string."""
    if target is float and FLOAT_TEXT.fullmatch(text.strip()):
        return float(text)
    return yaml.safe_load(text)


def _fits(value, target: type) -> bool:
    """Whether `value` is a `target` as a config means it: 3 is a float, but 3.9 is no int, a bool is no number,
    an infinite or NaN float no setting, and a list or mapping no string."""
    if target is bool or target is dict:
        return isinstance(value, target)
    if isinstance(value, bool):
        return False
    if target is int:
        return isinstance(value, int)
    if target is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, (str, int, float))  # str: a number written bare in YAML is still a name
