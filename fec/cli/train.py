"""`fec-train`: train an FECNet embedding on FEC-format triplets (CPU, one GPU, or DDP via torchrun)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from fec.cli.common import OutputPath, quiet_option, show_progress, user_errors


@click.command(help="Train an expression embedding. Flags override --config, which overrides the defaults.")
@click.option("--data", help="Folder with train.csv/test.csv (as `fec-data synth` writes) or a train CSV.")
@click.option("--model", help="A model of the registry (fec/models); an unknown name is refused with the list.")
@click.option("--out", "run_dir", type=OutputPath(), default=Path("runs/latest"), show_default=True,
              help="Run folder: checkpoints, metrics.jsonl, curves.png, config.yaml.")
@click.option("--max-steps", type=int)
@click.option("--batch-size", type=click.IntRange(min=1), help="Triplets per step over all processes.")
@click.option("--lr", type=float)
@click.option("--amp", type=click.Choice(["auto", "off", "fp16", "bf16"]))
@click.option("--device", help="auto, cpu, cuda, cuda:1 ...")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1))
@click.option("--skip-bad-rows", is_flag=True, help="Count malformed CSV rows and go on instead of stopping at the first.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="YAML config file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override any config key (repeatable).")
@click.option("--resume", is_flag=True, help="Continue from the run's newest readable checkpoint (RUN/last.pt, else the "
                                           "highest RUN/checkpoints/step-N.pt); a changed setting is an error.")
@click.option("--nproc", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="Processes on this machine (wraps torchrun).")
@quiet_option
@user_errors
def main(data, model, run_dir, max_steps, batch_size, lr, amp, device, seed, skip_bad_rows, config_path, overrides, resume,
         nproc, quiet):
    from fec.errors import ConfigError
    from fec.train.config import load_config, parse_overrides

    if resume and not run_dir.is_dir():
        raise ConfigError(f"--resume: {run_dir} is not a run folder, so there is nothing to resume; give the run's --out, "
                          "or train without --resume")
    flags = {"data": data, "model": model, "max_steps": max_steps, "batch_size": batch_size, "lr": lr,
             "amp": amp, "device": device, "seed": seed, "skip_bad_rows": skip_bad_rows or None}
    saved_run = resume and config_path is None and (run_dir / "config.yaml").exists()
    if saved_run:
        config_path = run_dir / "config.yaml"  # resume the run as it was configured; flags still win
    config = load_config(config_path, {**flags, **parse_overrides(overrides)}, saved_run=saved_run)
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        sys.exit(_relaunch_with_torchrun(nproc))
    _train(config, run_dir, resume, quiet)


def _train(config, run_dir: Path, resume: bool, quiet: bool) -> None:
    from fec.hardware import resolve_device
    from fec.metrics import format_report
    from fec.train.distributed import init_distributed, shutdown_distributed
    from fec.train.trainer import Trainer, TrainingInterrupted

    context = init_distributed(resolve_device(config.device).type)
    try:
        trainer = Trainer(config, run_dir, quiet, context, progress=show_progress(quiet))
        results = trainer.fit(resume=resume)
    except TrainingInterrupted as stop:
        if context.is_main:
            click.echo(f"{stop}; continue with: fec-train --out {run_dir} --resume", err=True)
        sys.exit(128 + stop.signum)
    finally:
        shutdown_distributed()
    if context.is_main and not quiet:
        click.echo(f"trained {results['step']} steps; best validation accuracy {100 * results['best_val_accuracy']:.2f}%")
        if "test" in results:
            click.echo(f"held-out test triplets ({results['test_csv']}), best checkpoint:")
            click.echo(format_report(results["test"]))
        click.echo(f"run folder: {run_dir}")


def _relaunch_with_torchrun(nproc: int) -> int:
    """Re-run this command under torchrun with `nproc` processes on this machine."""
    args = [a for a in sys.argv[1:] if not a.startswith("--nproc")]
    if "--nproc" in sys.argv[1:]:
        position = sys.argv[1:].index("--nproc")
        args = sys.argv[1 : 1 + position] + sys.argv[1 + position + 2 :]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "fec.cli.train", *args]
    return subprocess.call(command)


if __name__ == "__main__":
    main()
