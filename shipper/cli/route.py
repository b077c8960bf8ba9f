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
from shipper.routing.event import REJECT_TEXT, Event, Rejected, parse_line, parse_too_long
from shipper.routing.explain import Explainer, explanation
from shipper.routing.intake import Intake
from shipper.sources.lines import Line, Lines, LineSplitter, TooLong

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


def explain_stream(config: Config, src: BinaryIO, out: BinaryIO) -> None:
    """Print every event of ``src`` with, per channel, ``"taken"`` or why not; a skipped
    line says why it was skipped. The intake sees the lines too, for its warnings."""
    intake = Intake(config)
    explainer = Explainer(config.channels, config.fields)
    splitter = LineSplitter(config.source.max_line_bytes)
    while True:
        chunk = src.read(CHUNK_BYTES)
        lines = splitter.feed(chunk) if chunk else splitter.finish()
        for _ in intake.process(lines):
            pass
        out.write(b"".join(_explained(config, explainer, line) for line in _lines(lines)))
        if not chunk:
            break


def _lines(lines: Lines) -> list[Line]:
    return lines.as_list() if isinstance(lines, Lines) else list(lines)


def _explained(config: Config, explainer: Explainer, line: Line) -> bytes:
    number, data = line
    fields, default = config.fields, config.default_severity
    max_bytes = config.source.max_line_bytes
    parsed: Event | Rejected | None
    if isinstance(data, TooLong):
        parsed = parse_too_long(data.head, data.length, number, fields, default, max_bytes)
    else:
        parsed = parse_line(data, number, fields, default, max_bytes)
    if parsed is None:
        return b""
    if isinstance(parsed, Rejected):
        return orjson.dumps({"line": number, "skipped": REJECT_TEXT[parsed]}) + b"\n"
    shown = explanation(parsed, explainer, explainer.explain(parsed))
    if parsed.malformed is not None:
        shown["malformed"] = REJECT_TEXT[parsed.malformed]
    return orjson.dumps(shown) + b"\n"


def route(
    file: Annotated[
        str, typer.Argument(metavar="FILE|-", help="Events to route; - or absent for stdin.")
    ] = "-",
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
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Print every event with, per channel, taken or why not (severity below "
            "min_severity, no actions glob matched, excluded by a glob, a field missing).",
        ),
    ] = False,
    log_level: LogLevelOption = LogLevel.warning,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Show which channels each event would go to. No network, no state.

    Prints one JSON line per event that matches a channel; --stats prints
    only counts; --explain prints every event with, per channel, why it is
    taken or not.

    \b
    Examples:
      shipper route -c shipper.toml audit.jsonl
      tail -n 1000 audit.jsonl | shipper route --explain
      shipper route --stats audit.jsonl

    \b
    Exit status:
      0  done
      2  config error, or FILE cannot be read
    """
    config = start(config_path, log_level, log_format, posts=False)
    if stats and explain:
        typer.echo("shipper: --stats and --explain do not go together; pass one", err=True)
        raise typer.Exit(EXIT_CONFIG)
    try:
        stream = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as exc:
        typer.echo(f"shipper: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        with stream:
            if explain:
                explain_stream(config, stream, sys.stdout.buffer)
                return
            result = route_stream(config, stream, sys.stdout.buffer, stats_only=stats)
    finally:
        # As `run` does: repeated warnings ("line N skipped") end with how many were held back.
        flush_suppressed(closing=True)
    if stats:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
