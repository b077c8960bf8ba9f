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
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

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


class _PlainParam:
    """Typer's coercion of a str, bool, Path or Enum option, without pydantic.

    Typer coerces every option through a pydantic ``TypeAdapter``, and importing
    pydantic for that holds 8 MB of a run's memory for its whole life. Our options
    are strings, flags, paths and choices: those are converted here by typer's own helpers
    (what its adapters call); anything else, and every value these refuse, goes
    through typer's own coercion, so its answers and error messages stay typer's.
    """

    def __init__(self, descriptor: Any, build: Any) -> None:
        self._descriptor = descriptor
        self._build = build
        self._full: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None and not (param.multiple or param.nargs == -1):
            return None
        try:
            if param.multiple or param.nargs != 1:
                raise TypeError("not a single value")
            return self._convert(value, param, ctx)
        except Exception:  # typer's coercion decides, and says what is wrong
            if self._full is None:
                self._full = self._build(self._descriptor)
            return self._full.coerce(value, param=param, ctx=ctx)

    def _convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from typer._param_types import coerce_cli_choice, coerce_cli_path

        kind = self._descriptor.annotation
        info = self._descriptor.parameter_info
        if isinstance(value, str | bool) and type(value) is kind:
            return value
        if issubclass(kind, Enum):
            return coerce_cli_choice(
                value, choices=list(kind), case_sensitive=info.case_sensitive, ctx=ctx
            )
        if issubclass(kind, Path) and isinstance(value, str) and value and "\0" not in value:
            # As pydantic would make it; what it might refuse is left to it.
            return coerce_cli_path(kind(value), info, path_type=kind, param=param, ctx=ctx)
        raise TypeError("not a plain option")


def _without_pydantic() -> None:
    """Coerce plain options with ``_PlainParam``; a typer without the hook is left alone."""
    try:
        from typer import core
    except ImportError:
        return
    build = getattr(core, "build_runtime_param", None)
    if build is None:
        return

    def plain(descriptor: Any) -> Any:
        kind = getattr(descriptor, "annotation", None)
        if (
            isinstance(kind, type)
            and (kind in (str, bool) or issubclass(kind, Enum | Path))
            and getattr(descriptor, "file_annotation", None) is None
            and getattr(descriptor.parameter_info, "parser", None) is None
        ):
            return _PlainParam(descriptor, build)
        return build(descriptor)

    core.build_runtime_param = plain  # type: ignore[attr-defined]


def open_standard_descriptors() -> None:
    """Open ``/dev/null`` on descriptors 0, 1 and 2 where they are closed (``shipper run
    <&-``), so that no file the run opens takes their numbers: Python's own fatal-error
    and crash reports write to descriptor 2 whatever ``sys.stderr`` is, and would land in a
    backlog file. Python has set ``sys.stdin`` (or ``stdout``, ``stderr``) to ``None``
    already, which is how a closed stdin is still told apart. Without ``/dev/null`` (or a
    descriptor to spare) they stay as they are."""
    try:
        while (fd := os.open(os.devnull, os.O_RDWR)) <= 2:
            pass
    except OSError:
        return
    os.close(fd)


def main() -> None:
    """Console-script entry point."""
    open_standard_descriptors()
    _without_pydantic()
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
