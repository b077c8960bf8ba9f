"""``shipper run``: read, route, queue and deliver until stopped; exit status: what is left."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipper.cli.options import (
    EXIT_CONFIG,
    EXIT_DEAD_LETTERED,
    EXIT_OK,
    EXIT_UNDELIVERED,
    ConfigOption,
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    start,
)
from shipper.errors import ConfigError, StateError
from shipper.ops.logs import flush_suppressed

if TYPE_CHECKING:
    from shipper.run.lifecycle import RunResult


def run(
    config_path: ConfigOption = None,
    input_path: Annotated[
        str | None,
        typer.Option(
            "--input",
            metavar="FILE|-",
            help="File to tail, or - for stdin. Default: [source].path, else stdin.",
            show_default=False,
        ),
    ] = None,
    from_beginning: Annotated[
        bool,
        typer.Option(
            "--from-beginning", help="Read a tailed file from its start, whatever was saved."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Post nothing, save nothing: print each message as "
            '{"channel": NAME, "payload": {...}} on stdout.',
        ),
    ] = False,
    log_level: LogLevelOption = LogLevel.info,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Read events, route them and post them to their channels.

    Input: --input, else [source].path, else stdin. At the end of stdin it
    delivers what it read and exits; a tailed file is followed until SIGTERM
    or SIGINT. Events piped in while [source].path names a file are refused
    (exit 2): pass --input - to read them.

    \b
    Examples:
      my-gateway | shipper run -c shipper.toml --input -
      shipper run -c /etc/shipper/config.toml
      shipper run --dry-run --input - < audit.jsonl

    \b
    Exit status:
      0  everything delivered
      1  work left queued for the next run (or the disk could not keep it)
      2  config, usage or start-up error (state directory locked or unusable)
      3  the rest delivered, but some events were dead-lettered
         (shipper replay sends them again)
    """
    from shipper.run.piped import conflict_message, piped_input
    from shipper.run.pipeline import Source, run_pipeline
    from shipper.sources.stdin import stdin_problem

    config = start(config_path, log_level, log_format, posts=not dry_run)
    path = input_path if input_path is not None else config.source.path
    tailed = None if path in (None, "-") else Path(path)
    if tailed is None and (problem := stdin_problem(sys.stdin)):
        typer.echo(f"shipper: {problem}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    # Events piped in while the config names a file would go unread: a usage error,
    # unless --input said which input is meant.
    piped = piped_input(sys.stdin) if input_path is None and tailed is not None else None
    if piped == "data":
        typer.echo(f"shipper: {conflict_message(str(tailed))}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    source = Source(
        tailed,
        fd=sys.stdin.fileno() if tailed is None or piped else -1,  # stdin may be closed then
        from_beginning=from_beginning,
        watch_pipe=piped == "pipe",
    )
    try:
        result = asyncio.run(run_pipeline(config, source, dry_run=dry_run))
    except StateError as exc:  # the state directory is locked by another run, or unusable
        logging.getLogger("shipper").error("%s", exc)
        raise typer.Exit(EXIT_CONFIG) from None
    except ConfigError as exc:  # the config named something unusable: a port in use, say
        for problem in exc.problems:
            logging.getLogger("shipper").error("%s", problem)
        raise typer.Exit(EXIT_CONFIG) from None
    finally:
        flush_suppressed(closing=True)
    raise typer.Exit(run_exit_status(result))


def run_exit_status(result: RunResult) -> int:
    """A usage error first (it stopped the run); then work left behind outranks dead
    letters: it is what the next run must deliver."""
    if result.piped_data:
        return EXIT_CONFIG
    if result.undelivered or result.forced or result.failed:
        return EXIT_UNDELIVERED
    return EXIT_DEAD_LETTERED if result.dead_lettered else EXIT_OK
