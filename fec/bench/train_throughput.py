"""Training throughput: images/s of real training steps against the same steps on one cached batch.

`fec-bench train` builds the Trainer that `fec-train` would, runs a few untimed warm-up steps, then
times N steps fed by its data loader (loading, decoding, collating and the copy to the device
included) and N steps re-using one batch already on the device. Their ratio shows whether the input
pipeline keeps up with the model: near 1 it does; well below 1 the GPU waits for data (raise
`num_workers`, cache the images).

    result = measure_training(trainer, steps=50)
    result.ratio, result.record()

The clock and the device synchronisation are injected, as in fec.bench.measure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fec.bench.errors import BenchError
from fec.bench.measure import no_sync

TRAIN_REPORT_SCHEMA = "fec-bench-train/2"  # 2: amp is {setting, dtype, why}
KEEPS_UP = 0.9   # a ratio at or above this: the input pipeline keeps up


@dataclass(frozen=True)
class TrainThroughput:
    steps: int
    images_per_step: int          # 3 faces per triplet x triplets per step
    loader_s: float               # N steps fed by the data loader
    cached_s: float               # N steps on one batch already on the device

    @property
    def loader_images_per_s(self) -> float:
        return self.steps * self.images_per_step / self.loader_s if self.loader_s > 0 else 0.0

    @property
    def cached_images_per_s(self) -> float:
        return self.steps * self.images_per_step / self.cached_s if self.cached_s > 0 else 0.0

    @property
    def ratio(self) -> float:
        """Loader throughput / cached-batch throughput."""
        return self.loader_images_per_s / self.cached_images_per_s if self.cached_images_per_s > 0 else 0.0

    def rows(self) -> list[dict]:
        """Rounded once: what the table and the JSON both carry."""
        images = self.steps * self.images_per_step
        return [{"mode": mode, "steps": self.steps, "images": images, "seconds": round(seconds, 3),
                 "images_per_s": round(rate, 1)}
                for mode, seconds, rate in (("data-loader", self.loader_s, self.loader_images_per_s),
                                            ("cached-batch", self.cached_s, self.cached_images_per_s))]

    def verdict(self, num_workers: int) -> str:
        if self.ratio >= KEEPS_UP:
            return "the input pipeline keeps up with training"
        return (f"the input pipeline holds training back ({1 - self.ratio:.0%} slower than on a cached batch): "
                f"raise num_workers (now {num_workers}) or cache the images")


def measure_training(trainer, steps: int, warmup: int = 2, clock: Callable[[], float] = time.perf_counter,
                     sync: Callable[[], None] = no_sync) -> TrainThroughput:
    """Warm up, then time `steps` real steps (loader included) and `steps` steps on the last batch, cached on the device."""
    if steps < 1 or warmup < 0:
        raise BenchError(f"need steps >= 1 and warm-up steps >= 0, got {steps} and {warmup}")
    batches = iter(trainer._loader(warmup + steps))
    for _ in range(warmup):
        trainer.train_step(next(batches))
    sync()
    start, batch, count = clock(), None, 0
    for batch in batches:
        trainer.train_step(batch)
        count += 1
    sync()
    loader_s = clock() - start
    if count < steps:
        raise BenchError(f"the data loader gave {count} batches for {steps} timed steps")
    cached = {key: value.to(trainer.device) if hasattr(value, "to") else value for key, value in batch.items()}
    start = clock()
    for _ in range(steps):
        trainer.train_step(cached)
    sync()
    return TrainThroughput(steps, 3 * int(batch["images"].shape[0]), loader_s, clock() - start)


def bench_training(data: str, config_path: str | None, overrides: dict, *, steps: int, warmup: int):
    """(throughput, trainer) of the Trainer fec-train would build, run in a throwaway run folder."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fec-bench-train-") as run_dir:
        trainer = build_trainer(data, config_path, overrides, run_dir)
        return measure_training(trainer, steps, warmup, sync=device_sync(trainer)), trainer


def build_trainer(data: str, config_path: str | None, overrides: dict, run_dir):
    """The Trainer fec-train would build from the same data, config file and overrides (nothing is written)."""
    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    config = load_config(config_path, {"data": data, **overrides})
    return Trainer(config, run_dir, quiet=True)


def device_sync(trainer) -> Callable[[], None]:
    if trainer.device.type != "cuda":
        return no_sync
    import torch

    return lambda: torch.cuda.synchronize(trainer.device)


def format_training(result: TrainThroughput, num_workers: int) -> str:
    rows = result.rows()
    columns = list(rows[0])
    cells = [columns] + [[str(row[column]) for column in columns] for row in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells]
    lines.append(f"ratio (data-loader / cached-batch): {round(result.ratio, 3)}: {result.verdict(num_workers)}")
    return "\n".join(lines)


def training_report(result: TrainThroughput, trainer) -> dict:
    from fec.artifacts import package_versions, utc_now
    from fec.bench.report import gpu_names

    config = trainer.config
    settings = {key: getattr(config, key) for key in ("data", "model", "batch_size", "input_size", "amp", "num_workers",
                                                      "cache_images", "flip")}
    return {"format": TRAIN_REPORT_SCHEMA, "created": utc_now(),
            "device": str(trainer.device), "gpus": gpu_names(), "amp": trainer.amp.to_dict(),
            "settings": settings, "versions": package_versions(),
            "rows": result.rows(), "ratio": round(result.ratio, 3), "verdict": result.verdict(config.num_workers)}
