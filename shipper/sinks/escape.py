"""Making event text safe, visible and short enough for Slack and Teams.

Pure string helpers shared by the payload builders: escape text taken from
events so it can only ever be shown, never act as markup (a mention, a link,
an image, a heading); fold it onto one line so a value cannot forge extra
fact lines; show every invisible character that could change how the text
reads (a bidirectional override, a zero width space, a control character)
as a visible ``<U+202E>``; and cut it to a service's length limit with a
visible marker. Cutting works on already escaped text and never splits an
entity such as ``&amp;`` or a backslash escape. Every pass is one compiled
regular expression over the text: linear in its length.
"""

from __future__ import annotations

import re
from functools import lru_cache

ELLIPSIS = "…"
# Audit events repeat their actions, actors, statuses and context keys endlessly:
# escaping each distinct string once is most of the cost of building a message.
_ESCAPE_CACHE = 2048

# Any line break Python knows (\n, \r, \u2028, ...): a value spanning lines could
# otherwise pose as further "key: value" facts, so each becomes a visible " ↵ ".
_BREAK_CHARS = "\n\r\v\f\x1c-\x1e\x85\u2028\u2029"
LINE_BREAK = " ↵ "

# Characters shown as "<U+XXXX>" instead of themselves. Each is invisible (or
# blank) and changes how the text around it reads, or makes two different
# values look the same ("admin\u200b" is not the account "admin"). Removing
# them would hide exactly that difference, so they are made visible; the
# exceptions that keep emoji intact are in _KEEP below. README "Security"
# lists the same table.
REVEALED: tuple[tuple[int, int, str], ...] = (
    (0x0000, 0x0008, "C0 control characters (tab and line breaks excepted)"),
    (0x000E, 0x001B, "C0 control characters"),
    (0x001F, 0x001F, "C0 control character"),
    (0x007F, 0x0084, "DELETE and C1 control characters"),
    (0x0086, 0x009F, "C1 control characters"),
    (0x00AD, 0x00AD, "SOFT HYPHEN (invisible unless a line breaks there)"),
    (0x034F, 0x034F, "COMBINING GRAPHEME JOINER"),
    (0x0600, 0x0605, "Arabic prepended number marks (format)"),
    (0x061C, 0x061C, "ARABIC LETTER MARK (bidirectional)"),
    (0x06DD, 0x06DD, "ARABIC END OF AYAH (format)"),
    (0x070F, 0x070F, "SYRIAC ABBREVIATION MARK (format)"),
    (0x0890, 0x0891, "Arabic pound and piastre marks (format)"),
    (0x08E2, 0x08E2, "ARABIC DISPUTED END OF AYAH (format)"),
    (0x115F, 0x1160, "Hangul choseong and jungseong fillers (blank)"),
    (0x17B4, 0x17B5, "Khmer inherent vowels (invisible)"),
    (0x180B, 0x180F, "Mongolian variation selectors and vowel separator"),
    (0x200B, 0x200D, "ZERO WIDTH SPACE, NON-JOINER, JOINER"),
    (0x200E, 0x200F, "LEFT-TO-RIGHT and RIGHT-TO-LEFT MARK"),
    (0x202A, 0x202E, "bidirectional embeddings and overrides"),
    (0x2060, 0x2065, "WORD JOINER and invisible operators"),
    (0x2066, 0x2069, "bidirectional isolates"),
    (0x206A, 0x206F, "deprecated format characters"),
    (0x2800, 0x2800, "BRAILLE PATTERN BLANK (blank)"),
    (0x3164, 0x3164, "HANGUL FILLER (blank)"),
    (0xFE00, 0xFE0F, "variation selectors 1-16"),
    (0xFEFF, 0xFEFF, "ZERO WIDTH NO-BREAK SPACE (byte order mark)"),
    (0xFFA0, 0xFFA0, "HALFWIDTH HANGUL FILLER (blank)"),
    (0xFFF0, 0xFFFB, "unassigned specials and interlinear annotation"),
    (0x110BD, 0x110BD, "KAITHI NUMBER SIGN (format)"),
    (0x110CD, 0x110CD, "KAITHI NUMBER SIGN ABOVE (format)"),
    (0x13430, 0x1343F, "Egyptian hieroglyph format controls"),
    (0x1BCA0, 0x1BCA3, "shorthand format controls"),
    (0x1D173, 0x1D17A, "musical symbol format controls"),
    (0xE0000, 0xE0FFF, "tag characters, variation selectors 17-256, reserved"),
)


def _char_class(ranges: tuple[tuple[int, int, str], ...]) -> str:
    return "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high, _ in ranges
    )


_HIDDEN = _char_class(REVEALED)
_VS = "\ufe00-\ufe0f\U000e0100-\U000e01ef"
# Emoji (Extended_Pictographic, in broad blocks) and skin tone modifiers: a ZERO
# WIDTH JOINER between two of them only glues emoji into one ("👩‍💻"), it cannot
# hide or reorder letters, so there it stays.
_EMOJI = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa\u231a-\u23ff\u24c2\u25aa-\u25fe"
    "\u2600-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
_KEEP = (
    # A subdivision flag (England, Scotland, Wales): black flag, the tags of its code
    # (gbeng, gbsct, gbwls), cancel tag. Any other tags behind a flag could hide text.
    r"\U0001f3f4\U000e0067\U000e0062(?:\U000e0065\U000e006e\U000e0067"
    r"|\U000e0073\U000e0063\U000e0074|\U000e0077\U000e006c\U000e0073)\U000e007f"
    # Emoji, its presentation selector, a joiner, and the next emoji.
    rf"|[{_EMOJI}]\ufe0f?\u200d(?=[{_EMOJI}])"
    # One variation selector right after a visible character picks that character's
    # glyph (U+2139 U+FE0F is the emoji "information"); more of them in a row are
    # how bytes get hidden in a string.
    rf"|[^{_HIDDEN}{_BREAK_CHARS}][{_VS}]"
)
# Combining marks (accents) from the blocks that hold nothing else. A letter
# carries one or two, three at most in real text; dozens stacked on one letter
# ("Zalgo" text) draw over the lines above and below it. The fourth and later
# marks in a row are shown as a count instead.
_MARKS = "\u0300-\u034e\u0350-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
MARKS_KEPT = 3
# Every branch is bounded, a single class or guarded by a fixed lookbehind, so a
# pass is linear in the text; the runs are possessive ("*+", "++"): no
# backtracking state is kept for each character.
_REVEAL = re.compile(
    rf"(?P<keep>{_KEEP})"
    rf"|(?P<brk>\r\n|[{_BREAK_CHARS}])"
    rf"|(?P<run>(?P<char>[{_HIDDEN}])(?P=char)*+)"
    rf"|(?P<stack>(?<=[{_MARKS}]{{{MARKS_KEPT}}})[{_MARKS}]++)"
)


def _reveal_match(match: re.Match[str]) -> str:
    if match.group("keep") is not None:
        return match.group("keep")
    if match.group("brk") is not None:
        return LINE_BREAK
    stack = match.group("stack")
    if stack is not None:
        return f"<+{len(stack)} combining mark{'s' if len(stack) > 1 else ''}>"
    run = match.group("run")
    code = f"U+{ord(run[0]):04X}"
    # A run of one character is named once with its length: 5,000 zero width
    # spaces read as one marker, not as 40,000 characters of markers.
    return f"<{code}>" if len(run) == 1 else f"<{code}×{len(run)}>"


def reveal(text: str) -> str:
    """Fold line breaks into " ↵ " and show hidden characters as ``<U+XXXX>``.

    The result is plain text on one line in which every character either shows
    as itself or is one of the markers; it is escaped for a service afterwards.
    """
    if text.isascii() and text.isprintable():
        return text
    return _REVEAL.sub(_reveal_match, text)


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
    """Event text on one line, every character visible (see ``reveal``)."""
    return reveal(text)


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


# The longest run without a space that a table cell (a Slack field, a MessageCard
# fact) may hold: about the width of a value column on a 360 px phone. A table
# column grows to its longest unbreakable run, so one long token (a hash, a
# token, a URL) would push every value of the message past the screen's edge;
# a value with a longer run is shown as a line of text instead, which wraps.
TABLE_RUN_MAX = 30


def fits_table(*texts: str) -> bool:
    """Whether no run without a space in ``texts`` is longer than ``TABLE_RUN_MAX``."""
    return all(
        len(text) <= TABLE_RUN_MAX or max(map(len, text.split()), default=0) <= TABLE_RUN_MAX
        for text in texts
    )


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
