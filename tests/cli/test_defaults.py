"""Each command's option defaults are its library's defaults: a script calling fec's functions gets what the
command line gets. The commands spell their defaults out (importing the libraries would slow every --help), so
this test is what keeps the two from drifting apart."""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest


def option_defaults(command) -> dict:
    """Each option's default as the command receives it (converted, and through the option's callback)."""
    import click

    context = click.Context(command)
    return {param.name: param.process_value(context, param.get_default(context)) for param in command.params
            if isinstance(param, click.Option) and not param.required}


def field_defaults(cls) -> dict:
    return {field.name: field.default for field in fields(cls) if field.default is not MISSING}


def test_fec_triton_defaults_are_the_repository_options():
    from fec.cli.triton import main
    from fec.triton.options import DEFAULT_REPO, RepositoryOptions

    cli, library = option_defaults(main), field_defaults(RepositoryOptions)
    renamed = {"trt_cache": "trt_cache_path"}
    compared = {renamed.get(name, name): value for name, value in cli.items() if renamed.get(name, name) in library}
    assert len(compared) >= 12, sorted(compared)
    assert compared == {name: library[name] for name in compared}
    assert cli["repo"] == DEFAULT_REPO


@pytest.mark.parametrize("command_name", ["deploy", "bench"])
def test_timing_window_defaults_are_the_measure_settings(command_name):
    from fec.bench.measure import MeasureSettings
    from fec.cli import bench, deploy

    cli = option_defaults(bench.run if command_name == "bench" else deploy.main)
    library = field_defaults(MeasureSettings)
    assert (cli["warmup"], cli["max_windows"]) == (library["warmup_iters"], library["max_windows"])
    if command_name == "bench":
        iters_help = next(param.help for param in bench.run.params if param.name == "iters")  # unset: the library's
        assert cli["tolerance"] == library["tolerance"] and f"(default {library['iters']})" in iters_help
    else:
        assert cli["iters"] == library["iters"]


def test_fec_deploy_defaults_are_the_deploy_options():
    from fec.cli.deploy import main
    from fec.deploy.deployment import SERVE_WITH
    from fec.deploy.options import DeployOptions

    cli, library = option_defaults(main), field_defaults(DeployOptions)
    assert (cli["max_drop"], tuple(cli["batches"]), cli["calib_size"], cli["passes"]) == (
        library["max_drop"], library["batches"], library["calib_size"], library["passes"])
    assert (tuple(cli["precisions"]), tuple(cli["float_below"]), cli["rank_by"]) == (
        library["precisions"], library["float_below"], library["rank_by"])
    assert cli["serve_with"] == SERVE_WITH[0]
