"""Choosing a deployment from measurements: the fastest candidate within the accuracy budget, per batch size,
or the highest throughput under a latency budget. Pure functions of recorded numbers (no timing, no
files), so the choice can be tested and re-derived from a decision.json.

Each candidate that is not chosen gets one reason: it cannot run here, it failed, it loses too much
accuracy, it was not measured at that batch, or it is slower. When the runner-up's median lies within
the measured noise of the winner's (the spread of their timing windows' medians), the decision says
so: the two are tied on this evidence, and another run may pick either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

OK, FAILED, UNAVAILABLE, SAME_MODEL = "ok", "failed", "unavailable", "same model"
PEER_VERDICT = "the peer: shown for comparison, never chosen"


@dataclass(frozen=True)
class Timing:
    """One (batch, mode) of a candidate: median and tail latency per batch, images/s, and the relative spread
    of its timing windows' medians (the noise of the median)."""

    p50_ms: float
    p99_ms: float
    throughput: float
    spread: float
    pass_p50_ms: tuple[float, ...] = ()   # each timing pass's median, when several were run


@dataclass
class Measured:
    """A candidate's verification against PyTorch and its timings (timings[batch][mode])."""

    name: str
    backend: str
    export: str | None
    precision: str
    status: str = OK                  # ok | failed | unavailable | same model (reason: as which candidate)
    reason: str = ""
    delta_pt: float | None = None     # held-out accuracy change against PyTorch, in points
    flips: float | None = None
    min_cos: float | None = None
    nonfinite: int | None = None
    timings: dict[int, dict[str, Timing]] = field(default_factory=dict)
    peer: bool = False                # the reference row of what others deploy (never chosen; speed-ups quoted over it)

    def timing(self, batch: int, mode: str) -> Timing | None:
        return self.timings.get(batch, {}).get(mode)

    def to_dict(self) -> dict:
        payload = asdict(self)
        payload["timings"] = {str(batch): {mode: asdict(timing) for mode, timing in modes.items()}
                              for batch, modes in self.timings.items()}
        return payload

    @classmethod
    def from_dict(cls, payload: dict) -> Measured:
        timings = {int(batch): {mode: Timing(**{**timing, "pass_p50_ms": tuple(timing.get("pass_p50_ms", ()))})
                                for mode, timing in modes.items()}
                   for batch, modes in payload.get("timings", {}).items()}
        return cls(**{**payload, "timings": timings})


@dataclass(frozen=True)
class BatchDecision:
    batch: int
    chosen: str | None
    p50_ms: float | None
    runner_up: str | None
    gap: float | None              # runner-up's median / chosen's - 1
    noise: float | None            # the larger spread of the two
    verdicts: dict[str, str]       # candidate -> why it was (not) chosen

    @property
    def tied(self) -> bool:
        """The runner-up lies within the measured noise of the chosen candidate."""
        return self.gap is not None and self.noise is not None and self.gap <= self.noise

    def to_dict(self) -> dict:
        return {**asdict(self), "tied": self.tied}


@dataclass(frozen=True)
class BudgetDecision:
    budget_ms: float
    chosen: str | None
    batch: int | None
    throughput: float | None
    p99_ms: float | None
    verdicts: dict[str, str]

    def to_dict(self) -> dict:
        return asdict(self)


def accuracy_verdict(candidate: Measured, max_drop: float) -> str | None:
    """Why the candidate is out before any timing counts, or None when it keeps the accuracy budget."""
    if candidate.peer:
        return PEER_VERDICT
    if candidate.status == UNAVAILABLE:
        return f"cannot run here: {candidate.reason}"
    if candidate.status == FAILED:
        return f"failed: {candidate.reason}"
    if candidate.status == SAME_MODEL:
        return f"same model: {candidate.reason}"
    if candidate.nonfinite:
        return f"{candidate.nonfinite} NaN/Inf values in its embeddings"
    if candidate.delta_pt is None:
        return "not verified against PyTorch"
    if not candidate.delta_pt >= -max_drop:  # written so that NaN is out
        return f"over the accuracy budget: {candidate.delta_pt:+.2f} pt against PyTorch (max drop {max_drop:g} pt)"
    return None


def choose_per_batch(candidates: list[Measured], batch: int, max_drop: float, mode: str) -> BatchDecision:
    """The fastest candidate (median latency in `mode`) within the accuracy budget at `batch`."""
    verdicts = {candidate.name: accuracy_verdict(candidate, max_drop) for candidate in candidates}
    timed = []
    for candidate in candidates:
        timing = candidate.timing(batch, mode)
        if verdicts[candidate.name] is None and timing is None:
            verdicts[candidate.name] = f"not measured at batch {batch} ({mode})"
        elif verdicts[candidate.name] is None:
            timed.append((timing.p50_ms, candidate.name, timing))
    timed.sort(key=lambda item: item[:2])
    if not timed:
        return BatchDecision(batch, None, None, None, None, None, verdicts)
    best_ms, chosen, best = timed[0]
    verdicts[chosen] = "chosen"
    for p50, name, timing in timed[1:]:
        gap, noise = p50 / best_ms - 1, max(best.spread, timing.spread)
        verdicts[name] = (f"within the measured noise of the chosen ({gap:.1%} slower, noise {noise:.1%})" if gap <= noise
                          else f"slower: {p50 / best_ms:.2f}x the chosen's median ({p50:.3f} ms against {best_ms:.3f})")
    runner_up = timed[1] if len(timed) > 1 else None
    return BatchDecision(batch, chosen, best_ms, runner_up[1] if runner_up else None,
                         runner_up[0] / best_ms - 1 if runner_up else None,
                         max(best.spread, runner_up[2].spread) if runner_up else None, verdicts)


def choose_under_budget(candidates: list[Measured], batches: list[int], max_drop: float, budget_ms: float,
                        mode: str) -> BudgetDecision:
    """The (candidate, batch) with the highest throughput whose p99 latency per batch stays within `budget_ms`."""
    verdicts, feasible = {}, []
    for candidate in candidates:
        verdicts[candidate.name] = accuracy_verdict(candidate, max_drop)
        if verdicts[candidate.name] is not None:
            continue
        fits = [(timing.throughput, -batch, candidate.name, timing) for batch in batches
                if (timing := candidate.timing(batch, mode)) is not None and timing.p99_ms <= budget_ms]
        if fits:
            feasible.append(max(fits))
        else:
            verdicts[candidate.name] = f"p99 over {budget_ms:g} ms at every batch measured"
    if not feasible:
        return BudgetDecision(budget_ms, None, None, None, None, verdicts)
    feasible.sort(reverse=True)
    throughput, negative_batch, chosen, timing = feasible[0]
    verdicts[chosen] = "chosen"
    for other_throughput, other_batch, name, _ in feasible[1:]:
        verdicts[name] = (f"lower throughput within the budget: {other_throughput:.0f} images/s at batch {-other_batch} "
                          f"against {throughput:.0f}")
    return BudgetDecision(budget_ms, chosen, -negative_batch, throughput, timing.p99_ms, verdicts)
