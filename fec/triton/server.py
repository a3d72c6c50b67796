"""Run a real `tritonserver` on a model repository: locate it, set up its environment, start, wait, stop.

A full Triton install (`$FEC_TRITONSERVER`, `tritonserver` on PATH, /opt/tritonserver) is used as it
is. Otherwise the server in the nvidia-pytriton wheel is prepared once under the cache folder, as
that wheel needs (see docs/triton.md): a copy of `pytriton/tritonserver` with the Python stub of this
interpreter in `backends/python/`, `LD_LIBRARY_PATH` starting with this interpreter's LIBDIR and the
wheel's `nvidia_pytriton.libs`, and this environment's `bin` first on PATH (so the stub imports fec).

The server listens on 127.0.0.1 only and loads, explicitly, just the models whose backends it has;
the others are reported as skipped with the reason.

It never outlives whoever started it: it runs in a process group of its own (stopping it stops its
python-backend stubs too) and, on Linux, gets SIGTERM when the thread that started it dies, even by
kill -9. It is only called ready once the process we started holds both listening ports, so another
server on the same ports is never mistaken for ours; ports already in use are refused before launch.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from fec.io import make_folder
from fec.triton.errors import ServerError

# Triton's own ports (what clients expect unless told) and how long a start may take to get every model ready.
TRITON_HTTP_PORT, TRITON_GRPC_PORT = 8000, 8001
READY_TIMEOUT_S = 180.0

HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
TCP_LISTEN = "0A"  # socket state in /proc/net/tcp
FULL_INSTALL = Path("/opt/tritonserver/bin/tritonserver")
PLATFORM_BACKENDS = {
    "onnxruntime_onnx": "onnxruntime", "tensorrt_plan": "tensorrt", "pytorch_libtorch": "pytorch",
    "tensorflow_savedmodel": "tensorflow", "tensorflow_graphdef": "tensorflow",
}


@dataclass(frozen=True)
class ServerInstall:
    """A runnable tritonserver: binary, backends folder, the environment it needs, where it came from."""

    binary: Path
    backend_dir: Path
    source: str
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def backends(self) -> frozenset[str]:
        if not self.backend_dir.is_dir():
            return frozenset()
        return frozenset(entry.name for entry in self.backend_dir.iterdir() if entry.is_dir())


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fec"


def locate_tritonserver(cache_dir: str | Path | None = None) -> ServerInstall:
    """A full Triton install when there is one, else the nvidia-pytriton wheel's server, prepared."""
    return full_install() or pytriton_install(Path(cache_dir) if cache_dir else cache_root())


def full_install() -> ServerInstall | None:
    candidates = [os.environ.get("FEC_TRITONSERVER"), shutil.which("tritonserver"), str(FULL_INSTALL)]
    for candidate in filter(None, candidates):
        binary = Path(candidate)
        if binary.is_file() and os.access(binary, os.X_OK):
            return ServerInstall(binary, binary.parent.parent / "backends", f"Triton install at {binary.parent.parent}",
                                 dict(os.environ))
    return None


def pytriton_install(cache_dir: Path) -> ServerInstall:
    """The wheel's tritonserver, copied with this Python's stub into the cache folder (once)."""
    try:
        import pytriton
    except ImportError:
        raise ServerError("no tritonserver found: install a Triton server, or pip install nvidia-pytriton "
                          "(pip install 'fec[serve]')") from None
    package = Path(pytriton.__file__).parent
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = package / "tritonserver" / "python_backend_stubs" / python / "triton_python_backend_stub"
    if not stub.is_file():
        raise ServerError(f"the nvidia-pytriton wheel has no Python {python} stub ({stub})")
    version = metadata.version("nvidia-pytriton")
    server = prepared_copy(package / "tritonserver", stub, cache_dir / f"tritonserver-pytriton-{version}-py{python}")
    return ServerInstall(server / "bin" / "tritonserver", server / "backends", f"nvidia-pytriton {version} wheel",
                         pytriton_env(package.parent / "nvidia_pytriton.libs"))


def prepared_copy(source: Path, stub: Path, target: Path) -> Path:
    """Copy the server folder with the stub in backends/python; built beside `target`, then renamed."""
    if (target / "backends" / "python" / stub.name).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        copy = building / "server"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("python_backend_stubs", "__pycache__"))
        shutil.copy2(stub, copy / "backends" / "python" / stub.name)
        try:
            os.replace(copy, target)
        except OSError:  # another process prepared it meanwhile
            if not (target / "backends" / "python" / stub.name).is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def pytriton_env(libs: Path) -> dict[str, str]:
    """The environment the wheel's server and its Python stub need (see the module docstring)."""
    env = dict(os.environ)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libdir, str(libs), env.get("LD_LIBRARY_PATH", "")]))
    env["PATH"] = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH", "")]))
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the server binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def check_port_free(port: int, what: str) -> None:
    """ServerError in one line when HOST:port cannot be listened on (another server has it, or no permission)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a stopped server's TIME_WAIT does not count
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            in_use = exc.errno == errno.EADDRINUSE
            reason = "is already in use (another server?)" if in_use else f"cannot be used ({exc.strerror})"
            raise ServerError(f"{what} port {port} on {HOST} {reason}; stop that server or choose another "
                              f"--{what.lower()}-port") from None


def parent_death_signal():
    """A preexec_fn that has the child get SIGTERM when the thread starting it dies (Linux; None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork: the child only calls it
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def proc_net_address(family: int, host: str) -> str:
    """An address as /proc/net/tcp{,6} write it: each 32-bit word in host byte order, in hex."""
    packed = socket.inet_pton(family, host)
    return "".join(f"{int.from_bytes(packed[i:i + 4], sys.byteorder):08X}" for i in range(0, len(packed), 4))


def listening_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on HOST:port (IPv4, or IPv4-mapped IPv6 as gRPC binds), from Linux's /proc."""
    tables = {"/proc/net/tcp": proc_net_address(socket.AF_INET, HOST),
              "/proc/net/tcp6": proc_net_address(socket.AF_INET6, f"::ffff:{HOST}")}
    inodes = set()
    for table, address in tables.items():
        try:
            with open(table, encoding="ascii") as handle:
                rows = [line.split() for line in handle.readlines()[1:]]
        except OSError:  # no IPv6
            continue
        inodes |= {row[9] for row in rows if row[1] == f"{address}:{port:04X}" and row[3] == TCP_LISTEN}
    return inodes


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets process `pid` has open (OSError when it is gone)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def listens_on(pid: int, ports: list[int]) -> bool:
    """Whether process `pid` holds the listening sockets of every port; True where /proc cannot tell (not Linux)."""
    if not os.path.isfile("/proc/net/tcp"):
        return True
    try:
        owned = socket_inodes(pid)
    except OSError:
        return False
    return all(listening_inodes(port) & owned for port in ports)


def exited(pid: int) -> bool:
    """Whether our child `pid` has exited, without reaping it: its process group id stays ours until we reap."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def wait_exited(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not exited(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def plan_loading(repo: Path, backends: frozenset[str]) -> tuple[list[str], dict[str, str]]:
    """Models this server can load (ensembles whose members it can all load) and why others are skipped."""
    from fec.triton.checks import parse_config
    from fec.triton.photo_config import CALLS_PARAMETER

    configs = {path.parent.name: parse_config(path.read_text(encoding="utf-8"), str(path))
               for path in sorted(repo.glob("*/config.pbtxt"))}
    if not configs:
        raise ServerError(f"{repo}: no models (no */config.pbtxt); write a repository with fec-triton")
    skipped = {}
    for name, config in configs.items():
        needed = config.backend or PLATFORM_BACKENDS.get(config.platform, config.platform)
        if config.platform != "ensemble" and needed not in backends:
            skipped[name] = f"needs the {needed} backend, which this server lacks"
    for name, config in configs.items():  # a python model calling another through BLS (the photo model) needs it
        called = config.parameters[CALLS_PARAMETER].string_value if CALLS_PARAMETER in config.parameters else None
        if called and name not in skipped and (called in skipped or called not in configs):
            skipped[name] = f"the model it calls, {called}, cannot be loaded"
    for name, config in configs.items():
        if config.platform == "ensemble":
            missing = [step.model_name for step in config.ensemble_scheduling.step
                       if step.model_name in skipped or step.model_name not in configs]
            if missing:
                skipped[name] = f"its step models {missing} cannot be loaded"
    return [name for name in configs if name not in skipped], skipped


class TritonServer:
    """One tritonserver process on 127.0.0.1; a context manager that starts, waits until ready and stops it.

    Start it from a thread that lives as long as the server: on Linux the server gets SIGTERM when
    that thread ends (the parent-death signal that also covers kill -9 of this process).
    """

    def __init__(self, repo: str | Path, http_port: int | None = None, grpc_port: int | None = None,
                 install: ServerInstall | None = None, models: list[str] | None = None,
                 log_path: str | Path | None = None):
        self.repo = Path(repo).resolve()
        if not self.repo.is_dir():
            raise ServerError(f"{repo}: model repository not found; write one with fec-triton")
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.install = install or locate_tritonserver()
        self.models, self.skipped = (list(models), {}) if models else plan_loading(self.repo, self.install.backends)
        if not self.models:
            raise ServerError(f"{repo}: this server can load none of the models: "
                              + "; ".join(f"{name} {why}" for name, why in self.skipped.items()))
        self.log_path = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"fec-tritonserver-{self.http_port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    def command(self) -> list[str]:
        shm_prefix = f"fec{os.getpid()}p{self.http_port}_"  # python backend shared memory, unique per server
        return [str(self.install.binary), f"--model-repository={self.repo}",
                f"--backend-directory={self.install.backend_dir}",
                f"--http-address={HOST}", f"--http-port={self.http_port}",
                f"--grpc-address={HOST}", f"--grpc-port={self.grpc_port}",
                "--allow-metrics=false", "--exit-timeout-secs=5", "--model-control-mode=explicit",
                *(f"--load-model={name}" for name in self.models),
                f"--backend-config=python,shm-region-prefix-name={shm_prefix}"]

    def start(self, timeout: float = READY_TIMEOUT_S) -> TritonServer:
        """Start the server and return once every loaded model is ready (ServerError with the log tail if not)."""
        self.check_ports()
        make_folder(self.log_path.parent)
        with open(self.log_path, "wb") as log:
            try:
                self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env=self.install.env, start_new_session=True,
                                                preexec_fn=parent_death_signal())
            except OSError as exc:
                raise ServerError(f"cannot run {self.install.binary}: {exc}") from None
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def check_ports(self) -> None:
        """ServerError in one line unless both ports are distinct and free now."""
        if self.http_port == self.grpc_port:
            raise ServerError(f"the HTTP and gRPC ports must differ (both {self.http_port})")
        check_port_free(self.http_port, "HTTP")
        check_port_free(self.grpc_port, "gRPC")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                code = self.stop()
                raise ServerError(f"tritonserver exited with code {code} before it was ready:\n{self.log_tail()}")
            if self.is_ready() and listens_on(self.process.pid, [self.http_port, self.grpc_port]):
                return
            time.sleep(0.25)
        raise ServerError(f"tritonserver was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def is_ready(self) -> bool:
        """Server and every loaded model ready, asked over HTTP."""
        paths = ["/v2/health/ready", *(f"/v2/models/{name}/ready" for name in self.models)]
        return all(http_ok(self.http_url + path) for path in paths)

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None and not exited(self.process.pid)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (SIGKILL after `timeout`), then SIGKILL to what is left of its process group; returns the exit code."""
        if self.process is None:
            return None
        if self.process.returncode is None:  # not reaped yet, so the group id cannot have been reused
            if not exited(self.process.pid):
                os.kill(self.process.pid, signal.SIGTERM)
                wait_exited(self.process.pid, timeout)
            kill_group(self.process.pid)  # python-backend stubs left behind, or the server itself after the timeout
            self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


_LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an http_proxy


def http_ok(url: str) -> bool:
    try:
        with _LOCAL_OPENER.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False
