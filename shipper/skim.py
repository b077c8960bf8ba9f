"""Find, in a block of lines, the few that a channel could take, without parsing the rest.

Pure. Most audit lines go nowhere (the example config routes about 2% of
them), and parsing every line is most of the cost of routing. ``Skimmer``
turns the channels' action globs into one bytes pattern, ``"action": "<any
glob>"``, and searches a whole ``Block`` with it: only the lines it finds are
parsed (and routed) in full. The pattern may find more lines than a channel
takes (it ignores severities and ``exclude``); it must never miss one. That
holds when the bytes leave no room for doubt, and otherwise ``wanted``
returns ``None`` so the caller parses every line:

- the action field is one plain top-level key (``[fields] action``, no dots);
- the block has no backslash, so no escape can hide, fake or spell the key or
  its value differently, and every ``"action"`` in the bytes is a string token;
- it is ASCII, so no line in it is invalid UTF-8;
- every line starts with ``{`` and ends with ``}``, so stray text, arrays, blank
  lines and lines cut short are parsed, counted and reported.

Then a full parse sees as a line's action either the string after one of its
``"action":`` keys (the last one, for duplicates) or, when there is no string
there (absent, nested, a number), ``""``.

A channel that could take ``""`` (a ``*`` glob) could take any line, so its
globs say nothing; its ``min_severity`` may. The pattern then also finds
``"severity": "<a name or alias at least that severe>"``, in any case and with
blanks inside the quotes, as the full parse reads it. A line without such a
value gets the default severity, so this holds only when the default is below
that channel's ``min_severity`` (and the severity field is one plain top-level
key); otherwise skimming is off.

A skipped line is one no channel would take; if it is broken inside its
braces (``{"action": "x", "a": }``), it is skipped without a warning:
``lines_skimmed`` in the stats counts these lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shipper.event import Fields
from shipper.severity import SEVERITY_LOOKUP, Severity
from shipper.sources.lines import Block, Line

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_JSON_SPACE = rb"[ \t\r]*"
_CHAR = rb'[^"\\\n]'
_BOUNDARY = b"}\n{"
# What str.strip() removes around a severity, in ASCII and within one line.
_STRIPPED = rb"[ \t\r\x0b\x0c\x1c-\x1f]*"


class Skimmer:
    """Skims blocks for one routing configuration (build a new one when it changes).

    ``globs`` are the actions of the channels that cannot take ``""``; ``any_action``
    is the lowest ``min_severity`` of those that can (``None`` if there are none), and
    ``default_severity`` what a line without a known severity gets.
    """

    def __init__(
        self,
        fields: Fields,
        globs: Iterable[str],
        any_action: Severity | None = None,
        default_severity: Severity = Severity.INFO,
    ) -> None:
        key = _plain_key(fields.action)
        globs = sorted(set(globs))
        patterns = (
            [_string_value(key, b"|".join(map(glob_to_bytes_pattern, globs)))] if globs else []
        )
        self.enabled = bool(key and (globs or any_action is not None))
        if any_action is not None:
            severity_key = _plain_key(fields.severity)
            names = sorted(n for n, level in SEVERITY_LOOKUP.items() if level >= any_action)
            self.enabled &= bool(severity_key) and default_severity < any_action
            values = _STRIPPED + b"(?i:" + b"|".join(n.encode() for n in names) + b")" + _STRIPPED
            patterns.append(_string_value(severity_key, values))
        self._pattern = re.compile(b"|".join(patterns) or b"(?!)")

    def wanted(self, block: Block) -> list[Line] | None:
        """The lines of ``block`` a channel could take, in order; ``None``: parse them all."""
        data = block.data
        if not self.enabled or b"\\" in data or not data.isascii():
            return None
        if not (data[:1] == b"{" and data.endswith(b"}\n")):
            return None
        # Counting "}\n{" boundaries numbers the wanted lines, and their total over the
        # block proves that every line is "{...}" (else: parse them all, to report it).
        out: list[Line] = []
        boundaries, counted_to, last_start = 0, 0, -1
        for match in self._pattern.finditer(data):
            start = data.rfind(b"\n", 0, match.start()) + 1
            if start == last_start:
                continue  # a second match in the same line (a key twice, or both keys)
            boundaries += data.count(_BOUNDARY, counted_to, start + 1)
            counted_to = start + 1
            last_start = start
            end = data.index(b"\n", match.end())
            out.append((block.first + boundaries, data[start:end]))
        boundaries += data.count(_BOUNDARY, counted_to)
        return out if boundaries == block.count - 1 else None


def _plain_key(path: tuple[str, ...]) -> str:
    """The field's key if it is one plain top-level key, else ``""``."""
    return path[0] if len(path) == 1 and _PLAIN_KEY.fullmatch(path[0]) else ""


def _string_value(key: str, values: bytes) -> bytes:
    """``"key": "<one of values>"``, with the blanks JSON allows around the colon."""
    return b'"' + key.encode() + b'"' + _JSON_SPACE + b":" + _JSON_SPACE + b'"(?:' + values + b')"'


def glob_to_bytes_pattern(glob: str) -> bytes:
    """A pattern for JSON string contents that matches at least what ``glob`` matches.

    ``*`` is any run of characters and ``?`` any one, as in ``fnmatch``; a ``[...]``
    set is widened to any one character, which may find more but never fewer.
    """
    out: list[bytes] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append(_CHAR + b"*")
        elif c == "?":
            out.append(_CHAR)
        elif c == "[" and (end := _set_end(glob, i)) > 0:
            out.append(_CHAR)
            i = end
        else:
            out.append(re.escape(c.encode()))
        i += 1
    return b"".join(out)


def _set_end(glob: str, i: int) -> int:
    """Where the ``[...]`` set opening at ``i`` closes, as ``fnmatch`` reads it; -1 if never."""
    j = i + 1
    if j < len(glob) and glob[j] == "!":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    return glob.find("]", j)
