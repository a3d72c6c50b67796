"""fec-deploy's pipeline: candidates -> exports -> verification -> benchmarks -> choice -> report and Triton.

Every step reuses the project's own stages: fec.export makes the exports (the fp32 ONNX file from the
checkpoint, the others from it, as `make demo` always did), fec.verify judges each candidate against
PyTorch on the held-out triplets, fec.bench times each one with its stability windows, fec.deploy.select
chooses, and fec.triton packages the choice. A candidate that fails at any step is recorded with its
reason and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from fec.bench.backend_rows import bench_backend
from fec.bench.options import BenchOptions
from fec.bench.run import target_inputs
from fec.bench.targets import resolve_target
from fec.data.dataset import triplet_csv
from fec.deploy.cache import DeployCache, key_of
from fec.deploy.candidates import PEER, Candidate, ExportSpec, Skipped, plan_candidates, why_not_here
from fec.deploy.options import DeployOptions
from fec.deploy.select import FAILED, OK, SAME_MODEL, UNAVAILABLE, Measured, Timing
from fec.errors import DeployError, FecError
from fec.export.manifest import read_manifest, sha256_file
from fec.export.pipeline import export_model
from fec.export.registry import ExportRequest
from fec.runtimes.backends import get_backend
from fec.verify import verify_checkpoint_backends, verify_exports
from fec.vocabulary import Precision

REFERENCE = "torch/checkpoint"
# What a candidate's verification records (and the cache must hold to be reused).
VERDICT_FIELDS = {"delta_pt": float, "flips": float, "min_cos": float, "nonfinite": int, "error": str}


@dataclass
class Trial:
    """One candidate on its way through the pipeline."""

    candidate: Candidate
    measured: Measured
    folder: Path | None = None        # its export folder (None: the checkpoint)
    files_key: str = ""               # the sha256 of the export's files: what its verification is keyed by


def run_candidates(checkpoint: Path, options: DeployOptions) -> tuple[list[Measured], dict, list[str], list[dict]]:
    """Every candidate made, verified and timed; returns their measurements, PyTorch's held-out accuracy, the
    verification's warnings (e.g. a checkpoint that embeds every face alike, where accuracy changes mean nothing)
    and the students trained by --compress (what, for how long)."""
    test_csv = triplet_csv(options.data)
    calib = calibration_csv(options.calib_data, test_csv)
    runnable, skipped = plan_candidates(options.precisions, options.backends, options.float_below, int8=calib is not None,
                                        quantizers=options.quantizers)
    if not any(candidate.name == REFERENCE for candidate in runnable):
        raise DeployError("the PyTorch reference (backend torch) must be among the candidates: it is what every "
                          "other is judged against; keep torch in --backend and fp32 in --precision")
    cache = DeployCache(options.out)
    trials = [new_trial(candidate) for candidate in runnable]
    peer, peer_missing = peer_trial(options, calib)
    trials += [peer] if peer else []
    skipped += [peer_missing] if peer_missing else []
    make_exports(trials, checkpoint, calib, cache, options)
    reference, warnings = verify_trials(trials, checkpoint, test_csv, cache, options)
    made, students = student_trials(checkpoint, test_csv, calib, cache, options, reference)
    trials += made
    time_trials(trials, checkpoint, test_csv, options)
    unavailable = [Measured(item.candidate.name, item.candidate.backend, item.candidate.folder_name,
                            item.candidate.precision, status=UNAVAILABLE, reason=item.reason, peer=item.candidate == PEER)
                   for item in skipped]
    return [trial.measured for trial in trials] + unavailable, reference, warnings, students


def new_trial(candidate: Candidate, peer: bool = False) -> Trial:
    return Trial(candidate, Measured(candidate.name, candidate.backend, candidate.folder_name, candidate.precision, peer=peer))


def student_trials(checkpoint: Path, test_csv: Path, calib: Path | None, cache: DeployCache, options: DeployOptions,
                   reference: dict) -> tuple[list[Trial], list[dict]]:
    """fec-deploy --compress: students distilled from the checkpoint (fec.deploy.compress), each exported and
    verified like the checkpoint's exports, their accuracy change counted against the ORIGINAL checkpoint: the
    change against their own PyTorch plus the student's own change against the original's."""
    if options.compress is None:
        return [], []
    from fec.deploy.compress import distil_students

    if calib is None:
        raise DeployError("--compress trains students on the training faces: give --calib-data (or keep train.csv "
                          "beside the test CSV)")
    trials, students = [], []
    for student in distil_students(checkpoint, calib, options.out / "compress", options.compress, options.progress_bars,
                                   options.say):
        runnable, _ = plan_candidates(options.precisions, options.backends, options.float_below, int8=True,
                                      quantizers=options.quantizers)
        made = [new_trial(replace(candidate, source=student.name)) for candidate in runnable if candidate.export]
        make_exports(made, student.checkpoint, calib, cache, options)
        own, _ = verify_trials(made, student.checkpoint, test_csv, cache, options)
        offset = 100.0 * (own["overall"] - reference["overall"])
        for trial in made:
            if trial.measured.delta_pt is not None:
                trial.measured.delta_pt = round(trial.measured.delta_pt + offset, 4)
        trials += made
        students.append({"name": student.name, "checkpoint": str(student.checkpoint), "input_size": student.input_size,
                         "steps": student.steps, "seconds": round(student.seconds, 1), "final_loss": student.final_loss,
                         "resumed_at": student.resumed_at, "reused": "reused" in student.notes,
                         "delta_pt_pytorch": round(offset, 4), "describe": student.describe()})
    return trials, students


def peer_trial(options: DeployOptions, calib: Path | None) -> tuple[Trial | None, Skipped | None]:
    """The peer row (NNCF's default int8 on OpenVINO's default hints), or why it cannot be measured here."""
    if not options.peer:
        return None, None
    reason = why_not_here(get_backend(PEER.backend), PEER.export, int8=calib is not None)
    if reason:
        return None, Skipped(PEER, reason)
    return new_trial(PEER, peer=True), None


def calibration_csv(given: Path | None, test_csv: Path) -> Path | None:
    if given is not None:
        return triplet_csv(given)
    beside = test_csv.parent / "train.csv"
    return beside if beside.is_file() else None


def make_exports(trials: list[Trial], checkpoint: Path, calib: Path | None, cache: DeployCache,
                 options: DeployOptions) -> None:
    """Each export the candidates need, made once (the fp32 ONNX file first: the others are made from it)."""
    checkpoint_sha = sha256_file(checkpoint)
    calib_sha = sha256_file(calib) if calib is not None else None
    prefix = next((f"{trial.candidate.source}-" for trial in trials if trial.candidate.source), "")  # one source a call
    specs = sorted({trial.candidate.export for trial in trials if trial.candidate.export},
                   key=lambda spec: (spec.format != "onnx" or spec.precision != Precision.FP32, spec.name))
    made: dict[str, tuple[Path | None, str]] = {}
    for index, spec in enumerate(specs, 1):
        int8 = spec.precision == Precision.INT8
        budget = {"max_drop": options.max_drop} if spec.quantizer == "nncf-accuracy" else {}  # it shapes that file
        key = key_of(checkpoint=checkpoint_sha, spec=spec.name, calib=(calib_sha, options.calib_size) if int8 else None,
                     max_batch=export_max_batch(options), **budget)
        made[spec.name] = make_export(spec, prefix + spec.name, key, checkpoint, calib, made, cache, options)
        options.say(f"[export {index}/{len(specs)}] {prefix}{spec.name}: {made[spec.name][1] or 'ready'}")
    for trial in trials:
        if trial.candidate.export is not None:
            trial.folder, error = made[trial.candidate.export.name]
            if trial.folder is None:  # error: why it could not be made
                fail(trial, f"export {trial.candidate.folder_name}: {error}")
            else:
                trial.files_key = key_of(files=[entry["sha256"] for entry in read_manifest(trial.folder)["files"]])
    mark_same_models(trials)


def mark_same_models(trials: list[Trial]) -> None:
    """Two int8 exports that keep the same layers float are one model (the same calibration, the same
    quantizer): e.g. ResNet18 under --float-below 48 and 16, where only its 3-channel first convolution is
    narrower than either. Only the first of them on each backend is verified and timed; timing the same model
    twice would only report a tie with itself."""
    first: dict[tuple, str] = {}
    for trial in trials:
        spec = trial.candidate.export
        if trial.folder is None or spec is None or spec.precision != Precision.INT8 or trial.measured.status != OK:
            continue
        kept = read_manifest(trial.folder).get("details", {}).get(Precision.INT8, {}).get("kept_in_float")
        if kept is None:
            continue
        key = (trial.candidate.backend, spec.format, tuple(sorted(kept)))
        if key in first:
            trial.measured.status = SAME_MODEL
            trial.measured.reason = f"as {first[key]} (the same layers kept float)"
        else:
            first[key] = trial.candidate.name


def make_export(spec: ExportSpec, name: str, key: str, checkpoint: Path, calib: Path | None, made: dict,
                cache: DeployCache, options: DeployOptions) -> tuple[Path | None, str]:
    """(folder, "reused" or "") for a reused or new export (exports/NAME), or (None, why it could not be made)."""
    folder = options.out / "exports" / name
    if cache.export_folder(name, key, folder) is not None:
        return folder, "reused"
    fp32_onnx = made.get("onnx-fp32", (None,))[0]
    source = fp32_onnx / "model.onnx" if spec.format == "onnx" and spec.precision != Precision.FP32 and fp32_onnx else checkpoint
    try:
        request = spec.request(calib, options.calib_size, export_max_batch(options), options.max_drop)
        export_model(source, spec.format, request, folder)
    except FecError as exc:
        return None, str(exc)
    cache.remember_export(name, key)
    return folder, ""


def export_max_batch(options: DeployOptions) -> int:
    """The largest batch the exports take: fec-export's default (64), or the largest asked for when above."""
    return max(ExportRequest().max_batch, *options.batches)


def verify_trials(trials: list[Trial], checkpoint: Path, test_csv: Path, cache: DeployCache,
                  options: DeployOptions) -> tuple[dict, list[str]]:
    """Each candidate but the reference against PyTorch on the CPU, on the held-out triplets (reused when nothing
    changed): the exports, and the checkpoint on the other PyTorch backends (CUDA, autocast, CUDA graphs).
    Returns PyTorch's accuracy per triplet type and the warnings of the verifications that ran."""
    data_sha, checkpoint_sha = sha256_file(test_csv), sha256_file(checkpoint)
    reference_key = key_of(reference=checkpoint_sha, data=data_sha)
    reference = cache.verification(REFERENCE, reference_key)
    pending: dict[str | None, list[tuple[Trial, str]]] = {}  # backend (None: the checkpoint on its backends)
    warnings: list[str] = []
    for trial in trials:
        if trial.measured.status != OK or trial.candidate.name == REFERENCE:
            continue
        on_checkpoint = trial.candidate.export is None
        source = checkpoint_sha if on_checkpoint else trial.files_key
        key = key_of(export=source, backend=trial.candidate.backend, data=data_sha)
        cached = cache.verification(trial.candidate.name, key, VERDICT_FIELDS)
        if cached is not None:
            apply_verification(trial, cached)
        else:
            pending.setdefault(None if on_checkpoint else trial.candidate.backend, []).append((trial, key))
    for backend, group in pending.items():
        options.say(f"[verify] {backend or 'checkpoint'}: {', '.join(trial.candidate.name for trial, _ in group)}")
        if backend is None:
            result = verify_checkpoint_backends(checkpoint, test_csv, [trial.candidate.backend for trial, _ in group])
        else:
            result = verify_exports([trial.folder for trial, _ in group], test_csv, checkpoint, [backend], record=False)
        reference = result.reference["accuracy"]
        warnings += [warning for warning in result.warnings if warning not in warnings]
        for (trial, key), row in zip(group, result.results):
            verdict = {"delta_pt": row.delta_pt, "flips": row.flips, "min_cos": row.min_cos, "nonfinite": row.nonfinite,
                       "error": "; ".join(row.failures) if row.status == "ERROR" else ""}
            apply_verification(trial, verdict)
            cache.remember_verification(trial.candidate.name, key, verdict)
    if reference is None:  # nothing but the checkpoint ran: PyTorch's accuracy from its own run
        reference = verify_reference_only(checkpoint, test_csv)
    cache.remember_verification(REFERENCE, reference_key, reference)
    mark_reference(trials)
    return reference, warnings


def apply_verification(trial: Trial, verdict: dict) -> None:
    if verdict.get("error"):
        fail(trial, verdict["error"])
        return
    measured = trial.measured
    measured.delta_pt, measured.flips = verdict["delta_pt"], verdict["flips"]
    measured.min_cos, measured.nonfinite = verdict["min_cos"], verdict["nonfinite"]


def mark_reference(trials: list[Trial]) -> None:
    """The checkpoint on PyTorch (CPU, fp32) is the reference itself: no change, no flips."""
    for trial in trials:
        if trial.candidate.name == REFERENCE and trial.measured.status != FAILED:
            measured = trial.measured
            measured.delta_pt, measured.flips, measured.min_cos, measured.nonfinite = 0.0, 0.0, 1.0, 0


def verify_reference_only(checkpoint: Path, test_csv: Path) -> dict:
    from fec.evaluate import evaluate_checkpoint

    evaluation, _ = evaluate_checkpoint(checkpoint, test_csv, device="cpu")
    return {key: value.accuracy for key, value in evaluation.report.items()}


def time_trials(trials: list[Trial], checkpoint: Path, test_csv: Path, options: DeployOptions) -> None:
    """Each candidate that was made and verified, at every batch and mode, on the held-out faces, in
    `options.passes` passes over all of them (every other pass in reverse order), so that a slow spell of
    the machine does not fall on one candidate alone; the passes' spread is part of the noise."""
    bench = BenchOptions(batches=list(options.batches), settings=options.settings, data=test_csv,
                         threads=options.threads, modes=options.modes)
    targets, inputs = {}, {}
    live = [trial for trial in trials if trial.measured.status == OK]
    passes: dict[str, dict[tuple[int, str], list[Timing]]] = {trial.candidate.name: {} for trial in live}
    for number in range(options.passes):
        for index, trial in enumerate(live if number % 2 == 0 else live[::-1], 1):
            if trial.measured.status == FAILED:
                continue
            options.say(f"[time {index}/{len(live)}, pass {number + 1}/{options.passes}] {trial.candidate.name}")
            path = str(trial.folder or checkpoint)
            try:
                target = targets.setdefault(path, resolve_target(path))
                rows = bench_backend(target, get_backend(trial.candidate.backend), target_inputs(target, bench, inputs),
                                     bench)
            except FecError as exc:
                fail(trial, f"timing: {exc}")
                continue
            for row in rows:
                passes[trial.candidate.name].setdefault((row.batch, row.mode), []).append(timing_of(row.measurement))
    for trial in live:
        if trial.measured.status != FAILED:
            for (batch, mode), timings in passes[trial.candidate.name].items():
                trial.measured.timings.setdefault(batch, {})[mode] = combined(timings)


def timing_of(measurement) -> Timing:
    medians = measurement.window_medians_ms[-2:] or (measurement.p50_ms,)
    spread = (max(medians) - min(medians)) / measurement.p50_ms if measurement.p50_ms > 0 else 0.0
    return Timing(round(measurement.p50_ms, 4), round(measurement.p99_ms, 4), round(measurement.throughput, 1),
                  round(spread, 4))


def combined(passes: list[Timing]) -> Timing:
    """One timing from several passes: the fastest pass's median and throughput (interference only ever slows a
    run down), the worst p99 (what a latency budget must allow for), and as noise the larger of the windows'
    spread and the passes' spread."""
    best = min(passes, key=lambda timing: timing.p50_ms)
    between = (max(t.p50_ms for t in passes) - best.p50_ms) / best.p50_ms if best.p50_ms > 0 else 0.0
    return Timing(best.p50_ms, max(t.p99_ms for t in passes), best.throughput,
                  round(max(between, *(t.spread for t in passes)), 4), tuple(t.p50_ms for t in passes))


def fail(trial: Trial, reason: str) -> None:
    trial.measured.status, trial.measured.reason = FAILED, reason.splitlines()[0] if reason else "failed"
