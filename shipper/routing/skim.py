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
``lines_skimmed`` in the stats counts these lines. A broken line whose action
a channel takes is found like any other, and the full parse routes it as a
malformed event: it reads the first ``"action": "..."`` with the same shape
and fewer characters than this pattern, so a skim finds all it would route.

Every line is hostile, so skimming is linear in the block's length: a glob
with stars is widened to its part before the first star, one run of any
characters and its part after the last star (``*.*.*_failed`` is looked for
as ``<run>_failed``), which finds more but never fewer and cannot backtrack
more than the suffix's length at each character; and each line is searched
from its start at most once, whatever it holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shipper.config.model import Fields
from shipper.config.severity import SEVERITY_LOOKUP, Severity
from shipper.routing.malformed import plain_key
from shipper.sources.lines import Block, Line

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
        key = plain_key(fields.action)
        globs = sorted(set(globs))
        patterns = (
            [_string_value(key, b"|".join(map(glob_to_bytes_pattern, globs)))] if globs else []
        )
        self.enabled = bool(key and (globs or any_action is not None))
        if any_action is not None:
            severity_key = plain_key(fields.severity)
            names = sorted(n for n, level in SEVERITY_LOOKUP.items() if level >= any_action)
            self.enabled &= bool(severity_key) and default_severity < any_action
            values = _STRIPPED + b"(?i:" + b"|".join(n.encode() for n in names) + b")" + _STRIPPED
            patterns.append(_string_value(severity_key, values))
        self._pattern = re.compile(b"|".join(patterns) or b"(?!)")

    def wanted(self, block: Block) -> list[Line] | None:
        """The lines of ``block`` a channel could take, in order; ``None``: parse them all."""
        data = block.data
        # find, not ``in``: ``bytes.__contains__`` first tries its argument as an int,
        # and the TypeError it raises and clears costs more than the search itself.
        if not self.enabled or data.find(b"\\") >= 0 or not data.isascii():
            return None
        if not (data[:1] == b"{" and data.endswith(b"}\n")):
            return None
        # Counting "}\n{" boundaries numbers the wanted lines, and their total over the
        # block proves that every line is "{...}" (else: parse them all, to report it).
        search = self._pattern.search
        if (match := search(data)) is None:  # most blocks of a live log
            # One line "{...}\n" has no boundary to count.
            return [] if block.count == 1 or data.count(_BOUNDARY) == block.count - 1 else None
        out: list[Line] = []
        boundaries, counted_to, pos = 0, 0, 0
        while match is not None:
            # From the end of the last line taken: no byte is looked at twice, however
            # many matches one line holds.
            start = max(data.rfind(b"\n", pos, match.start()) + 1, pos)
            boundaries += data.count(_BOUNDARY, counted_to, start + 1)
            counted_to = start + 1
            end = data.index(b"\n", match.end())
            out.append((block.first + boundaries, data[start:end]))
            pos = end + 1
            match = search(data, pos)
        boundaries += data.count(_BOUNDARY, counted_to)
        return out if boundaries == block.count - 1 else None


def _string_value(key: str, values: bytes) -> bytes:
    """``"key": "<one of values>"``, with the blanks JSON allows around the colon."""
    return b'"' + key.encode() + b'"' + _JSON_SPACE + b":" + _JSON_SPACE + b'"(?:' + values + b')"'


def glob_to_bytes_pattern(glob: str) -> bytes:
    """A pattern for JSON string contents that matches at least what ``glob`` matches.

    ``?`` is any one character, as in ``fnmatch``, and a ``[...]`` set is widened to
    any one character. With stars, only the parts before the first and after the
    last are kept, around one run of any characters: more lines may be found, never
    fewer, and the pattern backtracks at most the last part's length per character.
    """
    pieces = _split_stars(glob)
    if len(pieces) == 1:
        return _piece_pattern(pieces[0])
    return _piece_pattern(pieces[0]) + _CHAR + b"*" + _piece_pattern(pieces[-1])


def _split_stars(glob: str) -> list[str]:
    """``glob`` cut at each ``*`` that is not inside a ``[...]`` set."""
    pieces, start, i = [], 0, 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            pieces.append(glob[start:i])
            start = i + 1
        elif c == "[" and (end := _set_end(glob, i)) > 0:
            i = end
        i += 1
    pieces.append(glob[start:])
    return pieces


def _piece_pattern(piece: str) -> bytes:
    """A star-free glob as bytes: one pattern item per character it matches."""
    out: list[bytes] = []
    i = 0
    while i < len(piece):
        c = piece[i]
        if c == "?":
            out.append(_CHAR)
        elif c == "[" and (end := _set_end(piece, i)) > 0:
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
