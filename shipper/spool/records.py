"""The spool's on-disk pieces: an ``Alert`` as a checksummed record, and segment names.

Pure apart from ``open_segment``. A record is one line::

    <8 lower-case hex digits: zlib.crc32 of JSON> <space> <JSON of the alert> <newline>

orjson escapes every control character inside strings, so the JSON never holds
a newline and a record is exactly one line. The JSON object has the keys
``line``, ``raw``, ``action``, ``severity`` (the label, e.g. ``"high"``, so a
reordered scale cannot change old records), ``actor``, ``status``,
``timestamp`` and ``facts`` (a list of ``[key, value]`` pairs).

The cursor file has its own module, ``cursor``.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from shipper.config.severity import Severity
from shipper.durable import open_private
from shipper.routing.event import Alert
from shipper.routing.storable import MAX_DEPTH, storable

SEGMENT_SUFFIX = ".seg"
_SEGMENT_NAME = re.compile(r"^(\d{20})\.seg$")


class Position(NamedTuple):
    """Where a record starts (or the previous one ends): segment number and byte offset."""

    segment: int
    offset: int


class BadRecord(ValueError):
    """A record line that fails its checksum or does not decode to an ``Alert``."""


def segment_name(number: int) -> str:
    """The file name of segment ``number``: zero-padded so names sort like numbers."""
    return f"{number:020d}{SEGMENT_SUFFIX}"


def segment_number(name: str) -> int | None:
    """The number of a segment file name; ``None`` for any other file."""
    found = _SEGMENT_NAME.match(name)
    return int(found.group(1)) if found else None


def encode_record(alert: Alert) -> bytes:
    """One record line, newline included.

    An alert orjson cannot write (nested too deep, a lone surrogate: one that did
    not come through ``Intake``) is stored with those parts made writable, never
    refused: a record that cannot be written would stop the pipeline on its line.
    """
    record = {
        "line": alert.line,
        "raw": alert.raw,
        "action": alert.action,
        "severity": alert.severity.label,
        "actor": alert.actor,
        "status": alert.status,
        "timestamp": alert.timestamp,
        "facts": alert.facts,
    }
    try:
        body = orjson.dumps(record, default=_plain)
    except orjson.JSONEncodeError:
        body = orjson.dumps(storable(record, MAX_DEPTH))
    return b"%08x %s\n" % (zlib.crc32(body), body)


def is_valid_record(line: bytes) -> bool:
    """Whether ``line`` is complete (ends with a newline) and its checksum matches."""
    if len(line) < 11 or line[8:9] != b" " or not line.endswith(b"\n"):
        return False
    # Compared as text, so a flipped case bit in a hex digit is caught too.
    return line[:8] == b"%08x" % zlib.crc32(memoryview(line)[9:-1])


def decode_record(line: bytes) -> Alert:
    """The ``Alert`` of a record line; ``BadRecord`` when it is damaged or malformed."""
    if not is_valid_record(line):
        raise BadRecord("checksum mismatch or incomplete record")
    try:
        obj = orjson.loads(memoryview(line)[9:-1])
        facts = tuple((str(k), str(v)) for k, v in obj["facts"])
        alert = Alert(
            line=obj["line"],
            raw=obj["raw"],
            action=obj["action"],
            severity=Severity[obj["severity"].upper()],
            actor=obj["actor"],
            status=obj["status"],
            timestamp=obj["timestamp"],
            facts=facts,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadRecord(f"not an alert record: {type(exc).__name__}") from exc
    if not isinstance(alert.line, int) or not isinstance(alert.raw, dict):
        raise BadRecord("not an alert record: wrong field types")
    return alert


def open_segment(path: Path, flags: int = 0) -> int:
    """A segment opened for appending (created 0600: records hold whole events)."""
    return open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | flags)


def _plain(value: Any) -> Any:
    # ``Alert.raw`` is typed as a Mapping; orjson serializes only real dicts.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot store a {type(value).__name__} in the spool")
