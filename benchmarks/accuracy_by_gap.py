"""Where a model's triplet accuracy comes from on synthetic data: accuracy against the deciding gap.

    fec-eval RUN/best.pt --data DATA/test.csv --embeddings RUN/test_embeddings.npz
    python benchmarks/accuracy_by_gap.py --data DATA --embeddings RUN/test_embeddings.npz

A synthetic dataset knows the expression behind every picture (`DATA/expressions.csv`). For each
evaluated triplet this takes its three expression vectors and computes the deciding gap: the distance
of the second-closest pair minus that of the closest pair, in expression units (a feature moves about
6 px per unit on a 96 px face crop; the mouth opening about 16). A triplet with a small gap can only
be answered by resolving a small difference in the pictures. The table gives, per gap bucket, how many
triplets fall in it, the model's accuracy (overall and per type), and how often the raters' majority
equals the noise-free answer. Accuracy that falls to chance in the small-gap buckets while staying high
in the large ones says the model resolves differences down to that gap and no finer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from fec.data.fec_csv import read_triplets
from fec.data.synth import EXPRESSIONS_FILE, read_expressions
from fec.errors import DataError, FecError
from fec.metrics import correct_predictions, pair_distances

GAP_EDGES = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8)
TYPES = ("ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET")


def triplet_expressions(data: Path, rows: np.ndarray) -> np.ndarray:
    """(N, 3, axes) expression vectors of the test triplets at CSV lines `rows`."""
    expressions = read_expressions(data / EXPRESSIONS_FILE)
    by_line = {t.line: t for t in read_triplets(data / "test.csv").triplets}
    urls = [[face.url for face in by_line[int(row)].faces] for row in rows]
    missing = next((url for faces in urls for url in faces if url not in expressions), None)
    if missing is not None:
        raise DataError(f"{data / EXPRESSIONS_FILE}: no row for {missing}, a picture of {data}/test.csv; "
                        "the table belongs to another dataset: regenerate it with fec-data synth")
    return np.stack([[expressions[url] for url in faces] for faces in urls])


def deciding_gap(expressions: np.ndarray) -> np.ndarray:
    """Second-closest minus closest pair distance per triplet, in expression units."""
    distances = np.sort(pair_distances(torch.from_numpy(expressions)).sqrt().numpy(), axis=1)
    return distances[:, 1] - distances[:, 0]


def noise_free_odd(expressions: np.ndarray) -> np.ndarray:
    """0-based index of the face left out of the truly closest pair."""
    return pair_distances(torch.from_numpy(expressions)).argmin(dim=1).numpy()


def gap_table(embeddings: dict, expressions: np.ndarray) -> list[dict]:
    """One row per gap bucket: count, model accuracy overall and per type, labels equal to the truth."""
    odd = torch.from_numpy(embeddings["odd"].astype(np.int64) - 1)
    stacked = torch.from_numpy(np.stack([embeddings["a"], embeddings["b"], embeddings["c"]], axis=1))
    correct = correct_predictions(pair_distances(stacked), odd).numpy()
    labels_true = noise_free_odd(expressions) == odd.numpy()
    gap, types = deciding_gap(expressions), embeddings["type"]
    uppers = (*GAP_EDGES[1:], np.inf)
    rows = []
    for low, high in zip(GAP_EDGES, uppers):
        inside = (gap >= low) & (gap < high)
        row = {"gap": f"{low:.1f}-{high:.1f}", "count": int(inside.sum()),
               "accuracy": mean_or_none(correct[inside]), "labels_true": mean_or_none(labels_true[inside])}
        for kind in TYPES:
            row[kind] = {"accuracy": mean_or_none(correct[inside & (types == kind)]),
                         "count": int((inside & (types == kind)).sum())}
        rows.append(row)
    return rows


def mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def markdown(rows: list[dict]) -> str:
    header = "| deciding gap | triplets | accuracy | ONE_CLASS | TWO_CLASS | THREE_CLASS | majority = truth |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        per_type = [f"{percent(row[k]['accuracy'])} ({row[k]['count']})" for k in TYPES]
        lines.append(f"| {row['gap']} | {row['count']} | {percent(row['accuracy'])} | "
                     + " | ".join(per_type) + f" | {percent(row['labels_true'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="synthetic dataset folder (fec-data synth)")
    parser.add_argument("--embeddings", type=Path, required=True, help="fec-eval --embeddings output on DATA/test.csv")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    try:
        embeddings = dict(np.load(args.embeddings))
        rows = gap_table(embeddings, triplet_expressions(args.data, embeddings["row"]))
    except FecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, KeyError, ValueError) as error:
        print(f"error: {args.embeddings}: not an fec-eval --embeddings file for {args.data}/test.csv ({error})",
              file=sys.stderr)
        return 2
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
