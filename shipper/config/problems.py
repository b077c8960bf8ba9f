"""Collecting a config's problems, and quoting a value in one as the user wrote it.

Pure. ``Problems`` gathers errors and warnings instead of raising, so one load
reports all of them at once. A message quotes a value as the user wrote it in TOML
(``written``: ``true``, ``10``, ``"10s"``, ``"${VAR}"``), never as Python shows it
nor as ``${VAR}`` expanded: the variable may hold a secret put under the wrong key.
A URL shows its host only, wherever it was put.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field

from shipper.ops.redaction import redact_url

# A value quoted in an error is cut here: the message must stay one readable line.
WRITTEN_MAX_CHARS = 80


@dataclass
class Problems:
    """Collects errors and warnings while a config is read."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _demoted: bool = False

    def error(self, message: str) -> None:
        """Record a problem that makes the config unusable (a warning once demoted)."""
        (self.warnings if self._demoted else self.errors).append(message)

    def warn(self, message: str) -> None:
        """Record something the user should know that does not stop the program."""
        self.warnings.append(message)

    def as_warnings(self) -> Problems:
        """A view of this collector whose errors are recorded as warnings."""
        view = Problems(self.errors, self.warnings)
        view._demoted = True
        return view


def written(value: object) -> str:
    """A TOML value as the user wrote it, for an error message: ``true``, ``10``, ``1.5``,
    ``"10s"``, ``[1, 2]``, ``{ a = 1 }``; a URL shows its host only, a long value is cut."""
    text = _toml_text(value)
    if len(text) > WRITTEN_MAX_CHARS:
        return text[: WRITTEN_MAX_CHARS - 1] + "…"
    return text


def _toml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # A URL is a secret wherever it was put: show where it points, no more.
        return json.dumps(redact_url(value) if "://" in value else value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {_toml_text(v)}" for k, v in value.items()) + " }"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def kind_of(value: object) -> str:
    """How an error message names a TOML value's type."""
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)
