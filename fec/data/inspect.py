"""`fec-data inspect`: what a triplet file holds, and every row that is wrong with it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fec.data.fec_csv import read_triplets
from fec.data.triplets import TRIPLET_TYPES, high_agreement


def summarize(csv_path: str | Path) -> dict:
    """Counts per type, rater-count and agreement histograms, unique images, malformed rows."""
    parsed = read_triplets(csv_path, skip_bad_rows=True)
    triplets = parsed.triplets
    by_type = Counter(t.type.value for t in triplets)
    return {
        "file": str(parsed.path),
        "format": parsed.format,
        "triplets": len(triplets),
        "per_type": {kind.value: by_type.get(kind.value, 0) for kind in TRIPLET_TYPES},
        "raters_per_triplet": _histogram(len(t.annotations) for t in triplets),
        "agreement": _histogram(round(t.agreement, 3) for t in triplets),
        "high_agreement": len(high_agreement(triplets)),
        "unique_images": len({face.url for t in triplets for face in t.faces}),
        "unique_faces": len({face for t in triplets for face in t.faces}),
        "malformed_rows": [str(row) for row in parsed.bad_rows],
    }


def _histogram(values) -> dict:
    return {str(key): count for key, count in sorted(Counter(values).items())}


def format_summary(summary: dict) -> str:
    lines = [f"{summary['file']} ({summary['format']} format): {summary['triplets']} triplets"]
    lines += [f"  {kind:<22} {count:>8}" for kind, count in summary["per_type"].items()]
    lines.append(f"  high agreement (>= 2/3) {summary['high_agreement']:>6}")
    lines.append(f"  unique images {summary['unique_images']}, unique faces {summary['unique_faces']}")
    lines.append("  raters per triplet: " + ", ".join(f"{k}: {v}" for k, v in summary["raters_per_triplet"].items()))
    lines.append("  agreement: " + ", ".join(f"{k}: {v}" for k, v in summary["agreement"].items()))
    bad = summary["malformed_rows"]
    lines.append(f"  malformed rows: {len(bad)}")
    lines += [f"    {row}" for row in bad]
    return "\n".join(lines)
