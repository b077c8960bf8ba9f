"""The ``shipper`` command line (typer): parse arguments, load the config, set up logging,
run the work and map its result to an exit code. The only module that exits.

Exit codes: 0 clean; 1 undelivered work left (``run``) or the endpoint refused
or could not be reached (``test``); 2 a config, usage or start-up error (the state
directory locked or unusable); 3 a ``run`` that delivered everything but dead-lettered
some events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from shipper import __version__
from shipper.config.load import find_config, load_config
from shipper.config.model import Config
from shipper.errors import ConfigError, StateError, UnknownChannelError
from shipper.ops.logs import flush_suppressed, redact_url, scrub_secrets, setup_logging
from shipper.sinks import channel_secrets

if TYPE_CHECKING:
    from shipper.run.lifecycle import RunResult

EXIT_OK = 0
EXIT_UNDELIVERED = 1
EXIT_CONFIG = 2
EXIT_DEAD_LETTERED = 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Route JSON-lines audit events to Slack, Microsoft Teams and JSON webhooks.",
)


class LogLevel(StrEnum):
    """Log levels accepted by --log-level."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(StrEnum):
    """Log line formats accepted by --log-format."""

    text = "text"
    json = "json"


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file. Default: $SHIPPER_CONFIG, ./shipper.toml, /etc/shipper/config.toml.",
        show_default=False,
    ),
]
LogLevelOption = Annotated[
    LogLevel,
    typer.Option("--log-level", envvar="SHIPPER_LOG_LEVEL", help="Least severe log to show."),
]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        envvar="SHIPPER_LOG_FORMAT",
        help="text for people, json for log collectors.",
    ),
]


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
    """Route JSON-lines audit events to Slack, Microsoft Teams and JSON webhooks."""


def _load(config_path: Path | None, *, posts: bool) -> Config:
    """Find and load the config, or print every problem and exit 2."""
    path = config_path
    try:
        path = find_config(config_path, os.environ)
        config = load_config(path, os.environ, posts=posts)
    except ConfigError as exc:
        where = f" {path}" if path else ""
        typer.echo(f"shipper: invalid config{where}:", err=True)
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    return config


def _echo_scrubbed(text: str) -> None:
    """Print ``text`` on stdout with every configured secret redacted, as logs are."""
    typer.echo(scrub_secrets(text))


def _start(config_path: Path | None, level: LogLevel, fmt: LogFormat, *, posts: bool) -> Config:
    secrets = setup_logging(level.value, fmt.value)
    config = _load(config_path, posts=posts)
    found = channel_secrets(config.channels)  # each kind says which of its values are secret
    secrets.set_urls(found.urls)
    for value in found.values:
        secrets.add_secret(value)
    for warning in config.warnings:
        logging.getLogger("shipper.config.load").warning("%s", warning)
    return config


@app.command()
def run(
    config_path: ConfigOption = None,
    input_path: Annotated[
        str | None,
        typer.Option(
            "--input",
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

    Exit status: 0 everything delivered; 1 work left queued for the next
    run, or the disk could not keep it; 2 config, usage or start-up error;
    3 everything else delivered, but some events were dead-lettered
    (`shipper replay` sends them again).
    """
    from shipper.run.pipeline import Source, run_pipeline
    from shipper.sources.stdin import stdin_problem

    config = _start(config_path, log_level, log_format, posts=not dry_run)
    path = input_path if input_path is not None else config.source.path
    tailed = None if path in (None, "-") else Path(path)
    if tailed is None and (problem := stdin_problem(sys.stdin)):
        typer.echo(f"shipper: {problem}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    source = Source(
        tailed,
        fd=sys.stdin.fileno() if tailed is None else -1,  # stdin may be closed then
        from_beginning=from_beginning,
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
    raise typer.Exit(_run_exit_status(result))


def _run_exit_status(result: RunResult) -> int:
    """Work left behind outranks dead letters: it is what the next run must deliver."""
    if result.undelivered or result.forced or result.failed:
        return EXIT_UNDELIVERED
    return EXIT_DEAD_LETTERED if result.dead_lettered else EXIT_OK


@app.command()
def test(
    channel: Annotated[str, typer.Argument(help="The channel to send a test message to.")],
    config_path: ConfigOption = None,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Post one test message to CHANNEL now and print what the endpoint answered."""
    from shipper.cli.probe import send_test

    config = _start(config_path, log_level, log_format, posts=True)
    try:
        ok, answer = asyncio.run(send_test(config, channel))
    except UnknownChannelError as exc:
        typer.echo(f"shipper: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    _echo_scrubbed(f"{channel}: {answer}")
    raise typer.Exit(EXIT_OK if ok else EXIT_UNDELIVERED)


@app.command()
def check(
    config_path: ConfigOption = None,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Validate the config and list its channels (URLs redacted)."""
    config = _start(config_path, log_level, log_format, posts=True)
    typer.echo(f"{config.path}: valid, {len(config.channels)} channel(s)")
    for c in config.channels:
        rate = c.delivery.max_rate
        extra = f" format={c.teams_format}" if c.kind == "teams" else ""
        _echo_scrubbed(
            f"  {c.name}: kind={c.kind}{extra} url={redact_url(c.url) if c.url else '(unset)'} "
            f"label={c.label or '-'} min_severity={c.min_severity.label} "
            f"actions={', '.join(c.actions)} exclude={', '.join(c.exclude) or '-'} "
            f"max_rate={f'{rate:g}/s' if rate else 'unlimited'} batch_max={c.delivery.batch_max}"
        )


@app.command()
def route(
    file: Annotated[str, typer.Argument(help="Events to route; - or absent for stdin.")] = "-",
    config_path: ConfigOption = None,
    stats: Annotated[
        bool,
        typer.Option(
            "--stats", help="Print only counts: lines read and rejected, events per channel."
        ),
    ] = False,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Show which channels each event would go to. No network, no state."""
    from shipper.cli.report import route_stream

    config = _start(config_path, log_level, log_format, posts=False)
    try:
        stream = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as exc:
        typer.echo(f"shipper: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        with stream:
            result = route_stream(config, stream, sys.stdout.buffer, stats_only=stats)
    finally:
        # As `run` does: repeated warnings ("line N skipped") end with how many were held back.
        flush_suppressed(closing=True)
    if stats:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


@app.command()
def replay(
    channel: Annotated[
        str | None, typer.Argument(help="The channel whose dead letters to send again.")
    ] = None,
    all_channels: Annotated[
        bool, typer.Option("--all", help="Every channel's dead letters.")
    ] = False,
    config_path: ConfigOption = None,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Move dead letters back into the backlog, for the next or the running `shipper run`."""
    from shipper.delivery.deadletter import DeadLetters
    from shipper.run.replays import queue_dead_letters
    from shipper.spool.state import StateDir

    config = _start(config_path, log_level, log_format, posts=False)
    known = [c.name for c in config.channels]
    if all_channels == (channel is not None):
        typer.echo("shipper: name one CHANNEL or pass --all", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if channel is not None and channel not in known:
        typer.echo(f"shipper: {UnknownChannelError(channel, known)}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    state = StateDir(config.source.state_dir)
    dead_letters = DeadLetters(config.source.state_dir)
    for name in known if all_channels else [channel or ""]:
        try:
            state.check()
            count = queue_dead_letters(state, name, dead_letters.path_for(name))
        except StateError as exc:
            typer.echo(f"shipper: {exc}", err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        if count is None:
            typer.echo(f"{name}: no dead letters")
        else:
            typer.echo(
                f"{name}: {count} dead letter(s) queued; the next or the running "
                "`shipper run` sends them"
            )


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
