"""`fec-bench`: latency and throughput of every backend on the same batches.

    fec-bench run/last.pt export/onnx-fp32 --batch 1,8,32 --data data/test.csv --json bench.json
    fec-bench run/last.pt --backend torch-cuda,torch-cuda-fp16,torch-cuda-graphs --inputs random
    fec-bench run/last.pt export/onnx-fp32 --mode both --batch 1,32 --data data/test.csv
    fec-bench http://127.0.0.1:8000/fecnet_ort_python --concurrency 4 --inputs random
    fec-bench train --data data/synth --set batch_size=64 --steps 50 --json train.json
    fec-bench backends
    fec-bench merge gpu.json cpu.json --json all.json --csv all.csv --plot all.png
    fec-bench compare before.json after.json
    fec-bench floor bench.json --threads 2

`fec-bench TARGET...` is short for `fec-bench run TARGET...`; `train`, `backends`, `merge` and `compare`
are subcommands.
Exit code: 0 done, 1 a backend failed (with --keep-going), 2 bad input (missing target, unknown
backend, a backend that cannot run a target or cannot run here).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fec.cli.common import OutputPath, choice, comma_list, quiet_option, show_progress, user_errors
from fec.hardware import MAX_THREADS
from fec.runtimes.backends import TARGET_KINDS

MAX_TRAIN_STEPS = 100_000  # fec-bench train times steps, it does not train a model: far more than any useful run


class DefaultToRun(click.Group):
    """A group whose first argument, when it is not a subcommand, is a target of `run`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToRun, help="Benchmark latency and throughput. `fec-bench TARGET...` runs a benchmark "
                                    "(same as `fec-bench run`); `fec-bench compare A.json B.json` compares two reports.")
def main():
    pass


@main.command("run", help="Measure each backend on each TARGET (a checkpoint .pt, an export folder with an ONNX file "
                          "or TensorRT engine, or a served model http://HOST:PORT/MODEL or grpc://HOST:PORT/MODEL) at "
                          "each batch size (`fec-bench backends` lists what runs what). Warm-up is untimed; windows "
                          "of timed iterations repeat until two consecutive medians agree within --tolerance.")
@click.argument("targets", metavar="TARGET...", nargs=-1, required=True)
@click.option("--backend", "backends", callback=comma_list(str),
              help="Comma list (default: every backend that fits a target and can run here).")
@click.option("--batch", "batches", callback=comma_list(int), default="1,8,32", show_default=True)
@click.option("--warmup", type=int, default=10, show_default=True, help="Untimed warm-up iterations.")
@click.option("--warmup-seconds", type=float, help="Warm up for this long instead of --warmup iterations.")
@click.option("--iters", type=int, help="Timed iterations per window (default 50).")
@click.option("--duration", type=float, help="Seconds per window instead of --iters.")
@click.option("--tolerance", type=float, default=0.10, show_default=True, help="Window medians must agree within this.")
@click.option("--max-windows", type=int, default=10, show_default=True)
@click.option("--threads", type=click.IntRange(1, MAX_THREADS),
              help="Intra-op threads (torch.set_num_threads / ORT intra_op_num_threads).")
@click.option("--inputs", type=click.Choice(["faces", "random"]), default="faces", show_default=True,
              help="Real face crops from --data, or random normalised data.")
@click.option("--data", type=click.Path(path_type=Path), help="Triplet CSV, or a folder with test.csv (for --inputs faces).")
@click.option("--mode", type=click.Choice(["compute", "end-to-end", "both"]), default="compute", show_default=True,
              help="What one timed iteration covers: compute = infer a prepared batch (host-device copies included "
                   "on CUDA); end-to-end = decode the faces' JPEG bytes, resize, normalise, infer (not for server "
                   "targets); both = a row of each.")
@click.option("--json", "json_path", type=OutputPath(), help="Write the report as JSON.")
@click.option("--csv", "csv_path", type=OutputPath(), help="Write the rows as CSV.")
@click.option("--plot", "plot_path", type=OutputPath(), help="Write latency/throughput vs batch as PNG.")
@click.option("--concurrency", type=click.IntRange(1, MAX_THREADS), default=1, show_default=True,
              help="Server targets: this many clients (threads) send requests at once.")
@click.option("--keep-going", is_flag=True, help="Record a backend that cannot run or fails, measure the others, exit 1.")
@quiet_option
@user_errors
def run(targets, backends, batches, warmup, warmup_seconds, iters, duration, tolerance, max_windows, threads, inputs,
        data, mode, json_path, csv_path, plot_path, concurrency, keep_going, quiet):
    from fec.bench import BenchError, MeasureSettings
    from fec.bench.options import BenchOptions, bench_modes, check_modes, sized_windows
    from fec.bench.report import ReportFiles, format_table
    from fec.bench.run import run_benchmark

    if inputs == "faces" and data is None:
        raise BenchError("--inputs faces needs --data CSV (real face crops); or pass --inputs random")
    modes = bench_modes(mode)
    check_modes(list(targets), modes, inputs == "faces")  # before resolving: a server target is contacted then
    settings = sized_windows(MeasureSettings(warmup_iters=warmup, warmup_s=warmup_seconds, iters=iters,
                                             duration_s=duration, tolerance=tolerance, max_windows=max_windows))
    say = (lambda line: click.echo(f"measuring {line}", err=True)) if show_progress(quiet) else None
    options = BenchOptions(backends=backends, batches=batches, settings=settings, data=data if inputs == "faces" else None,
                           threads=threads, concurrency=concurrency, keep_going=keep_going, modes=modes, progress=say)
    outcome = run_benchmark(list(targets), options)
    records = outcome.records()
    click.echo(format_table(records, outcome.failures, outcome.notes))
    ReportFiles(json_path=json_path, csv_path=csv_path, plot_path=plot_path).write(
        records, options.report_settings(), outcome.failures, outcome.notes)
    if outcome.failures:
        sys.exit(1)


@main.command("backends", help="List fec-bench's backends: the targets each runs, and whether it can run here.")
@click.option("--available", "only_available", is_flag=True,
              help="Print only the names of those that can run here, comma-separated (for scripts).")
@click.option("--kind", type=choice(TARGET_KINDS), help="Only the backends of this kind of target.")
def backends_command(only_available, kind):
    from fec.bench.report import format_available, format_backends
    from fec.runtimes.backends import backend_names, get_backend

    chosen = [get_backend(name) for name in backend_names(kind)]
    click.echo(format_available(chosen) if only_available else format_backends(chosen))


@main.command("train", help="Training throughput: images/s of N real fec-train steps (data loading included) and of "
                            "N steps on one batch cached on the device, and their ratio (near 1: the input pipeline "
                            "keeps up). Builds the trainer fec-train would from --data, --config and --set.")
@click.option("--data", required=True, help="Folder with train.csv (as `fec-data synth` writes) or a train CSV.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="YAML config file, as for fec-train.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override any config key (repeatable).")
@click.option("--device", help="auto, cpu, cuda, cuda:1 ... (default: the config's).")
@click.option("--steps", type=click.IntRange(1, MAX_TRAIN_STEPS), default=20, show_default=True,
              help="Timed steps of each kind.")
@click.option("--warmup-steps", type=click.IntRange(0, MAX_TRAIN_STEPS), default=2, show_default=True,
              help="Untimed steps first.")
@click.option("--json", "json_path", type=OutputPath(), help="Write the result as JSON.")
@user_errors
def train_command(data, config_path, overrides, device, steps, warmup_steps, json_path):
    from fec.bench.train_throughput import bench_training, format_training, training_report
    from fec.io import write_json
    from fec.train.config import parse_overrides

    values = {**parse_overrides(overrides), **({"device": device} if device else {})}
    result, trainer = bench_training(data, config_path, values, steps=steps, warmup=warmup_steps)
    click.echo(format_training(result, trainer.config.num_workers))
    if json_path:
        write_json(json_path, training_report(result, trainer))


@main.command("merge", help="Combine fec-bench JSON reports (runs made with different settings) into one: "
                            "the table, and --json/--csv/--plot of all their rows and failures.")
@click.argument("reports", metavar="REPORT.json...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=OutputPath(), help="Write the combined report as JSON.")
@click.option("--csv", "csv_path", type=OutputPath(), help="Write the combined rows as CSV.")
@click.option("--plot", "plot_path", type=OutputPath(), help="Write latency/throughput vs batch as PNG.")
@user_errors
def merge_command(reports, json_path, csv_path, plot_path):
    from fec.bench.report import ReportFiles, format_table, merge_reports

    records, failures, settings = merge_reports(list(reports))
    click.echo(format_table(records, failures))
    ReportFiles(json_path=json_path, csv_path=csv_path, plot_path=plot_path).write(records, settings, failures)


@main.command("compare", help="Compare two fec-bench JSON reports: p50 latency and throughput ratios (B / A) "
                              "per backend, precision and batch.")
@click.argument("report_a", metavar="A.json", type=click.Path(path_type=Path))
@click.argument("report_b", metavar="B.json", type=click.Path(path_type=Path))
@user_errors
def compare_command(report_a, report_b):
    from fec.bench.report import compare, format_comparison

    click.echo(format_comparison(compare(report_a, report_b)))


@main.command("floor", help="How far each CPU row of a fec-bench report is from its FLOP floor: model FLOPs x batch / "
                            "the machine's peak: nominal (clock x vector units; int8 2x fp32, 4x with VNNI) and "
                            "measured (the best matrix product in the row's precision or fp32, with the same threads, "
                            "through PyTorch and ONNX Runtime). A row faster than its measured floor is flagged.")
@click.argument("report", metavar="REPORT.json", type=click.Path(path_type=Path))
@click.option("--threads", type=int, help="Cores the benchmark used (default: the report's --threads, else all).")
@click.option("--json", "json_path", type=OutputPath(), help="Write the peaks and rows as JSON.")
@user_errors
def floor_command(report, threads, json_path):
    from fec.bench.floor import floor_rows, machine_peak
    from fec.bench.report import floor_report, format_floor, read_report_file, report_threads
    from fec.io import write_json

    data = read_report_file(report)
    peak = machine_peak(threads or report_threads(data))
    rows = floor_rows(data, peak)
    click.echo(format_floor(peak, rows))
    if json_path:
        write_json(json_path, floor_report(peak, rows))


if __name__ == "__main__":
    main()
