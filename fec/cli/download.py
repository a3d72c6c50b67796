"""`fec-data download`: turn the official FEC CSVs into a face store and say which subset survived.

The work is in `fec.data.download`; this shell parses options, turns SIGTERM into a clean stop (the
store is safe either way: every file is written atomically and the manifest is fsynced per line) and
prints a short table. Also runnable as `python -m fec.cli.download`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

import click

from fec.cli.common import FiniteRange, OutputPath, quiet_option, show_progress, user_errors
from fec.data.download import DownloadOptions, RetryPolicy, format_report
from fec.data.face_store import DEFAULT_FACE_SIZE, MAX_FACE_MARGIN, MAX_FACE_SIZE
from fec.preprocessing import MIN_INPUT_SIZE

SIGTERM_EXIT = 128 + signal.SIGTERM


@click.command(help="Download the pictures of FEC CSVs into a face store (resumable; writes manifest, summary and kept CSVs).")
@click.argument("csv_paths", metavar="CSV...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=OutputPath(), required=True, help="The face store folder.")
@click.option("--workers", type=click.IntRange(1, 512), default=16, show_default=True, help="Concurrent downloads.")
@click.option("--timeout", type=FiniteRange(0, min_open=True), default=20.0, show_default=True,
              help="Wall-clock seconds for one whole attempt at a URL: connecting, redirects, headers and body "
                   "(a server sending bytes slowly cannot stretch it; each retry gets its own).")
@click.option("--retries", type=click.IntRange(0, 50), default=4, show_default=True, help="Retries of transient failures.")
@click.option("--backoff", type=FiniteRange(0), default=1.0, show_default=True,
              help="First retry delay in seconds (doubles, with jitter).")
@click.option("--image-size", type=click.IntRange(MIN_INPUT_SIZE, MAX_FACE_SIZE), default=DEFAULT_FACE_SIZE, show_default=True,
              help="Stored face size in pixels.")
@click.option("--margin", type=FiniteRange(0, MAX_FACE_MARGIN), default=0.0, show_default=True,
              help="Box growth on each side, as a share of its size.")
@click.option("--keep-raw/--discard-raw", default=False, show_default=True, help="Keep the downloaded pictures under STORE/raw.")
@click.option("--from-dir", type=click.Path(path_type=Path),
              help="Build from pictures you have (named by sha1 of the URL, or --mapping); no network.")
@click.option("--mapping", type=click.Path(path_type=Path), help="With --from-dir: a url,file CSV naming each URL's picture.")
@click.option("--align", metavar="PLUGIN", help="Face alignment plug-in (mtcnn, an fec.aligners entry point, or module:factory).")
@click.option("--skip-bad-rows", is_flag=True, help="Count malformed CSV rows and go on instead of stopping.")
@click.option("--retry-permanent", is_flag=True, help="Also retry URLs that failed permanently before (404, not an image, ...).")
@click.option("--data-root", type=click.Path(path_type=Path),
              help="Folder the CSVs' local pictures must lie in [default: each CSV's own folder].")
@click.option("--allow-outside-paths", is_flag=True,
              help="Let a CSV name local pictures outside its folder (refused by default, recorded as 'refused').")
@click.option("--allow-private-hosts", is_flag=True,
              help="Let URLs lead to loopback, private and link-local addresses (refused by default, recorded as "
                   "'refused'): for picture servers on your own network.")
@quiet_option
@user_errors
def download(csv_paths: tuple[Path, ...], out: Path, workers: int, timeout: float, retries: int, backoff: float,
             image_size: int, margin: float, keep_raw: bool, from_dir: Path | None, mapping: Path | None,
             align: str | None, skip_bad_rows: bool, retry_permanent: bool, data_root: Path | None,
             allow_outside_paths: bool, allow_private_hosts: bool, quiet: bool) -> None:
    from fec.data.download import download as run_download

    options = DownloadOptions(
        out=out, workers=workers, timeout=timeout, retry=RetryPolicy(retries, base_delay=backoff),
        face_size=image_size, margin=margin, keep_raw=keep_raw, from_dir=from_dir, mapping=mapping, align=align,
        skip_bad_rows=skip_bad_rows, retry_permanent=retry_permanent, data_root=data_root,
        allow_outside_paths=allow_outside_paths, allow_private_hosts=allow_private_hosts, progress=show_progress(quiet),
    )
    with sigterm_exits():
        report = run_download(list(csv_paths), options)
    if not quiet:
        click.echo(format_report(report))


@contextlib.contextmanager
def sigterm_exits():
    """SIGTERM raises SystemExit in the main thread, so the pool stops and the bar closes cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(SIGTERM_EXIT)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    download(prog_name="python -m fec.cli.download")
