"""Noticing a log whose events lack the configured ``[fields]``: the wrong schema, said once.

Pure. An audit log that keeps its action under ``event.type`` instead of
``action`` matches no channel, and nothing else would say why. ``SchemaCheck``
looks at the first ``SAMPLE_LINES`` JSON objects read (parsing them again if
skimming did not: a bounded cost, paid once) and, when more than
``MISSING_SHARE`` of them lack the action or the severity field, gives one
message: which field is missing, which top-level fields the events do have,
and which config key to set, with a guess when a field of a usual name is
there. A log with no severity at all is routed by ``[severity] default``, as
meant: only a field of a usual name (``level``, say) makes that worth a word.

Field names come from the log, so they are hostile: each is shown as JSON
(escaped), cut to ``NAME_MAX`` characters, and at most ``NAMES_SHOWN`` of them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

import orjson

from shipper.config.model import FieldPath, Fields
from shipper.routing.event import lookup
from shipper.sources.lines import Line, TooLong

SAMPLE_LINES = 100
# Lines looked at, objects or not, before giving up: a log of other text costs no more.
LOOK_MAX = 10 * SAMPLE_LINES
MISSING_SHARE = 0.9
NAMES_SHOWN = 12
NAME_MAX = 40

# Where other schemas keep what [fields] action and severity name (ECS, CloudTrail,
# Kubernetes audit, OpenTelemetry, syslog-ish JSON), tried in order for a guess.
_USUAL: dict[str, tuple[FieldPath, ...]] = {
    "action": (
        ("event", "action"),
        ("event", "type"),
        ("eventName",),
        ("event_type",),
        ("eventType",),
        ("type",),
        ("verb",),
        ("operation",),
        ("event",),
    ),
    "severity": (
        ("level",),
        ("log", "level"),
        ("severity_text",),
        ("severityText",),
        ("event", "severity"),
        ("priority",),
        ("loglevel",),
        ("lvl",),
    ),
}


class SchemaCheck:
    """Counts, over the first ``SAMPLE_LINES`` objects, those lacking each field."""

    def __init__(self, fields: Fields) -> None:
        self._paths = {"action": fields.action, "severity": fields.severity}
        self.seen = 0
        self.looked = 0
        self.missing: Counter[str] = Counter()
        self._keys: Counter[str] = Counter()
        self._found: dict[str, Counter[FieldPath]] = {k: Counter() for k in self._paths}
        self.done = False

    def see_lines(self, lines: Iterable[Line]) -> str | None:
        """Look at ``lines`` until the sample is full; the hint, once, when it is due."""
        for _, data in lines:
            if self.done:
                break
            self.looked += 1
            if self.looked >= LOOK_MAX:
                self.done = True
            if isinstance(data, TooLong):
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                self._see(obj)
                if self.seen >= SAMPLE_LINES:
                    self.done = True
                    return self.hint()
        return None

    def _see(self, obj: Mapping[str, Any]) -> None:
        self.seen += 1
        lacking = False
        for name, path in self._paths.items():
            if lookup(obj, path) is None:
                self.missing[name] += 1
                lacking = True
                for usual in _USUAL[name]:
                    if isinstance(lookup(obj, usual), str):
                        self._found[name][usual] += 1
        if lacking:
            self._keys.update(islice(obj, NAMES_SHOWN * 4))

    def hint(self) -> str | None:
        """The message when most objects seen lack a field, else ``None``."""
        if not self.seen:
            return None
        lacking = [n for n in self._paths if self.missing[n] > MISSING_SHARE * self.seen]
        if lacking == ["severity"] and _best(self._found["severity"], self.seen) is None:
            return None  # a log without severities is routed by [severity] default, as meant
        if not lacking:
            return None
        parts = []
        for name in lacking:
            dotted = ".".join(self._paths[name])
            text = (
                f"{self.missing[name]} of the first {self.seen} events have no "
                f'"{_shown(dotted)}" field (fields.{name})'
            )
            guess = _best(self._found[name], self.seen)
            if guess is not None:
                text += f'; they have "{_shown(guess)}": set [fields] {name} = "{_shown(guess)}"'
            else:
                text += f"; set [fields] {name} to the dotted path where they keep it"
            parts.append(text)
        keys = ", ".join(f'"{_shown(k)}"' for k, _ in self._keys.most_common(NAMES_SHOWN))
        return "; ".join(parts) + f". Their top-level fields: {keys or 'none'}"


def _best(found: Counter[FieldPath], seen: int) -> str | None:
    """The usual field present in most events, if in more than half of them."""
    if not found:
        return None
    path, count = max(found.items(), key=lambda item: item[1])
    return ".".join(path) if count * 2 > seen else None


def _shown(name: str) -> str:
    """A field name from the log, escaped and cut, to quote in a message."""
    # ASCII only: a bidirectional override or a newline in a key shows as \u202e or \n.
    text = json.dumps(name[:NAME_MAX], ensure_ascii=True)[1:-1]
    return text + ("…" if len(name) > NAME_MAX else "")
