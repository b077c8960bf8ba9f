"""The ``shipper`` command line: the typer app, its commands, and the console entry point.

Each command that has logic is a module of its own (``run``, ``test``, ``check``,
``route``, ``replay``); ``options`` holds the exit codes and what they share. They
parse arguments, load the config, set up logging, run the work and map its result to
an exit code: ``cli/`` is the only place that exits.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from shipper import __version__
from shipper.cli.check import check
from shipper.cli.options import EXIT_OK, EXIT_UNDELIVERED
from shipper.cli.replay import replay
from shipper.cli.route import route
from shipper.cli.run import run
from shipper.cli.test import test

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help: Rich would read "[source]" as markup and drop it, show flags as
    # "<bool>" and cut long defaults at the terminal's width.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shipper {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Route JSON-lines audit events to Slack, Microsoft Teams and JSON webhooks.

    The config is -c CONFIG, else $SHIPPER_CONFIG, else ./shipper.toml, else
    /etc/shipper/config.toml. `shipper COMMAND --help` shows each command.

    \b
    Examples:
      shipper check -c shipper.toml
      shipper test security -c shipper.toml
      my-gateway | shipper run -c shipper.toml --input -

    \b
    Exit status:
      0  success
      1  run: work left queued; test: the endpoint refused or was unreachable
      2  config, usage or start-up error
      3  run: the rest delivered, but some events were dead-lettered
    """


for command in (run, test, check, route, replay):
    app.command()(command)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        # The reader of our stdout went away (`shipper route | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        # A bug of ours: log it through the handler that redacts webhook URLs, never a raw
        # traceback that could carry one.
        logging.getLogger("shipper").exception("unexpected error; please report it")
        sys.exit(EXIT_UNDELIVERED)
