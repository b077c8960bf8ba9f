"""``shipper test CHANNEL``: post one test message now and print what the endpoint answered."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from shipper.cli.options import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_UNDELIVERED,
    ConfigOption,
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    echo_scrubbed,
    start,
)
from shipper.config.hints import format_note
from shipper.errors import UnknownChannelError


def test(
    channel: Annotated[
        str, typer.Argument(metavar="CHANNEL", help="The channel to send a test message to.")
    ],
    config_path: ConfigOption = None,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Post a test message to CHANNEL now and print what it answered.

    The message has the channel's own min_severity and the action shipper.test.
    Only CHANNEL's variables must be set.

    \b
    Examples:
      shipper test security -c shipper.toml
      SLACK_SECURITY_WEBHOOK_URL=https://hooks.slack.com/... shipper test security

    \b
    Exit status:
      0  the endpoint accepted it
      1  it refused or could not be reached (the reason is printed)
      2  unknown channel (the known ones are listed) or config error
    """
    from shipper.cli.probe import send_test

    # Only the channel tested must be usable: another's unset variable is a warning.
    config = start(config_path, log_level, log_format, posts=True, needs=channel)
    try:
        ok, answer, status = asyncio.run(send_test(config, channel))
    except UnknownChannelError as exc:
        typer.echo(f"shipper: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    echo_scrubbed(f"{channel}: {answer}")
    tested = config.channel(channel)
    if tested is not None and (note := format_note(tested, status)) is not None:
        echo_scrubbed(note)
    raise typer.Exit(EXIT_OK if ok else EXIT_UNDELIVERED)
