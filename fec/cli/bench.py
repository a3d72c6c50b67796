"""`fec-bench`: latency and throughput of every backend on the same batches.

    fec-bench run/last.pt export/onnx-fp32 --batch 1,8,32 --data data/test.csv --json bench.json
    fec-bench compare before.json after.json

`fec-bench TARGET...` is short for `fec-bench run TARGET...`; `compare` is a separate subcommand.
Exit code: 0 done, 2 bad input (missing target, unknown backend, a backend that cannot run a target).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from fec.cli.common import quiet_option, show_progress, user_errors


class DefaultToRun(click.Group):
    """A group whose first argument, when it is not a subcommand, is a target of `run`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def comma_list(kind):
    def parse(ctx, param, value):
        if value is None:
            return None
        try:
            return [kind(item.strip()) for item in value.split(",") if item.strip()]
        except ValueError:
            raise click.BadParameter(f"expected a comma-separated list, got {value!r}") from None

    return parse


@click.group(cls=DefaultToRun, help="Benchmark latency and throughput. `fec-bench TARGET...` runs a benchmark "
                                    "(same as `fec-bench run`); `fec-bench compare A.json B.json` compares two reports.")
def main():
    pass


@main.command("run", help="Measure each backend on each TARGET (a checkpoint .pt: torch, torch_compile; an export "
                          "folder with ONNX: onnxruntime) at each batch size. Warm-up is untimed; windows of timed "
                          "iterations repeat until two consecutive medians agree within --tolerance.")
@click.argument("targets", metavar="TARGET...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--backend", "backends", callback=comma_list(str), help="Comma list (default: every backend that fits).")
@click.option("--batch", "batches", callback=comma_list(int), default="1,8,32", show_default=True)
@click.option("--warmup", type=int, default=10, show_default=True, help="Untimed warm-up iterations.")
@click.option("--warmup-seconds", type=float, help="Warm up for this long instead of --warmup iterations.")
@click.option("--iters", type=int, help="Timed iterations per window (default 50).")
@click.option("--duration", type=float, help="Seconds per window instead of --iters.")
@click.option("--tolerance", type=float, default=0.10, show_default=True, help="Window medians must agree within this.")
@click.option("--max-windows", type=int, default=10, show_default=True)
@click.option("--threads", type=int, help="Intra-op threads (torch.set_num_threads / ORT intra_op_num_threads).")
@click.option("--inputs", type=click.Choice(["faces", "random"]), default="faces", show_default=True,
              help="Real face crops from --data, or random normalised data.")
@click.option("--data", type=click.Path(path_type=Path), help="Triplet CSV, or a folder with test.csv (for --inputs faces).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the report as JSON.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write the rows as CSV.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), help="Write latency/throughput vs batch as PNG.")
@quiet_option
@user_errors
def run(targets, backends, batches, warmup, warmup_seconds, iters, duration, tolerance, max_windows, threads, inputs,
        data, json_path, csv_path, plot_path, quiet):
    from fec.bench import BenchError, MeasureSettings
    from fec.bench.report import format_table, write_csv, write_plot, write_report_json
    from fec.bench.run import bench_targets, resolve_target

    if inputs == "faces" and data is None:
        raise BenchError("--inputs faces needs --data CSV (real face crops); or pass --inputs random")
    if iters is not None and duration is not None:
        raise BenchError("give --iters or --duration, not both")
    window_iters = None if duration is not None else (50 if iters is None else iters)
    settings = MeasureSettings(warmup_iters=warmup, warmup_s=warmup_seconds, iters=window_iters, duration_s=duration,
                               tolerance=tolerance, max_windows=max_windows)
    resolved = [resolve_target(target) for target in targets]
    say = (lambda line: click.echo(f"measuring {line}", err=True)) if show_progress(quiet) else None
    rows = bench_targets(resolved, backends, batches, settings, data if inputs == "faces" else None, threads, say)
    records = [row.record() for row in rows]
    click.echo(format_table(records))
    if json_path:
        write_report_json(json_path, records, {**asdict(settings), "threads": threads, "inputs": inputs})
    if csv_path:
        write_csv(csv_path, records)
    if plot_path:
        write_plot(plot_path, records)


@main.command("compare", help="Compare two fec-bench JSON reports: p50 latency and throughput ratios (B / A) "
                              "per backend, precision and batch.")
@click.argument("report_a", metavar="A.json", type=click.Path(path_type=Path))
@click.argument("report_b", metavar="B.json", type=click.Path(path_type=Path))
@user_errors
def compare_command(report_a, report_b):
    from fec.bench.report import compare, format_comparison

    click.echo(format_comparison(compare(report_a, report_b)))


if __name__ == "__main__":
    main()
