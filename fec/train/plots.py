"""Loss and accuracy curves of a run, as a PNG beside its metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from fec.io import atomic_path


def read_metrics(path: Path) -> list[tuple[str, dict]]:
    """(line, record) for every whole record of a metrics.jsonl; a line torn by a kill is skipped."""
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append((line, record))
    return records


def plot_metrics(metrics_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    records = [record for _, record in read_metrics(metrics_path)]
    train = [r for r in records if r.get("split") == "train"]
    val = [r for r in records if r.get("split") == "val"]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axes.plot([r["step"] for r in train], [r["loss"] for r in train])
    loss_axes.set(title="training loss", xlabel="step", ylabel="triplet loss")
    for key in ("overall", "ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET"):
        accuracy_axes.plot([r["step"] for r in val], [100 * r[key] for r in val], label=key, marker="o", markersize=3)
    accuracy_axes.set(title="validation triplet accuracy", xlabel="step", ylabel="%")
    accuracy_axes.axhline(100 / 3, color="grey", linestyle=":", label="chance")
    accuracy_axes.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
