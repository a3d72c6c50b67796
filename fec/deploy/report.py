"""fec-deploy's report: decision.json (everything measured and chosen), decision.md (the table that says
why each candidate lost) and decision.png (accuracy change against latency, the chosen point marked).

All three are written from the same Measured records and decisions, atomically.
"""

from __future__ import annotations

from pathlib import Path

from fec.artifacts import utc_now
from fec.deploy.select import BatchDecision, BudgetDecision, Measured
from fec.hardware import describe_cpu
from fec.io import atomic_open, atomic_path, write_json
from fec.vocabulary import Precision

DECISION_SCHEMA = "fec-deploy/1"
BASELINE = "onnxruntime/onnx-fp32"   # what speed-ups are quoted against (ONNX Runtime fp32), when it ran
PEER_DESCRIPTION = ("what an OpenVINO user gets in five lines: nncf.quantize(model, dataset) on the fp32 ONNX file "
                    "(NNCF's defaults), compiled with OpenVINO's default hints, dynamic batch")


def decision_payload(checkpoint: Path, settings: dict, hardware: dict, reference: dict, measured: list[Measured],
                     per_batch: list[BatchDecision], budget: BudgetDecision | None, served: dict | None,
                     warnings: list[str]) -> dict:
    return {"format": DECISION_SCHEMA, "created": utc_now(),
            "checkpoint": str(checkpoint), "settings": settings, "hardware": hardware,
            "reference_accuracy": reference, "candidates": [candidate.to_dict() for candidate in measured],
            "per_batch": [decision.to_dict() for decision in per_batch], "peer": peer_summary(measured, per_batch,
                                                                                          settings.get("rank_by", "compute")),
            "latency_budget": budget.to_dict() if budget else None, "served": served, "warnings": warnings}


def peer_summary(measured: list[Measured], per_batch: list[BatchDecision], mode: str) -> dict | None:
    """The peer row (what an OpenVINO user gets from NNCF in five lines), its accuracy change, and the choice's
    speed-up over it at each batch; None when no peer was measured."""
    peer = next((candidate for candidate in measured if candidate.peer), None)
    if peer is None:
        return None
    return {"name": peer.name, "what": PEER_DESCRIPTION, "status": peer.status, "reason": peer.reason,
            "delta_pt": peer.delta_pt, "choice_speedup": {str(decision.batch): speedup(measured, decision.chosen,
                                                                                       decision.batch, mode, peer.name)
                                                          for decision in per_batch}}


def speedup(measured: list[Measured], name: str | None, batch: int, mode: str, baseline: str = BASELINE) -> float | None:
    """The baseline's median over `name`'s at `batch` (None when either was not measured)."""
    by_name = {candidate.name: candidate for candidate in measured}
    if name not in by_name or baseline not in by_name:
        return None
    chosen, base = by_name[name].timing(batch, mode), by_name[baseline].timing(batch, mode)
    return round(base.p50_ms / chosen.p50_ms, 2) if chosen and base and chosen.p50_ms > 0 else None


def markdown_table(measured: list[Measured], per_batch: list[BatchDecision], budget: BudgetDecision | None,
                   mode: str, hardware: dict) -> str:
    """One row per candidate: its accuracy change, flips, median per batch, and the verdict at each batch."""
    batches = [decision.batch for decision in per_batch]
    header = ["candidate", "precision", "d acc (pt)", "flips", "min cos",
              *(f"p50 ms b{batch}" for batch in batches), *(f"b{batch}" for batch in batches)]
    lines = [f"CPU: {describe_cpu(hardware.get('cpu', {}))}; ranked by {mode} median latency", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for candidate in measured:
        cells = [candidate.name, candidate.precision, _number(candidate.delta_pt, "+.2f"), _percent(candidate.flips),
                 _number(candidate.min_cos, ".4f")]
        cells += [_number(getattr(candidate.timing(batch, mode), "p50_ms", None), ".3f") for batch in batches]
        cells += [_short(decision.verdicts.get(candidate.name, "")) for decision in per_batch]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for decision in per_batch:
        lines.append(decision_line(measured, decision, mode))
    if budget is not None:
        lines.append(f"- latency budget {budget.budget_ms:g} ms (p99 per batch): "
                     + (f"**{budget.chosen}** at batch {budget.batch}, {budget.throughput:.0f} images/s, "
                        f"p99 {budget.p99_ms:.3f} ms" if budget.chosen else "no candidate keeps it"))
    out = {candidate.name: verdict for candidate in measured
           if (verdict := next(iter(per_batch)).verdicts.get(candidate.name, "")) and not _in_race(verdict)} if per_batch else {}
    if out:
        lines += ["", "Out of the race:"] + [f"- {name}: {verdict}" for name, verdict in out.items()]
    return "\n".join(lines) + "\n"


def _in_race(verdict: str) -> bool:
    return verdict == "chosen" or verdict.startswith(("slower", "within", "not measured"))


def decision_line(measured: list[Measured], decision: BatchDecision, mode: str) -> str:
    if decision.chosen is None:
        return f"- batch {decision.batch}: no candidate keeps the accuracy budget"
    times = speedup(measured, decision.chosen, decision.batch, mode)
    against = f", {times:.2f}x ONNX Runtime fp32" if times else ""
    peer = next((candidate.name for candidate in measured if candidate.peer), None)
    over_peer = speedup(measured, decision.chosen, decision.batch, mode, peer) if peer else None
    against += f", {over_peer:.2f}x the peer ({peer})" if over_peer else ""
    tie = (f"; the runner-up {decision.runner_up} lies within the measured noise ({decision.gap:.1%} slower, "
           f"noise {decision.noise:.1%}): another run may pick either" if decision.tied else "")
    return f"- batch {decision.batch}: **{decision.chosen}**, {decision.p50_ms:.3f} ms{against}{tie}"


def _short(verdict: str) -> str:
    """A verdict in a table cell: chosen, how much slower, a tie, or the kind of reason it is out."""
    if verdict == "chosen":
        return "**chosen**"
    if verdict.startswith("slower"):
        return verdict.split(":")[1].split()[0] + " slower"
    if verdict.startswith("within"):
        return "tie (noise)"
    return verdict.split(":")[0]


def _number(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


PRECISION_MARKERS = {Precision.FP32: "o", Precision.FP16: "s", Precision.BF16: "D", Precision.INT8: "^"}


def write_plot(path: Path, measured: list[Measured], per_batch: list[BatchDecision], mode: str, max_drop: float) -> None:
    """Accuracy change against median latency, one panel per batch size: colour = runtime, marker = precision,
    the chosen candidate ringed, the accuracy budget dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    colours = {backend: f"C{index}" for index, backend in enumerate(dict.fromkeys(c.backend for c in measured))}
    figure, panels = plt.subplots(1, len(per_batch), figsize=(5.5 * len(per_batch), 4.4), squeeze=False)
    for axes, decision in zip(panels[0], per_batch):
        for candidate in measured:
            timing = candidate.timing(decision.batch, mode)
            if timing is None or candidate.delta_pt is None:
                continue
            axes.scatter(timing.p50_ms, candidate.delta_pt, color=colours[candidate.backend], s=45,
                         marker=PRECISION_MARKERS.get(candidate.precision, "o"), label=candidate.name, zorder=2)
            if candidate.name == decision.chosen:
                axes.scatter(timing.p50_ms, candidate.delta_pt, s=260, facecolors="none", edgecolors="black",
                             linewidths=1.5, zorder=3)
        axes.axhline(-max_drop, color="grey", linestyle="--", linewidth=1)
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(ScalarFormatter())
        axes.xaxis.set_minor_formatter(ScalarFormatter())
        axes.set_xlabel(f"median latency per batch of {decision.batch} (ms, {mode})")
        axes.set_ylabel("held-out accuracy change vs PyTorch (pt)")
        axes.set_title(f"batch {decision.batch}: chosen (ringed) {decision.chosen or 'none'}; dashed: max drop",
                       fontsize="small")
        axes.grid(True, alpha=0.3)
    panels[0][-1].legend(fontsize="x-small", loc="best")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def write_reports(folder: Path, payload: dict, table: str, measured: list[Measured], per_batch: list[BatchDecision],
                  mode: str, max_drop: float) -> dict[str, Path]:
    paths = {"json": folder / "decision.json", "table": folder / "decision.md", "plot": folder / "decision.png"}
    write_json(paths["json"], payload)
    with atomic_open(paths["table"], "w", encoding="utf-8") as handle:
        handle.write(table)
    write_plot(paths["plot"], measured, per_batch, mode, max_drop)
    return paths
