"""The closing report of a download as text: what fec-data download prints."""

from __future__ import annotations

from fec.data.download.outcomes import STATUSES
from fec.data.download.run import DownloadReport


def format_report(report: DownloadReport) -> str:
    """What fec-data download prints at the end: URLs by status, this run, and per CSV what was kept."""
    summary, run = report.summary, report.run
    urls = summary.urls
    statuses = ", ".join(f"{s} {urls[s]}" for s in (*STATUSES, "not_attempted") if urls.get(s))
    lines = [
        f"urls: {urls['total']} ({statuses or 'none'}); faces stored {summary.faces['stored']} of {summary.faces['total']}",
        f"this run: {run.processed} processed, {run.skipped} already done, {run.requests} requests, "
        f"{run.downloaded_bytes / 1e6:.1f} MB in {run.seconds:.1f}s",
        "",
        f"{'csv':<40} {'triplets':>9} {'complete':>9} {'dropped':>8}  kept as",
    ]
    for csv_summary in summary.csvs:
        lines.append(f"{_clip(csv_summary.csv, 40):<40} {csv_summary.triplets:>9} {csv_summary.complete:>9} "
                     f"{csv_summary.dropped:>8}  {csv_summary.kept_csv}")
        for name, counts in csv_summary.by_type.items():
            if counts.complete or counts.dropped:
                lines.append(f"{'  ' + name:<40} {counts.complete + counts.dropped:>9} {counts.complete:>9} {counts.dropped:>8}")
        if csv_summary.dropped_by_reason:
            reasons = ", ".join(f"{k} {v}" for k, v in csv_summary.dropped_by_reason.items())
            lines.append(f"  dropped because: {reasons}")
        if csv_summary.bad_rows:
            lines.append(f"  malformed rows skipped: {csv_summary.bad_rows}")
    lines.append("")
    if report.transient_failures:
        lines.append(f"{report.transient_failures} URLs failed transiently: run the same command again to retry them.")
    lines.append(f"wrote {report.manifest}, {report.summary_path} and the kept CSVs in {report.store}")
    if report.box_convention is not None:
        lines.append(f"wrote {report.box_convention}: the box convention of the aligned faces (fec-train records it)")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]
