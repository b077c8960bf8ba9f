"""``shipper check``: validate the config and list its channels, URLs redacted."""

from __future__ import annotations

import logging

import typer

from shipper.cli.options import (
    ConfigOption,
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    echo_scrubbed,
    start,
)
from shipper.ops.logs import redact_url
from shipper.run.preflight import source_path_problem, state_dir_problem

log = logging.getLogger(__name__)


def check(
    config_path: ConfigOption = None,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Validate the config and list its channels (URLs redacted).

    Every problem is reported, each naming its key. Unset variables are errors:
    check answers whether `shipper run` would start in this environment. A
    state_dir this user could not use and a source path in a directory that
    does not exist are warnings; nothing is created.

    \b
    Examples:
      shipper check -c shipper.toml
      SHIPPER_CONFIG=/etc/shipper/config.toml shipper check

    \b
    Exit status:
      0  valid (warnings may be printed)
      2  invalid: every problem found, each naming its key
    """
    config = start(config_path, log_level, log_format, posts=True)
    # Where the run would start, as this user here: warnings, as checks often run elsewhere.
    for problem in (
        source_path_problem(config.source.path),
        state_dir_problem(config.source.state_dir),
    ):
        if problem is not None:
            log.warning("%s", problem)
    typer.echo(f"{config.path}: valid, {len(config.channels)} channel(s)")
    for c in config.channels:
        rate = c.delivery.max_rate
        extra = f" format={c.teams_format}" if c.kind == "teams" else ""
        url = redact_url(c.url) if c.url else "(unset)"
        if c.kind == "slack_app" and c.settings is not None:
            extra, url = f" channel={c.settings.channel}", redact_url(c.settings.api_url)
        echo_scrubbed(
            f"  {c.name}: kind={c.kind}{extra} url={url} "
            f"label={c.label or '-'} min_severity={c.min_severity.label} "
            f"actions={', '.join(c.actions)} exclude={', '.join(c.exclude) or '-'} "
            f"max_rate={f'{rate:g}/s' if rate else 'unlimited'} batch_max={c.delivery.batch_max}"
        )
