"""What the commands share: one-line errors for user mistakes, --quiet, options for local pictures, finite
number ranges."""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import click

from fec.errors import FecError, FecWarning
from fec.io import check_output_path

USER_ERROR_EXIT = 2


class FiniteRange(click.FloatRange):
    """click's FloatRange without NaN and infinity, which it lets through (every comparison with NaN is false)."""

    name = "finite float range"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number", param, ctx)
        return number


class OutputPath(click.Path):
    """A path a command writes to, refused before any work when a file stands where one of its folders must be
    (`--out afile/x`): fec.io.check_output_path, named by the option."""

    def __init__(self):
        super().__init__(path_type=Path)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        try:
            return check_output_path(path)
        except FecError as exc:
            self.fail(str(exc), param, ctx)


def user_errors(command):
    """Turn FecError into `error: <message>` on stderr and exit code 2; other exceptions keep tracebacks."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.showwarning = fec_warnings_as_lines(warnings.showwarning)
            try:
                return command(*args, **kwargs)
            except FecError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(USER_ERROR_EXIT)

    return wrapper


def fec_warnings_as_lines(show_other):
    """A warnings.showwarning that prints an FecWarning as one `warning: <message>` line on stderr (Python's own
    format names our source line), and leaves other warnings to `show_other`."""

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, FecWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            show_other(message, category, filename, lineno, file, line)

    return show


def defaults_of(options_class) -> SimpleNamespace:
    """The defaults of a library's options dataclass, by field name: what a command offers unless told (fields
    without one are left out). Commands read them here instead of restating them."""
    found = {}
    for item in dataclasses.fields(options_class):
        if item.default is not dataclasses.MISSING:
            found[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            found[item.name] = item.default_factory()
    return SimpleNamespace(**found)


class WordChoice(click.Choice):
    """A choice of typed words (fec.vocabulary's StrEnums) offered, taken and passed on as their plain words:
    click would otherwise match an enum default by its member name (FP32), not its word (fp32)."""

    def convert(self, value, param, ctx):
        return super().convert(str(value) if isinstance(value, enum.Enum) else value, param, ctx)


class RegistryChoice(click.Choice):
    """A choice of a registry's names, read when the command runs, so that a backend or runtime registered after
    the command was imported is offered too."""

    def __init__(self, names: Callable[[], list[str]]):
        self._names = names
        super().__init__([])

    @property
    def choices(self) -> list[str]:
        return list(self._names())

    @choices.setter
    def choices(self, value) -> None:  # click's __init__ sets it; the registry is the one answer
        pass


def choice(words) -> click.Choice:
    """A click choice of typed words (fec.vocabulary's StrEnums, a registry's names) offered as their plain words."""
    return WordChoice([str(word) for word in words])


WHOLE_NUMBER = re.compile(r"[0-9]+")  # int() also takes 1_0 (ten), +5 and full-width digits


def comma_list(kind):
    """A comma-separated option as a list of `kind` (int or str): every item given once, none empty, and whole
    numbers written in digits only."""

    def parse(ctx, param, value):
        if value is None:
            return None
        items = [item.strip() for item in value.split(",")]
        problem = comma_list_problem(items, kind)
        if problem:
            raise click.BadParameter(f"{problem} in {value!r}; give each item once, separated by single commas")
        return [kind(item) for item in items]

    return parse


def comma_list_problem(items: list[str], kind) -> str | None:
    """What is wrong with the items of a comma-separated option, or None."""
    if "" in items:
        return "an empty item"
    twice = next((item for index, item in enumerate(items) if item in items[:index]), None)
    if twice is not None:
        return f"{twice} is given twice"
    wrong = next((item for item in items if kind is int and not WHOLE_NUMBER.fullmatch(item)), None)
    return None if wrong is None else f"{wrong!r} is not a whole number (digits only)"


def quiet_option(command):
    return click.option("--quiet", "-q", is_flag=True, help="No progress bars or chatter.")(command)


def local_picture_options(command):
    """--data-root and --allow-outside-paths: where a test CSV's local pictures may lie."""
    command = click.option("--allow-outside-paths", is_flag=True,
                           help="Let the CSV name local pictures outside its own folder (refused by default).")(command)
    return click.option("--data-root", type=click.Path(path_type=Path),
                        help="Folder the CSV's local pictures must lie in [default: the CSV's own folder].")(command)


def show_progress(quiet: bool) -> bool:
    """Progress bars only on interactive terminals and never with --quiet."""
    return not quiet and sys.stderr.isatty()

