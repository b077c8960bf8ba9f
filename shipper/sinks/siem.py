"""What the SIEM kinds share: an event's own time read as unix time, and packing a batch
into one request within a service's limits.

Pure. ``event_time`` reads the shown timestamp (ISO 8601, or epoch seconds,
milliseconds, microseconds or nanoseconds) without guessing beyond that: a
value it cannot read is ``None``, and each kind says what it sends then.
``pack`` serialises the leading entries one at a time and stops before the one
that would break the request's byte or item limit, so a request covers fewer
alerts rather than dropping or cutting any; an entry that alone is over the
limit for one event is never cut short: it is refused with the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shipper.routing.event import Alert

# The latest time accepted as an event's own: past it, a value is not a time anyone meant.
_MAX_UNIX = 253402300799.0  # 9999-12-31T23:59:59Z
_NUMBER = re.compile(r"-?\d{1,20}(?:\.\d{1,9})?")
# Epoch values are told apart by their size, as Datadog and Elastic do: a 2026 time is
# ~1.8e9 s, ~1.8e12 ms, ~1.8e15 µs, ~1.8e18 ns.
_EPOCH_SCALES = ((1e17, 1e-9), (1e14, 1e-6), (1e11, 1e-3))
_ISO_MAX_CHARS = 64
# Formatting a time costs several times what checking this shape does.
_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z")


def event_time(text: str | None) -> float | None:
    """``text`` (an event's timestamp as shown) as unix seconds; ``None`` when unreadable."""
    if text is None:
        return None
    text = text.strip()
    if _NUMBER.fullmatch(text):
        value = float(text)
        for floor, scale in _EPOCH_SCALES:
            if abs(value) >= floor:
                value *= scale
                break
        return value if math.isfinite(value) and 0 <= value <= _MAX_UNIX else None
    if not 10 <= len(text) <= _ISO_MAX_CHARS:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # audit logs without an offset are in UTC
    try:
        seconds = parsed.timestamp()
    except (OverflowError, ValueError):
        return None
    return seconds if 0 <= seconds <= _MAX_UNIX else None


def iso_time(text: str | None) -> str | None:
    """An event's timestamp as ISO 8601 UTC, or ``None`` when unreadable; one already
    written so (``2026-12-01T00:00:00.123Z``) is kept as written, the common case."""
    seconds = event_time(text)
    if seconds is None or text is None:
        return None
    return text if _ISO_UTC.fullmatch(text) else iso_utc(seconds)


def iso_utc(seconds: float) -> str:
    """Unix ``seconds`` as ISO 8601 UTC with milliseconds: ``2026-12-01T00:00:00.000Z``."""
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Packed:
    """The leading entries that fit one request; ``refused`` when the first alone is too big."""

    entries: list[Any]
    refused: str | None = None


def pack(
    alerts: Sequence[Alert],
    entry_for: Callable[[Alert], Any],
    *,
    request_bytes: int,
    request_items: int,
    entry_bytes: int,
    allowance: int,
    too_big: Callable[[int], str],
) -> Packed:
    """The entries of the leading ``alerts`` that fit one JSON array of at most
    ``request_bytes`` and ``request_items``, each entry at most ``entry_bytes``.

    ``allowance`` is counted on top of each entry, for what is added to it when it is
    sent (a hostname, the time of sending). When the first entry alone is over
    ``entry_bytes`` it is returned alone with ``too_big(its size)`` as the reason.
    """
    if not alerts:
        raise ValueError("pack needs at least one alert")
    entries: list[Any] = []
    total = 2  # the array's brackets
    for alert in alerts[:request_items]:
        entry = entry_for(alert)
        size = len(orjson.dumps(entry)) + allowance
        if size > entry_bytes:
            if not entries:
                return Packed([entry], too_big(size - allowance))
            break  # it goes first in the next request, and is refused there
        if entries and total + 1 + size > request_bytes:
            break
        total += size + (1 if entries else 0)
        entries.append(entry)
    return Packed(entries)


def cut(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters, a cut marked with ``…``."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
