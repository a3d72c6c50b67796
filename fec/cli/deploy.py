"""`fec-deploy`: the fastest deployment of a checkpoint that keeps its accuracy, chosen by measurement here.

    fec-deploy runs/demo/best.pt --data data/synth/test.csv --max-drop 0.5 --batch 1,32 --out export/deploy
    fec-deploy runs/demo/best.pt --data data/synth --latency-budget 2 --serve-with python

Exit code: 0 a candidate was chosen at every batch (and under the budget), 1 none kept the accuracy or
latency budget somewhere, 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fec.bench.measure import MODES, MeasureSettings
from fec.cli.common import OutputPath, choice, comma_list, defaults_of, quiet_option, show_progress, user_errors
from fec.deploy.options import SHRINK, CompressOptions, DeployOptions
from fec.hardware import MAX_THREADS
from fec.runtimes.backends import SERVE_WITH

DEFAULTS = defaults_of(DeployOptions)
COMPRESS = CompressOptions()
WINDOWS = MeasureSettings()

NO_CHOICE_EXIT = 1


@click.command(help="Build every candidate deployment this machine can run (PyTorch, ONNX Runtime, OpenVINO; CUDA and "
                    "TensorRT where present; fp32, fp16, bf16, int8 with several --float-below choices), verify each "
                    "on the held-out triplets against PyTorch, time each, pick the fastest within --max-drop per batch "
                    "(or the highest throughput under --latency-budget), and write decision.json, decision.md, "
                    "decision.png and a Triton repository of the choice. A rerun reuses exports and verifications "
                    "whose inputs did not change (sha256); timings are always measured again.")
@click.argument("checkpoint", metavar="CKPT", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Held-out triplet CSV, or a folder with test.csv.")
@click.option("--out", type=OutputPath(), default=DEFAULTS.out, show_default=True,
              help="Deployment folder: exports/, decision.{json,md,png}, triton_repo/.")
@click.option("--max-drop", type=float, default=DEFAULTS.max_drop, show_default=True,
              help="Held-out accuracy points a candidate may lose against PyTorch.")
@click.option("--batch", "batches", callback=comma_list(int), default=",".join(map(str, DEFAULTS.batches)), show_default=True)
@click.option("--latency-budget", type=float, help="Instead of per batch: the highest throughput whose p99 latency per "
                                                   "batch stays within this many ms.")
@click.option("--calib-data", type=click.Path(path_type=Path),
              help="int8 calibration faces [default: train.csv beside the test CSV; none: no int8 candidates].")
@click.option("--calib-size", type=int, default=DEFAULTS.calib_size, show_default=True, help="int8 calibration faces.")
@click.option("--precision", "precisions", callback=comma_list(str), default=",".join(DEFAULTS.precisions), show_default=True)
@click.option("--backend", "backends", callback=comma_list(str), help="Comma list of backends to try (default: all).")
@click.option("--quantizer", "quantizers", callback=comma_list(str), default=",".join(DEFAULTS.quantizers),
              show_default=True, help="int8 exports to try: ONNX Runtime's Q/DQ (one per --float-below), NNCF's "
                                      "(OpenVINO's quantizer, with fec's float islands) and, when asked, "
                                      "nncf-accuracy (NNCF's accuracy control on triplet accuracy within --max-drop).")
@click.option("--float-below", callback=comma_list(int), default=",".join(map(str, DEFAULTS.float_below)), show_default=True,
              help="int8 candidates: convolutions narrower than this many channels stay float, one export per value.")
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), help="Intra-op threads of every runtime (default: all cores).")
@click.option("--warmup", type=int, default=WINDOWS.warmup_iters, show_default=True)
@click.option("--iters", type=int, default=WINDOWS.iters, show_default=True, help="Timed iterations per window.")
@click.option("--max-windows", type=int, default=WINDOWS.max_windows, show_default=True)
@click.option("--passes", type=click.IntRange(min=1), default=DEFAULTS.passes, show_default=True,
              help="Timing passes over all candidates, every other one in reverse order: the fastest pass counts, "
                   "and the passes' spread is part of the noise a tie is judged by.")
@click.option("--mode", type=click.Choice([*MODES, "both"]), default="both", show_default=True)
@click.option("--rank-by", type=choice(MODES), default=DEFAULTS.rank_by, show_default=True)
@click.option("--serve-with", type=choice(SERVE_WITH), default=SERVE_WITH[0], show_default=True,
              help="Triton embedding model: the runtime's own Triton backend, or the python backend running fec's "
                   "runner (servers with only the python backend). OpenVINO in fp32 is always on the python backend, "
                   "which pins fp32 (Triton's OpenVINO backend cannot).")
@click.option("--triton-repo", type=OutputPath(), help="Where the repository goes [default: OUT/triton_repo].")
@click.option("--no-triton", is_flag=True, help="Choose and report only.")
@click.option("--compress", is_flag=True, help="Also distil students of the checkpoint at a smaller input (trained on "
                                               "the training faces to reproduce its embeddings; resumable) and make "
                                               "their exports candidates, judged against the checkpoint's accuracy.")
@click.option("--compress-sizes", callback=comma_list(int),
              help=f"Students' input sides in pixels [default: {SHRINK:g} of the model's, a multiple of 8].")
@click.option("--compress-budget", type=click.FloatRange(1, 86400), default=COMPRESS.budget_s, show_default=True,
              help="Seconds of training for all students together (each stops at --compress-steps sooner).")
@click.option("--compress-steps", type=click.IntRange(1, 100_000), default=COMPRESS.max_steps, show_default=True,
              help="Training steps per student.")
@click.option("--no-peer", is_flag=True, help="Leave out the peer row: NNCF's default int8 on OpenVINO's default hints, "
                                              "what an OpenVINO user gets in five lines (timed and verified, never chosen).")
@click.option("--photos", is_flag=True, help="Add the photo model to the repository (fec-triton --photos): photos in, "
                                             "every face's box, landmarks and embedding out.")
@quiet_option
@user_errors
def main(checkpoint, data, out, max_drop, batches, latency_budget, calib_data, calib_size, precisions, backends, quantizers,
         float_below, threads, warmup, iters, max_windows, passes, mode, rank_by, serve_with, triton_repo, no_triton, compress,
         compress_sizes, compress_budget, compress_steps, no_peer, photos, quiet):
    from fec.bench.options import bench_modes
    from fec.deploy import deploy

    modes = bench_modes(mode)
    settings = MeasureSettings(warmup_iters=warmup, iters=iters, max_windows=max_windows)
    say = None if quiet else (lambda line: click.echo(line, err=True))
    options = DeployOptions(data=data, out=out, batches=tuple(batches), max_drop=max_drop, latency_budget_ms=latency_budget,
                            calib_data=calib_data, calib_size=calib_size,
                            precisions=tuple(precisions), backends=tuple(backends) if backends else None,
                            float_below=tuple(float_below), quantizers=tuple(quantizers), settings=settings,
                            threads=threads, modes=modes,
                            rank_by=rank_by, passes=passes, peer=not no_peer, progress=say,
                            compress=CompressOptions(tuple(compress_sizes or ()), compress_budget, compress_steps)
                            if compress else None, progress_bars=show_progress(quiet))
    result = deploy(checkpoint, options, serve_with, triton_repo, package=not no_triton, photos=photos)
    click.echo(result.paths["table"].read_text(encoding="utf-8"))
    chosen_everywhere = all(decision.chosen for decision in result.per_batch)
    if not chosen_everywhere or (result.budget is not None and result.budget.chosen is None):
        sys.exit(NO_CHOICE_EXIT)


if __name__ == "__main__":
    main()
