"""The training loop: one screen of `fit`, with set-up, checkpoints and evaluation beside it.

Single process on CPU or one GPU; several processes under torchrun (DDP). Every rank computes the
same global batch plan and trains on its own slice, so N processes reach the weights one process
reaches on the same global batch. Checkpoints are atomic; `resume` continues bit-for-bit; SIGINT and
SIGTERM save a checkpoint before the process exits.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from fec.data.box_fit import training_convention
from fec.data.dataset import LoadedTriplets, load_triplets, subset, training_csv
from fec.errors import CheckpointError, ConfigError
from fec.evaluate import Evaluation, evaluate, torch_embedder
from fec.hardware import describe_kernels, kernel_record, resolve_device
from fec.io import atomic_open, write_json
from fec.losses import margin_vector, softmax_triplet_loss, triplet_loss
from fec.metrics import OVERALL, embedding_spread
from fec.models import create_model
from fec.models.checkpoint import load_weights, read_checkpoint, save_checkpoint
from fec.preprocessing import normalize_tensor
from fec.train.amp import choose_amp
from fec.train.collapse import batch_norm_settling_steps, collapse_warning
from fec.train.config import TrainConfig, config_changes
from fec.train.distributed import DistributedContext, any_rank, convert_batch_norm
from fec.train.plots import plot_metrics, read_metrics
from fec.train.resume import check_steps_left, restore_optimizer, restore_scaler, restore_scheduler, resume_point
from fec.train.rng_state import restore_rng_states, rng_states
from fec.train.sampling import StepBatchSampler, TripletBatchPlan

# What a run writes in its folder besides config.yaml and checkpoints/: a fresh run removes an earlier run's.
EARLIER_RUN_FILES = ("metrics.jsonl", "machine.jsonl", "last.pt", "best.pt", "curves.png", "test_metrics.json")


class TrainingInterrupted(Exception):
    """Raised after a checkpoint was saved because SIGINT/SIGTERM arrived."""

    def __init__(self, signum: int, step: int, checkpoint: Path):
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint {checkpoint}")
        self.signum, self.step, self.checkpoint = signum, step, checkpoint


def data_paths(config: TrainConfig) -> tuple[Path, Path | None]:
    """(train CSV, test CSV or None) from `data` (a folder or a CSV) and `test_data`."""
    if not config.data:
        raise ConfigError("no training data: pass --data DIR (with train.csv) or a CSV")
    train_csv = training_csv(config.data)
    test_csv = Path(config.test_data) if config.test_data else train_csv.parent / "test.csv"
    return train_csv, (test_csv if test_csv.exists() else None)


def model_options(config: TrainConfig) -> dict:
    """Options only some models take, passed only when set (so that models without them still build)."""
    return {"head": config.head} if config.head else {}


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: str | Path, quiet: bool = False,
                 context: DistributedContext | None = None, progress: bool = False):
        self.config, self.run_dir, self.quiet = config, Path(run_dir), quiet
        self.context = context or DistributedContext()
        self.progress = progress and self.context.is_main
        self.device = resolve_device(config.device)
        if self.device.type == "cuda" and self.context.enabled:
            self.device = torch.device("cuda", self.context.local_rank)
        self.amp = choose_amp(config.amp, self.device)
        self.amp_dtype = self.amp.dtype
        self.step, self.best_accuracy, self.stop_signal = 0, -1.0, None
        self._build()

    # ---- set-up -------------------------------------------------------------------------
    def _build(self) -> None:
        config = self.config
        if config.batch_size % self.context.world_size:
            raise ConfigError(f"batch_size {config.batch_size} is not divisible by {self.context.world_size} processes")
        torch.manual_seed(config.seed)
        self.model = create_model(config.model, config.embedding_dim, config.pretrained or None,
                                  input_size=config.input_size or None, dropout=config.dropout,
                                  standardize_input=config.standardize_input, **model_options(config))
        self.prep = self.model.preprocessing
        self.statistics_settle_at = batch_norm_settling_steps(self.model)  # no collapse warning before (eval mode)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model.to(self.device, memory_format=self.memory_format)
        self.train_model = self._wrap_distributed(self.model)
        self.train_csv, self.test_csv = data_paths(config)
        self.data = self._load(self.train_csv, flip=config.flip, min_agreement=config.min_agreement)
        self.box_convention = training_convention(config.box_convention, self.train_csv)  # recorded with the model
        if self.box_convention:
            self.log(f"box convention (recorded with the model, used on detected faces): {self.box_convention.describe()}")
        self.train_items, self.val_set = self._split_validation(self.data)
        self.margins = margin_vector(config.margins).to(self.device)  # checked by TrainConfig.validate
        self.optimizer = self._build_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        types = self.data.dataset.type_index[self.train_items]
        self.plan = TripletBatchPlan(self.train_items, types, config.batch_size, config.seed, config.balanced_types)

    def _wrap_distributed(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.context.enabled:
            return model
        convert_batch_norm(model, self.device.type)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def _load(self, csv_path: Path, flip: bool = False, min_agreement: float = 0.0) -> LoadedTriplets:
        config = self.config
        loaded = load_triplets(csv_path, self.prep.input_size, config.store or None, config.face_size, config.face_margin,
                               config.skip_bad_rows, min_agreement, config.cache_images, flip, config.seed,
                               quiet=not self.progress, allow_outside_paths=config.allow_outside_paths,
                               data_root=config.data_root or None)
        for line in loaded.warnings():
            self.warn(line)
        return loaded

    def _split_validation(self, data: LoadedTriplets):
        count = len(data.dataset)
        order = np.random.default_rng([self.config.seed, 7]).permutation(count)
        val_count = int(round(count * self.config.val_fraction))
        if val_count == 0:
            return np.sort(order), None
        return np.sort(order[val_count:]), subset(data.dataset, np.sort(order[:val_count]))

    def _build_optimizer(self) -> torch.optim.Optimizer:
        params, config = self.model.parameters(), self.config
        if config.optimizer == "sgd":
            return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
        optimizer = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        return optimizer(params, lr=config.lr, weight_decay=config.weight_decay)

    def _lr_factor(self, step: int) -> float:
        warmup = self.config.warmup_steps
        if step < warmup:
            return (step + 1) / warmup
        if self.config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, self.config.max_steps - warmup)
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    # ---- the loop -----------------------------------------------------------------------
    def fit(self, resume: bool = False, stop_at: int | None = None) -> dict:
        """Train to max_steps (or `stop_at`, for tests), evaluating and checkpointing on the way."""
        self._start_run(resume)
        end = min(self.config.max_steps, stop_at or self.config.max_steps)
        bar = tqdm(total=end, initial=self.step, desc="train", unit="step", disable=not self.progress)
        window_loss, window_start = [], time.perf_counter()
        with self._signals_saved():
            for batch in self._loader(end):
                loss = self.train_step(batch)
                self.step += 1
                window_loss.append(loss)
                bar.update(1)
                if self.step % self.config.log_every == 0 or self.step == end:
                    self._log_train(window_loss, time.perf_counter() - window_start, bar)
                    window_loss, window_start = [], time.perf_counter()
                self._after_step(end)
        bar.close()
        return self._finish() if self.step >= self.config.max_steps else {"step": self.step}

    def train_step(self, batch: dict) -> float:
        self.train_model.train()
        images = batch["images"].to(self.device, non_blocking=True)
        count = images.shape[0]
        inputs = normalize_tensor(images.flatten(0, 1), self.prep).contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            embeddings = self.train_model(inputs).view(count, 3, -1)
        loss = self._loss(embeddings, batch).mean()
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.item()

    def _loss(self, embeddings: torch.Tensor, batch: dict) -> torch.Tensor:
        """Per-triplet loss of the configured kind."""
        odd_index = batch["odd_index"].to(self.device)
        if self.config.loss == "softmax":
            return softmax_triplet_loss(embeddings, odd_index, self.config.temperature)
        return triplet_loss(embeddings, odd_index, self.margins[batch["type_index"].to(self.device)])

    def _after_step(self, end: int) -> None:
        config = self.config
        if self.step % config.eval_every == 0 or self.step == end:
            self._validate()
        if any_rank(self.stop_signal is not None, self.context):
            path = self.save()
            raise TrainingInterrupted(self.stop_signal or signal.SIGTERM, self.step, path)
        if self.step % config.checkpoint_every == 0 or self.step == end:
            self.save()

    def _loader(self, end: int) -> DataLoader:
        sampler = StepBatchSampler(self.plan, self.step, end, self.context.rank, self.context.world_size)
        # A private generator: building the loader must not consume the global RNG (exact resume).
        generator = torch.Generator().manual_seed(self.config.seed)
        return DataLoader(self.data.dataset, batch_sampler=sampler, num_workers=self.config.num_workers,
                          pin_memory=self.device.type == "cuda", generator=generator)

    # ---- evaluation, logging, checkpoints -----------------------------------------------
    def evaluate(self, dataset) -> Evaluation:
        self.model.eval()
        embed = torch_embedder(self.model, self.prep, self.device, self.amp_dtype)
        return evaluate(embed, dataset, self.config.eval_batch_size)

    def _validate(self) -> None:
        if self.val_set is None:
            return
        result = self.evaluate(self.val_set)
        accuracy = result.report[OVERALL].accuracy
        spread = embedding_spread(result.embeddings)
        warning = collapse_warning(self.step, spread, self.statistics_settle_at, self.config.standardize_input)
        self.record({"step": self.step, "split": "val", **{k: v["accuracy"] for k, v in result.to_json().items()},
                     "embedding_spread": spread, "collapse_warning": warning is not None})
        if warning:
            self.warn(warning)
        if accuracy > self.best_accuracy:
            self.best_accuracy = accuracy
            if self.context.is_main:
                save_checkpoint(self.run_dir / "best.pt", self._checkpoint_payload(val_accuracy=accuracy))

    def _log_train(self, losses: list[float], seconds: float, bar) -> None:
        rate = len(losses) * self.config.batch_size * 3 / max(seconds, 1e-9)
        record = {"step": self.step, "split": "train", "epoch": round(self.plan.epoch(self.step), 4),
                  "loss": float(np.mean(losses)), "lr": self.scheduler.get_last_lr()[0], "images_per_s": rate}
        self.record(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}", img_s=f"{rate:.0f}")

    def record(self, entry: dict) -> None:
        if self.context.is_main:
            with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def log(self, message: str) -> None:
        """A line of progress chatter (none under --quiet)."""
        if self.context.is_main and not self.quiet:
            tqdm.write(message)

    def warn(self, message: str) -> None:
        """A warning line: data lost, a collapse, a damaged checkpoint skipped. Shown also under --quiet, which
        silences progress, not news the user must act on."""
        if self.context.is_main:
            tqdm.write(f"warning: {message}", file=sys.stderr)

    def _checkpoint_payload(self, **metrics) -> dict:
        return {
            "model": dict(self.model.config), "preprocessing": self.prep.to_dict(),
            "state_dict": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "step": self.step, "epoch": self.plan.epoch(self.step), "rng": rng_states(),
            "best_accuracy": self.best_accuracy, "metrics": metrics, "config": self.config.to_dict(),
            "box_convention": self.box_convention.to_dict() if self.box_convention else None,
        }

    def save(self) -> Path:
        """Write checkpoints/step-N.pt and last.pt (rank 0), keeping the newest `keep_last`."""
        folder = self.run_dir / "checkpoints"
        path = folder / f"step-{self.step:08d}.pt"
        if self.context.is_main:
            save_checkpoint(path, self._checkpoint_payload())
            save_checkpoint(self.run_dir / "last.pt", self._checkpoint_payload())
            for old in sorted(folder.glob("step-*.pt"))[: -self.config.keep_last]:
                old.unlink()
        return path

    def _start_run(self, resume: bool) -> None:
        if resume:  # refused (nothing to resume, a changed setting) before anything is written
            path, payload = self._resume_point()
            self._restore(payload, path)
            self._trim_metrics()
            self.log(f"resumed from {path} at step {self.step}")
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if self.context.is_main:
                self._forget_earlier_run()
        if self.context.is_main:
            with atomic_open(self.run_dir / "config.yaml") as handle:
                yaml.safe_dump(self.config.to_dict(), handle, sort_keys=False)
            self._record_kernels()

    def _forget_earlier_run(self) -> None:
        """A fresh run replaces an earlier one in this folder: its logs, results and checkpoints go, so that
        pruning, best.pt and a later --resume can only ever see this run's."""
        files = [self.run_dir / name for name in EARLIER_RUN_FILES] + sorted((self.run_dir / "checkpoints").glob("step-*.pt"))
        checkpoints = [path.name for path in files if path.suffix == ".pt" and path.is_file()]
        if checkpoints:
            self.warn(f"a fresh run in {self.run_dir} replaces the run there: its checkpoints ({len(checkpoints)}, "
                      f"e.g. {checkpoints[0]}) are removed; --resume continues a run instead")
        for path in files:
            path.unlink(missing_ok=True)

    def _record_kernels(self) -> None:
        """One line per start (a resumed run may move to another machine) in machine.jsonl: the same seed
        follows another trajectory on other kernels, so a run's figures name the kernels they came from."""
        kernels = {**kernel_record(), "amp": self.amp.to_dict()}
        with open(self.run_dir / "machine.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": self.step, **kernels}) + "\n")
        self.log(f"kernels: {describe_kernels(kernels)}; {self.amp.describe()}")

    def _resume_point(self) -> tuple[Path, dict]:
        path, payload, passed_over = resume_point(self.run_dir)
        for problem in passed_over:
            self.warn(f"{problem}; resuming from the older {path}")
        return path, payload

    def _restore(self, payload: dict, path: Path) -> None:
        if payload["model"]["name"] != self.config.model:
            raise CheckpointError(f"{path}: run was trained with model {payload['model']['name']!r}, "
                                  f"config asks for {self.config.model!r}")
        changed = config_changes(payload.get("config", {}), self.config)
        if changed:
            key, trained, asked = changed[0]
            raise ConfigError(f"{path}: --resume with {key}={asked!r}, but the run was trained with {key}={trained!r}; "
                              "resume without changing it, or train into a new --out folder")
        check_steps_left(payload["step"], self.config.max_steps, path)
        load_weights(self.model, payload["state_dict"], path)
        try:
            restore_optimizer(self.optimizer, payload["optimizer"], path)
            restore_scheduler(self.scheduler, payload["scheduler"], path)
            restore_scaler(self.scaler, payload["scaler"])
            restore_rng_states(payload["rng"])
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:  # what torch and numpy raise on foreign state
            raise CheckpointError(f"{path}: its training state does not fit this run ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:160]}); train without --resume into a new --out") from None
        self.step, self.best_accuracy = payload["step"], payload["best_accuracy"]

    def _trim_metrics(self) -> None:
        """Forget metrics logged after the checkpoint we resume from (they will be logged again)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists() or not self.context.is_main:
            return
        kept = [line for line, record in read_metrics(path) if record["step"] <= self.step]
        with atomic_open(path) as handle:
            handle.write("".join(line + "\n" for line in kept))

    def _signals_saved(self):
        """While training, SIGINT/SIGTERM only set a flag; the loop saves and stops after the step."""
        if signal.getsignal(signal.SIGINT) is None:  # not the main thread's interpreter
            return nullcontext()
        trainer = self

        class _Handlers:
            def __enter__(self):
                self.previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
                for signum in self.previous:
                    signal.signal(signum, lambda number, frame: setattr(trainer, "stop_signal", number))

            def __exit__(self, *exc):
                for signum, handler in self.previous.items():
                    signal.signal(signum, handler)

        return _Handlers()

    def _finish(self) -> dict:
        """Plot the curves and score the best checkpoint on the held-out test CSV."""
        results: dict = {"step": self.step, "best_val_accuracy": self.best_accuracy}
        if self.context.is_main:
            plot_metrics(self.run_dir / "metrics.jsonl", self.run_dir / "curves.png")
        if self.test_csv is not None:
            best = self.run_dir / "best.pt"
            if best.exists():
                load_weights(self.model, read_checkpoint(best)["state_dict"], best)
            test = self._load(self.test_csv)
            evaluation = self.evaluate(test.dataset)
            results["test"] = evaluation.to_json()
            results["test_csv"] = str(self.test_csv)
            if self.context.is_main:
                write_json(self.run_dir / "test_metrics.json", results["test"])
        return results
