"""What every command shares: the exit codes, the common options, and loading the config.

Exit codes: 0 clean; 1 undelivered work left (``run``) or the endpoint refused
or could not be reached (``test``); 2 a config, usage or start-up error (the state
directory locked or unusable); 3 a ``run`` that delivered everything but dead-lettered
some events.
"""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shipper.config.load import find_config, load_config
from shipper.config.model import Config
from shipper.errors import ConfigError
from shipper.ops.logs import scrub_secrets, setup_logging
from shipper.sinks import SINKS, channel_secrets

EXIT_OK = 0
EXIT_UNDELIVERED = 1
EXIT_CONFIG = 2
EXIT_DEAD_LETTERED = 3


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


def load_or_exit(config_path: Path | None, *, posts: bool) -> Config:
    """Find and load the config, or print every problem and exit 2."""
    path = config_path
    try:
        path = find_config(config_path, os.environ)
        config = load_config(path, os.environ, kinds=SINKS, posts=posts)
    except ConfigError as exc:
        where = f" {path}" if path else ""
        typer.echo(f"shipper: invalid config{where}:", err=True)
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    return config


def echo_scrubbed(text: str) -> None:
    """Print ``text`` on stdout with every configured secret redacted, as logs are."""
    typer.echo(scrub_secrets(text))


def start(config_path: Path | None, level: LogLevel, fmt: LogFormat, *, posts: bool) -> Config:
    """Set up logging (redacting the config's URLs), load the config, log its warnings."""
    secrets = setup_logging(level.value, fmt.value)
    config = load_or_exit(config_path, posts=posts)
    found = channel_secrets(config.channels)  # each kind says which of its values are secret
    secrets.set_urls(found.urls)
    for value in found.values:
        secrets.add_secret(value)
    for warning in config.warnings:
        logging.getLogger("shipper.config.load").warning("%s", warning)
    return config
