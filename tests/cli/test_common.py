"""What every command shares (fec/cli/common.py): user mistakes and run warnings as one line each."""

from __future__ import annotations

import warnings

import click
from click.testing import CliRunner

from fec.cli.common import user_errors
from fec.errors import FecError, PictureWarning


@click.command()
@click.option("--fail", is_flag=True)
@user_errors
def warns(fail):
    warnings.warn("odd.jpg: damaged metadata (Corrupt EXIF data); the picture is used as stored", PictureWarning,
                  stacklevel=1)
    warnings.warn("a library's own warning", DeprecationWarning, stacklevel=1)
    if fail:
        raise FecError("a bad row")
    click.echo("done")


def test_an_fec_warning_is_one_line_in_our_words_and_other_warnings_go_where_python_sends_them():
    with warnings.catch_warnings(record=True) as elsewhere:
        warnings.simplefilter("always")
        result = CliRunner().invoke(warns, [])
    assert result.exit_code == 0 and result.stdout == "done\n"
    assert result.stderr == "warning: odd.jpg: damaged metadata (Corrupt EXIF data); the picture is used as stored\n"
    assert [(warning.category, str(warning.message)) for warning in elsewhere] == [
        (DeprecationWarning, "a library's own warning")]
    failed = CliRunner().invoke(warns, ["--fail"])
    assert failed.exit_code == 2 and failed.stderr.splitlines()[-1] == "error: a bad row"
