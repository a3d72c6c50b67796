"""`deploy(checkpoint, options)`: find the fastest deployment that keeps accuracy on this machine, report why,
and package it for Triton.

    result = deploy(Path("runs/demo/best.pt"), DeployOptions(data=Path("data/synth/test.csv"), out=Path("export/deploy")))
    result.served["candidate"], result.paths["table"]

The Triton repository serves the choice at the largest batch asked for (dynamic batching gathers
requests into batches), or the latency budget's choice when one is given. PyTorch itself is a
candidate but not a Triton model: when it wins, the fastest exported candidate is served instead, and
the report says so.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from fec.deploy.options import DeployOptions
from fec.deploy.report import decision_payload, markdown_table, write_reports
from fec.deploy.run import run_candidates
from fec.deploy.select import BatchDecision, BudgetDecision, Measured, choose_per_batch, choose_under_budget
from fec.errors import DeployError
from fec.hardware import hardware_profile
from fec.io import make_folder
from fec.runtimes.backends import SERVE_WITH, get_backend


@dataclass(frozen=True)
class DeployResult:
    measured: list[Measured]
    per_batch: list[BatchDecision]
    budget: BudgetDecision | None
    served: dict | None
    paths: dict[str, Path]


def deploy(checkpoint: Path, options: DeployOptions, serve_with: str = "native", triton_repo: Path | None = None,
           package: bool = True, photos: bool = False) -> DeployResult:
    """Candidates made, verified, timed and chosen; reports written to `options.out`; the choice packaged."""
    if serve_with not in SERVE_WITH:
        raise DeployError(f"--serve-with must be one of {', '.join(SERVE_WITH)}, got {serve_with!r}")
    options.validate()
    if not checkpoint.is_file():
        raise DeployError(f"{checkpoint}: checkpoint not found (give the .pt file fec-train wrote)")
    make_folder(options.out)
    measured, reference, warnings, students = run_candidates(checkpoint, options)
    per_batch = [choose_per_batch(measured, batch, options.max_drop, options.rank_by) for batch in options.batches]
    budget = (choose_under_budget(measured, list(options.batches), options.max_drop, options.latency_budget_ms,
                                  options.rank_by) if options.latency_budget_ms is not None else None)
    served = None
    if package:
        served = package_choice(measured, per_batch, budget, options, serve_with, triton_repo or options.out / "triton_repo",
                                photos)
    hardware = hardware_profile(options.threads)
    payload = decision_payload(checkpoint, settings_of(options, serve_with), hardware, reference, measured, per_batch,
                               budget, served, warnings)
    payload["students"] = students
    table = markdown_table(measured, per_batch, budget, options.rank_by, hardware)
    table += "".join(f"\nwarning: {warning}\n" for warning in warnings)
    table += "".join(f"\nstudent {item['describe']}; PyTorch {item['delta_pt_pytorch']:+.2f} pt against the checkpoint\n"
                     for item in students)
    if served:
        table += f"\nServed by Triton: {served['candidate']} as embedding kind {served['embedding']} in {served['repo']}"
        table += f" ({served['why']})\n"
    paths = write_reports(options.out, payload, table, measured, per_batch, options.rank_by, options.max_drop)
    return DeployResult(measured, per_batch, budget, served, paths)


def settings_of(options: DeployOptions, serve_with: str) -> dict:
    return {"data": str(options.data), "batches": list(options.batches), "max_drop_pt": options.max_drop,
            "latency_budget_ms": options.latency_budget_ms, "precisions": list(options.precisions),
            "backends": list(options.backends) if options.backends else None, "float_below": list(options.float_below),
            "measure": asdict(options.settings), "threads": options.threads, "modes": list(options.modes),
            "rank_by": options.rank_by, "serve_with": serve_with, "peer": options.peer,
            "compress": asdict(options.compress) if options.compress else None}


def served_candidate(measured: list[Measured], per_batch: list[BatchDecision], budget: BudgetDecision | None,
                     serve_with: str, mode: str) -> tuple[Measured | None, str]:
    """The candidate to package, and why: the budget's choice, else the choice at the largest batch; the
    fastest servable one in its ranking when the choice itself is not a Triton model (PyTorch)."""
    by_name = {candidate.name: candidate for candidate in measured}
    if budget is not None and budget.chosen:
        ranking, why = [budget.chosen], f"the latency budget's choice at batch {budget.batch}"
    else:
        decision = max(per_batch, key=lambda item: item.batch)
        ranking = sorted((name for name, verdict in decision.verdicts.items()
                          if verdict == "chosen" or verdict.startswith(("slower", "within"))),
                         key=lambda name: by_name[name].timing(decision.batch, mode).p50_ms)
        why = f"the choice at batch {decision.batch}"
    for name in ranking:
        if servable_kind(by_name[name].backend, serve_with):
            chosen = by_name[name]
            return chosen, why if name == ranking[0] else f"{why} ({ranking[0]}) is no Triton model; the next fastest"
    return None, "no candidate within the budget can be served by Triton"


def servable_kind(backend: str, serve_with: str) -> str | None:
    """The Triton embedding kind that serves `backend`'s verified model, or None where Triton cannot serve it."""
    return get_backend(backend).served_kind(serve_with)


def package_choice(measured: list[Measured], per_batch: list[BatchDecision], budget: BudgetDecision | None,
                   options: DeployOptions, serve_with: str, repo: Path, photos: bool = False) -> dict | None:
    """Write the Triton repository of the served candidate (its export folder), or None when nothing is servable;
    `photos` adds the photo model (fec-triton --photos)."""
    from fec.triton.exports import read_exports
    from fec.triton.repository import MARKER, RepositoryOptions, write_repository

    candidate, why = served_candidate(measured, per_batch, budget, serve_with, options.rank_by)
    if candidate is None:
        if repo.exists() and (repo / MARKER).is_file():
            shutil.rmtree(repo)  # an older choice must not pass for this one
        return None
    serving = get_backend(candidate.backend).serving
    kind = serving.kind(serve_with)
    if serve_with == "native" and serving.why:  # e.g. no own-backend kind computes what was verified (OpenVINO f32)
        why += f"; {serving.why}"
    max_batch = max(RepositoryOptions().max_batch, *options.batches)  # what one client may send at once
    options.say(f"[triton] {candidate.name} as {kind} -> {repo}")
    summary = write_repository(read_exports([options.out / "exports" / candidate.export]),
                               RepositoryOptions(embedding=kind, max_batch=max_batch, photos=photos, **serving.options), repo)
    return {"candidate": candidate.name, "embedding": kind, "repo": str(repo), "ensemble": summary.ensemble,
            "embedding_model": summary.embedding_model, "why": why}
