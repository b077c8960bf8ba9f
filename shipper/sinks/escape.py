"""Making event text safe and short enough for Slack and Teams.

Pure string helpers shared by the payload builders: escape text taken from
events so it can only ever be shown, never act as markup (a mention, a link,
an image, a heading), fold it onto one line so a value cannot forge extra
fact lines, and cut it to a service's length limit with a visible marker.
Cutting works on already escaped text and never splits an entity such as
``&amp;`` or a backslash escape.
"""

from __future__ import annotations

import re
from functools import lru_cache

ELLIPSIS = "…"
# Audit events repeat their actions, actors, statuses and context keys endlessly:
# escaping each distinct string once is most of the cost of building a message.
_ESCAPE_CACHE = 2048

# Any line break Python knows (\n, \r, \u2028, ...) and other control characters:
# a value spanning lines could otherwise pose as further "key: value" facts.
_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f]")

# Slack: with ``verbatim: true`` blocks and no ``link_names`` the plain words
# @channel/@here/@everyone are not turned into mentions (reference 1.6). The
# fallback ``text`` is not a Block Kit text object, so as a second guard a WORD
# JOINER (U+2060, invisible) goes after the "@": the word no longer parses as a
# special mention, yet it still reads the same to a person.
_SLACK_BARE_MENTION = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_WORD_JOINER = "\u2060"

# Teams renders HTML and Markdown in MessageCards and Markdown in Adaptive Cards
# (reference 2.7), and whether it honours backslash escapes is unconfirmed. A
# backslash before each of these characters works either way: an escaping
# renderer shows the character, a literal one shows "\[" but still sees no
# "[label](url)", "![img](url)" or "**bold**", because the backslash breaks the
# character pairs those need ("](", "![", "**"). "#", "-", "+" and "1. " only
# start a heading or list at the beginning of a line, so they are escaped only
# there; that keeps dates, addresses, channel names and action names legible.
_TEAMS_SPECIAL = re.compile(r"([\\`*_\[\]()~])")
_TEAMS_LINE_START = re.compile(r"^(\s*)(?:([-+#])|(\d+)\.(?=\s|$))")
_HTML = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def one_line(text: str) -> str:
    """Fold line breaks into a visible " ↵ " and drop other control characters."""
    return _CONTROLS.sub("", _BREAKS.sub(" ↵ ", text))


def escape_html(text: str) -> str:
    """Replace ``&`` first (so nothing is escaped twice), then ``<`` and ``>``."""
    for raw, entity in _HTML:
        text = text.replace(raw, entity)
    return text


@lru_cache(maxsize=_ESCAPE_CACHE)
def escape_slack(text: str) -> str:
    """Event text -> Slack text that shows as typed and can mention or link nothing.

    Slack decodes only ``&amp;``, ``&lt;`` and ``&gt;`` (reference 1.6), and every
    control sequence (``<!channel>``, ``<@U…>``, ``<#C…>``, ``<url|label>``) starts
    with ``<``, so escaping these three neutralises all of them. Formatting
    characters (``*_~```) are left alone: at worst they restyle the value itself.
    """
    return _SLACK_BARE_MENTION.sub("@" + _WORD_JOINER, escape_html(one_line(text)))


@lru_cache(maxsize=_ESCAPE_CACHE)
def escape_teams(text: str) -> str:
    """Event text -> Teams text that renders as inert characters (one line)."""
    text = _TEAMS_SPECIAL.sub(r"\\\1", one_line(text))
    text = _TEAMS_LINE_START.sub(_escape_line_start, text)
    return escape_html(text)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker, number = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\."


def utf16_len(text: str) -> int:
    """Length as Slack counts characters (UTF-16 code units, never fewer than ``len``)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int) -> str:
    """Cut escaped ``text`` to at most ``limit`` UTF-16 units, ending with a marker.

    The marker says how much was left out, so a reader knows the value is
    incomplete. A cut never ends inside an entity (``&amp;``) or right after an
    escaping backslash, which would change how the rest renders.
    """
    # A character is at most two UTF-16 units: most values need no counting at all.
    if len(text) * 2 <= limit or utf16_len(text) <= limit:
        return text
    # Reserve room for the longest marker this text could need.
    widest = f"{ELLIPSIS} ({len(text)} more chars)"
    if utf16_len(widest) * 2 > limit:
        return _head(text, limit - 1) + ELLIPSIS
    head = _head(text, limit - utf16_len(widest))
    return f"{head}{ELLIPSIS} ({len(text) - len(head)} more chars)"


def _head(text: str, units: int) -> str:
    out: list[str] = []
    used = 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > units:
            break
        out.append(char)
        used += size
    head = "".join(out)
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    trailing = len(head) - len(head.rstrip("\\"))
    if trailing % 2:
        head = head[:-1]
    return head
