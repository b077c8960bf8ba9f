"""Reading a line that is not JSON: its action and severity, found by a linear scan.

Pure. A line that does not parse but has a readable ``"action": "..."`` becomes a
*malformed* event with what could be read (action, severity, why, and the start of
the line as text), so breaking one field cannot suppress an alert. JSON cannot say
which occurrence of a key is the field, so the first one is taken; the skimmer looks
for the same shape (``plain_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shipper.config.model import FieldPath, Fields
from shipper.config.severity import Severity, parse_severity

# What a malformed event keeps of its line, and the key it is shown under.
MALFORMED_KEY = "malformed"
MALFORMED_PREFIX_BYTES = 1000

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")


@dataclass(frozen=True, slots=True)
class MalformedScan:
    """What was read in a line that is not JSON: ``raw`` is what its event shows."""

    action: str
    severity: Severity | None
    raw: dict[str, Any]


def plain_key(path: FieldPath) -> str:
    """The field's key if it is one plain top-level key, else ``""``."""
    return path[0] if len(path) == 1 and _PLAIN_KEY.fullmatch(path[0]) else ""


@lru_cache(maxsize=16)
def _string_scan(key: str) -> re.Pattern[bytes]:
    # The same shape the skimmer looks for, with fewer characters in the value (no
    # control character, as in a JSON string), so a skim finds whatever this reads.
    return re.compile(b'"' + key.encode() + rb'"[ \t\r]*:[ \t\r]*"([^"\\\x00-\x1f]*)"')


def read_string(data: bytes, key: str) -> str | None:
    """The first ``"key": "<text without escapes>"`` in a line that is not JSON, if valid
    UTF-8: a linear scan, as JSON cannot say which occurrence is the field."""
    found = _string_scan(key).search(data) if key else None
    if found is None:
        return None
    try:
        return found.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None


def scan_malformed(data: bytes, fields: Fields, reason: str, *, cut: bool) -> MalformedScan | None:
    """The action, severity and shown fields of a line that is not JSON; ``None`` when no
    action can be read. ``reason`` says why it is malformed; ``cut``: ``data`` is only the
    start of the line."""
    action_key = plain_key(fields.action)
    action = read_string(data, action_key)
    if action is None:
        return None
    severity_key = plain_key(fields.severity)
    severity_text = read_string(data, severity_key)
    prefix = data[:MALFORMED_PREFIX_BYTES].decode("utf-8", "replace")
    raw: dict[str, Any] = {action_key: action}
    if severity_text is not None:
        raw[severity_key] = severity_text
    raw[MALFORMED_KEY] = {
        "reason": reason,
        "line_start": prefix + ("…" if cut or len(data) > MALFORMED_PREFIX_BYTES else ""),
    }
    return MalformedScan(action, parse_severity(severity_text), raw)
