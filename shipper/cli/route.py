"""``shipper route``: read lines from a stream and report where each event would go.

Reads synchronously (no network, no state, nothing to overlap with) and writes
one JSON line per routed event, or only counts with ``--stats``.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, BinaryIO

import orjson
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
from shipper.config.model import Config
from shipper.delivery.flood_sim import FloodSimulation
from shipper.ops.logs import flush_suppressed
from shipper.routing.intake import Intake
from shipper.sources.lines import LineSplitter

CHUNK_BYTES = 256 * 1024


def route_stream(
    config: Config, src: BinaryIO, out: BinaryIO, *, stats_only: bool
) -> dict[str, Any]:
    """Route every line of ``src``; unless ``stats_only``, print each decision to ``out``.

    Returns the counts: lines read, lines rejected (and why), events per channel.
    """
    intake = Intake(config)
    splitter = LineSplitter(config.source.max_line_bytes)
    dumps = orjson.dumps
    floods = FloodSimulation(config.channels, config.fields.timestamp)
    while True:
        chunk = src.read(CHUNK_BYTES)
        lines = splitter.feed(chunk) if chunk else splitter.finish()
        routed = intake.process(lines)
        if stats_only:
            for r in routed:
                floods.take(r)
        else:
            out.write(
                b"".join(
                    dumps(
                        {
                            "line": r.event.line,
                            "action": r.event.action,
                            "severity": r.event.severity.label,
                            "channels": r.channels,
                        }
                    )
                    + b"\n"
                    for r in routed
                )
            )
        if not chunk:
            break
    stats = intake.stats
    return {
        "lines_read": stats.lines_read,
        "lines_rejected": stats.lines_rejected,
        "lines_skimmed": stats.lines_skimmed,
        "rejected_by_reason": dict(sorted(stats.rejected.items())),
        "unknown_severity": stats.unknown_severity,
        "channels": {c.name: stats.matched.get(c.name, 0) for c in config.channels},
        "summarized": {c.name: floods.summarized(c.name) for c in config.channels},
    }


def route(
    file: Annotated[str, typer.Argument(help="Events to route; - or absent for stdin.")] = "-",
    config_path: ConfigOption = None,
    stats: Annotated[
        bool,
        typer.Option(
            "--stats",
            help="Print only counts: lines read and rejected, events per channel, and "
            "events flood control would summarize per channel (its windows timed by each "
            "event's own timestamp, as if the events arrived then; an event without a "
            "readable one takes the time of the event before it).",
        ),
    ] = False,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Show which channels each event would go to. No network, no state."""
    config = start(config_path, log_level, log_format, posts=False)
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
