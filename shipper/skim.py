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
there (absent, nested, a number), ``""``. A channel that could take ``""`` (a
``*`` glob) turns skimming off. A skipped line is one no channel would take;
if it is broken inside its braces (``{"action": "x", "a": }``), it is skipped
without a warning: ``lines_skimmed`` in the stats counts these lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from shipper.event import Fields
from shipper.sources.lines import Block, Line

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_JSON_SPACE = rb"[ \t\r]*"
_CHAR = rb'[^"\\\n]'
_BOUNDARY = b"}\n{"


class Skimmer:
    """Skims blocks for one routing configuration (build a new one when it changes)."""

    def __init__(
        self, fields: Fields, globs: Iterable[str], could_take: Callable[[str], bool]
    ) -> None:
        key = fields.action[0] if len(fields.action) == 1 else ""
        globs = sorted(set(globs))
        self.enabled = bool(_PLAIN_KEY.fullmatch(key) and globs) and not could_take("")
        values = b"|".join(glob_to_bytes_pattern(g) for g in globs)
        self._pattern = re.compile(
            b'"' + key.encode() + b'"' + _JSON_SPACE + b":" + _JSON_SPACE + b'"(?:' + values + b')"'
        )

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
                continue  # a second "action" key in the same line
            boundaries += data.count(_BOUNDARY, counted_to, start + 1)
            counted_to = start + 1
            last_start = start
            end = data.index(b"\n", match.end())
            out.append((block.first + boundaries, data[start:end]))
        boundaries += data.count(_BOUNDARY, counted_to)
        return out if boundaries == block.count - 1 else None


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
