"""Atomic file writing: nothing is ever half-written under its final name; output paths that cannot be written
(a file where one of their folders must be) are one line before any work."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from fec.errors import FecError, OutputPathError


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The nearest existing ancestor of `path` when it is not a folder (`afile` of `afile/x`), else None."""
    for ancestor in Path(path).parents:
        if ancestor.exists():
            return None if ancestor.is_dir() else ancestor
    return None


def check_output_path(path: str | os.PathLike) -> Path:
    """Refuse an output path with a file where one of its folders must be, in one line naming both; returns it."""
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise OutputPathError(f"{path}: {blocker} is a file, not a folder; choose another path")
    return Path(path)


def make_folder(path: str | os.PathLike) -> Path:
    """`mkdir -p` whose failures (a file in the way, no permission) are one line naming the folder."""
    folder = check_output_path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"{folder}: cannot make this folder ({exc.strerror or exc})") from None
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    final = Path(path)
    if final.is_dir():
        raise FecError(f"{final}: is a folder; give a file name")
    make_folder(final.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o644)  # mkstemp makes 0600; finished files should read like any other output
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty scratch folder beside `path` that replaces `path` only if the block succeeds. Scratch folders
    are named by their process, so the next call for `path` tidies what a killed one left (clear_killed_scratch)."""
    final = Path(path)
    make_folder(final.parent)
    clear_killed_scratch(final)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.new-{os.getpid()}-", dir=final.parent))
    try:
        yield scratch
        scratch.chmod(0o755)  # mkdtemp makes 0700
        if final.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-{os.getpid()}-", dir=final.parent))
            os.replace(final, retired / final.name)
            os.replace(scratch, final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def clear_killed_scratch(final: Path) -> None:
    """Remove the scratch folders of `final` that a killed atomic_folder left (its process is gone). A retired
    `final` is put back first when the kill came between retiring it and renaming the new one into place."""
    pattern = re.compile(rf"\.{re.escape(final.name)}\.(new|old)-(\d+)-[^/]+")
    for leftover in sorted(final.parent.iterdir()):
        match = pattern.fullmatch(leftover.name)
        if not match or not leftover.is_dir() or process_is_running(int(match.group(2))):
            continue
        if match.group(1) == "old" and not final.exists() and (leftover / final.name).is_dir():
            os.replace(leftover / final.name, final)
        shutil.rmtree(leftover, ignore_errors=True)


def process_is_running(pid: int) -> bool:
    """Whether a process with this id exists here (one of another user counts: its scratch is not ours to remove)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file for writing that replaces `path` once closed without error."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_json(path: str | os.PathLike, payload: Any) -> None:
    """Write `payload` as indented JSON, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=False)
        handle.write("\n")


def read_json(path: str | os.PathLike, error: type[Exception], what: str) -> Any:
    """Parse a JSON file; an unreadable one raises `error` with one line naming the file and `what` it is."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: unreadable {what} ({exc})") from None
    except RecursionError:
        raise error(f"{path}: unreadable {what} (nested too deeply to be one)") from None
