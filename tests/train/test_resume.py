"""Resume is exact: N steps straight equal N/2 steps, a stop, and N/2 resumed steps, weight for weight."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from fec.train.config import load_config
from fec.train.trainer import Trainer
from tests.helpers import tiny_overrides


def train(data, run_dir, stop_at=None, resume=False, **extra):
    trainer = Trainer(load_config(None, tiny_overrides(data, dropout=0.3, **extra)), run_dir, quiet=True)
    trainer.fit(resume=resume, stop_at=stop_at)
    return trainer


def test_stop_and_resume_gives_identical_weights(tiny_synth, tmp_path):
    straight = train(tiny_synth, tmp_path / "straight")
    train(tiny_synth, tmp_path / "resumed", stop_at=3)
    resumed = train(tiny_synth, tmp_path / "resumed", resume=True)
    assert resumed.step == straight.step == 6
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert resumed.scheduler.get_last_lr() == straight.scheduler.get_last_lr()
    straight_log = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    resumed_log = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in resumed_log] == [json.loads(line)["step"] for line in straight_log]
    assert [json.loads(line).get("loss") for line in resumed_log] == [json.loads(line).get("loss") for line in straight_log]


def test_run_folder_holds_checkpoints_metrics_plot_and_test_scores(tiny_synth, tmp_path):
    run = tmp_path / "run"
    train(tiny_synth, run, keep_last=1)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000006.pt"]
    expected = {"best.pt", "last.pt", "config.yaml", "metrics.jsonl", "curves.png", "test_metrics.json"}
    assert expected <= {p.name for p in run.iterdir()}
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scores = json.loads((run / "test_metrics.json").read_text())
    assert scores["overall"]["count"] == 12
    assert set(scores) >= {"ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET", "overall"}
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert checkpoint["step"] == 6 and checkpoint["model"]["name"] == "mobilenet_v3_small"
    assert checkpoint["preprocessing"]["input_size"] == 112
    assert {"optimizer", "scheduler", "scaler", "rng", "config", "fec_version"} <= set(checkpoint)


def test_a_fresh_run_in_an_earlier_runs_folder_replaces_it_checkpoints_and_all(tiny_synth, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_synth, run, max_steps=4, checkpoint_every=1, keep_last=1)
    capsys.readouterr()
    train(tiny_synth, run, max_steps=2, checkpoint_every=1, keep_last=1)

    # the earlier run's step 4 neither outlives this run's pruning nor can be resumed from
    assert sorted(path.name for path in (run / "checkpoints").iterdir()) == ["step-00000002.pt"]
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 2
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()][-1] == 2
    warning = capsys.readouterr().err
    assert f"warning: a fresh run in {run} replaces the run there: its checkpoints (3, e.g. last.pt) are removed" in warning
    (run / "last.pt").write_bytes(b"torn")
    assert train(tiny_synth, run, resume=True, max_steps=3, checkpoint_every=1, keep_last=1).step == 3  # from step 2


def test_resume_falls_back_to_the_newest_readable_step_checkpoint(tiny_synth, tmp_path):
    run = tmp_path / "run"
    train(tiny_synth, run, stop_at=3)
    (run / "last.pt").write_bytes(b"torn")
    resumed = train(tiny_synth, run, resume=True)
    assert resumed.step == 6
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()][:3] == [1, 2, 3]


@pytest.mark.parametrize("damage", [{"optimizer": None}, {"step": "3"}, {"step": -1}, {"rng": "seeded"},
                                    {"best_accuracy": float("nan")}])
def test_a_last_checkpoint_without_a_usable_training_state_is_passed_over_with_a_warning(tiny_synth, tmp_path, capsys,
                                                                                         damage):
    """Weights that load but a training state that does not (edited, or written by something else): the run
    resumes from the newest step checkpoint that has one, and says which it passed over, also under --quiet."""
    run = tmp_path / "run"
    train(tiny_synth, run, stop_at=3)
    payload = torch.load(run / "last.pt", weights_only=True)
    torch.save({**payload, **damage}, run / "last.pt")
    capsys.readouterr()
    resumed = train(tiny_synth, run, resume=True)
    assert resumed.step == 6
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:") and "resum" in line]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {run / 'last.pt'}: no training state to resume "
                                                         f"(missing or damaged: {next(iter(damage))})")
    assert warnings[0].endswith(f"; resuming from the older {run / 'checkpoints' / 'step-00000003.pt'}")


def test_a_run_from_before_standardization_resumes_as_it_was_trained(tiny_synth, tmp_path):
    """0.1 runs saved no standardize_input: they resume without it instead of with today's default."""
    from click.testing import CliRunner

    from fec.cli import train as train_cli

    run = tmp_path / "run"
    train(tiny_synth, run, stop_at=3, standardize_input=False)
    payload = torch.load(run / "last.pt", weights_only=True)
    del payload["config"]["standardize_input"], payload["model"]["standardize_input"]
    torch.save(payload, run / "last.pt")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    del saved["standardize_input"]
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    result = CliRunner().invoke(train_cli.main, ["--out", str(run), "--resume", "--quiet"])
    assert result.exit_code == 0, result.output
    assert torch.load(run / "last.pt", weights_only=True)["config"]["standardize_input"] is False


def test_a_metrics_line_torn_by_a_kill_is_dropped_on_resume(tiny_synth, tmp_path):
    run = tmp_path / "run"
    train(tiny_synth, run, stop_at=3)
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 4, "split": "tra')
    train(tiny_synth, run, resume=True)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines if '"train"' in line] == [1, 2, 3, 4, 5, 6]


def test_every_start_records_the_kernels_it_ran_on(tiny_synth, tmp_path, monkeypatch):
    run = tmp_path / "run"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    train(tiny_synth, run, stop_at=3)
    train(tiny_synth, run, resume=True)
    starts = [json.loads(line) for line in (run / "machine.jsonl").read_text().splitlines()]
    assert [start["step"] for start in starts] == [0, 3]
    assert starts[0]["cpu"]["onednn_max_isa"] == "AVX2"
    assert starts[0]["cpu"]["aten_capability"] == torch.backends.cpu.get_cpu_capability()
    assert starts[0]["threads"] == torch.get_num_threads() and starts[0]["torch"] == torch.__version__
    train(tiny_synth, run)  # a fresh run into the same folder forgets the earlier starts
    assert [json.loads(line)["step"] for line in (run / "machine.jsonl").read_text().splitlines()] == [0]


def test_a_run_saved_on_more_gpus_restores_the_rng_states_of_the_gpus_here(monkeypatch):
    from fec.train import rng_state

    restored = []
    monkeypatch.setattr(rng_state.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(rng_state.torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(rng_state.torch.cuda, "set_rng_state_all", restored.append)
    states = {**rng_state.rng_states(), "cuda": [torch.zeros(8, dtype=torch.uint8), torch.ones(8, dtype=torch.uint8)]}
    rng_state.restore_rng_states(states)
    assert len(restored) == 1 and len(restored[0]) == 1 and torch.equal(restored[0][0], torch.zeros(8, dtype=torch.uint8))


def test_a_scaler_saved_off_resumes_as_a_fresh_enabled_one():
    """bf16 (scaler off, state {}) saved on one GPU, resumed on one that only does fp16 (amp: auto enables it)."""
    from fec.train.resume import restore_scaler

    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, enabled=True)
    restore_scaler(scaler, {})
    assert scaler.get_scale() == 1024.0
    saved = torch.amp.GradScaler("cpu", init_scale=64.0, enabled=True).state_dict()
    restore_scaler(scaler, saved)
    assert scaler.get_scale() == 64.0


@pytest.fixture(scope="module")
def stopped_run(tiny_synth, tmp_path_factory):
    """A run stopped at step 3 of 6, trained once for the tests that damage a copy of it."""
    run = tmp_path_factory.mktemp("stopped") / "run"
    train(tiny_synth, run, stop_at=3)
    return run


def _set_optimizer_state(name, value):
    return lambda payload: payload["optimizer"]["state"][0].update({name: value})


@pytest.mark.parametrize("damage, message", [
    (_set_optimizer_state("exp_avg", torch.zeros(3)), "optimizer state exp_avg of parameter 0 has shape (3,) but the "
     "parameter has (16, 3, 3, 3): the state belongs to another model; train without --resume into a new --out"),
    (_set_optimizer_state("exp_avg_sq", torch.full((16, 3, 3, 3), float("nan"))), "optimizer state exp_avg_sq of "
     "parameter 0 holds NaN or infinity, which would train on to NaN losses; resume from an earlier "
     "checkpoints/step-N.pt (move this one away) or train into a new --out"),
    (lambda payload: payload["optimizer"]["param_groups"][0].update(lr=float("nan")),
     "optimizer setting lr of group 0 is nan, not a finite number; train without --resume into a new --out"),
    (lambda payload: payload["scheduler"].update(base_lrs=[float("inf")]),
     "scheduler base_lrs is [inf], not finite numbers; train without --resume into a new --out"),
    (lambda payload: payload.update(step=10**6), "the run is at step 1000000, past max_steps 6, so there is nothing to "
     "train; give --max-steps above 1000000 to train on, or train into a new --out"),
], ids=["optimizer shapes", "optimizer nan", "optimizer lr nan", "scheduler inf", "step past max_steps"])
def test_a_training_state_that_cannot_be_trained_on_is_one_line_at_resume(tiny_synth, stopped_run, tmp_path, damage,
                                                                         message):
    """An optimizer state of another model crashed at the first step; NaN in it trained on to NaN losses; a step past
    max_steps trained nothing and exited 0."""
    import shutil

    from fec.errors import CheckpointError

    run = shutil.copytree(stopped_run, tmp_path / "run")
    payload = torch.load(run / "last.pt", weights_only=True)
    damage(payload)
    torch.save(payload, run / "last.pt")
    with pytest.raises(CheckpointError) as error:
        train(tiny_synth, run, resume=True)
    assert str(error.value) == f"{run / 'last.pt'}: {message}"
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()][-1] == 3
