"""``shipper replay``: move dead letters back into a channel's backlog for a run to send."""

from __future__ import annotations

from typing import Annotated

import typer

from shipper.cli.options import (
    EXIT_CONFIG,
    ConfigOption,
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    start,
)
from shipper.errors import StateError, UnknownChannelError


def replay(
    channel: Annotated[
        str | None,
        typer.Argument(metavar="CHANNEL", help="The channel whose dead letters to send again."),
    ] = None,
    all_channels: Annotated[
        bool, typer.Option("--all", help="Every channel's dead letters.")
    ] = False,
    config_path: ConfigOption = None,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Queue a channel's dead letters to be sent again by `shipper run`.

    Fix the webhook first (shipper test CHANNEL), then replay.

    \b
    Examples:
      shipper replay security -c shipper.toml
      shipper replay --all

    \b
    Exit status:
      0  done (or nothing to replay)
      2  unknown channel, config error, or the state directory is unusable
    """
    from shipper.delivery.deadletter import DeadLetters
    from shipper.run.replays import queue_dead_letters
    from shipper.spool.state import StateDir

    config = start(config_path, log_level, log_format, posts=False)
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
