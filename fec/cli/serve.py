"""`fec-serve`: run tritonserver on a repository on 127.0.0.1 until Ctrl-C.

The server goes down with fec-serve however it ends: Ctrl-C, kill and hang-up stop it (and its
python-backend stubs, its process group); kill -9 leaves it a parent-death SIGTERM (see fec.triton.server).
Ports already in use are refused in one line (exit code 2) before anything starts.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from fec.cli.common import FiniteRange, OutputPath, quiet_option, user_errors
from fec.triton.options import DEFAULT_REPO
from fec.triton.server import READY_TIMEOUT_S, TRITON_GRPC_PORT, TRITON_HTTP_PORT


@click.command(help="Start the real tritonserver (a full install, else the nvidia-pytriton wheel's) on a model "
                    "repository, listening on 127.0.0.1; wait until the models are ready; stop cleanly on Ctrl-C.")
@click.option("--repo", type=click.Path(path_type=Path), default=DEFAULT_REPO, show_default=True)
@click.option("--http-port", type=click.IntRange(1, 65535), default=TRITON_HTTP_PORT, show_default=True)
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=TRITON_GRPC_PORT, show_default=True)
@click.option("--model", "models", multiple=True, help="Load only these models (default: all this server can run).")
@click.option("--log", "log_path", type=OutputPath(), help="Server log file (default: in the temp folder).")
@click.option("--timeout", type=FiniteRange(0, min_open=True), default=READY_TIMEOUT_S, show_default=True,
              help="Seconds to wait for readiness.")
@quiet_option
@user_errors
def main(repo, http_port, grpc_port, models, log_path, timeout, quiet):
    from fec.triton.server import TritonServer

    server = TritonServer(repo, http_port, grpc_port, models=list(models) or None, log_path=log_path)
    server.check_ports()
    for name, reason in server.skipped.items():
        click.echo(f"skipping {name}: {reason}", err=True)
    if not quiet:
        click.echo(f"starting {server.install.source} (log: {server.log_path}) ...", err=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where a shell started us with SIGINT ignored
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` stops the server like Ctrl-C
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(0))  # so does closing the terminal
    try:
        server.start(timeout)
        if not quiet:
            click.echo(f"ready: {', '.join(server.models)}\n  HTTP {server.http_url}\n  gRPC {server.grpc_url}\n"
                       "Ctrl-C to stop", err=True)
        while server.running():
            time.sleep(0.5)
        raise_exit(server)
    except KeyboardInterrupt:
        pass
    finally:
        code = server.stop()
        if not quiet and server.process is not None:
            click.echo(f"tritonserver stopped (exit code {code})", err=True)


def raise_exit(server) -> None:
    from fec.triton.errors import ServerError

    raise ServerError(f"tritonserver exited on its own with code {server.stop()}:\n{server.log_tail()}")


if __name__ == "__main__":
    main()
