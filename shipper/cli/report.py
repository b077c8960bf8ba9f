"""``shipper route``: read lines from a stream and report where each event would go.

Reads synchronously (no network, no state, nothing to overlap with) and writes
one JSON line per routed event, or only counts with ``--stats``.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import orjson

from shipper.config.model import Config
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
    while True:
        chunk = src.read(CHUNK_BYTES)
        lines = splitter.feed(chunk) if chunk else splitter.finish()
        routed = intake.process(lines)
        if stats_only:
            for _ in routed:
                pass
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
    }
