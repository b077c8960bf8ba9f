"""Invisible characters from events, through every chat renderer.

Each class of ``escape.REVEALED`` (bidirectional controls, zero width
characters, other format characters, C0/C1 controls, blank fillers, stray
variation selectors and tags) must reach Slack (blocks and fallback), the
MessageCard and the Adaptive Card only as its visible ``<U+XXXX>`` marker,
never as itself; line breaks only as " ↵ "; emoji sequences stay whole.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.config.model import ChannelConfig
from shipper.routing.event import Alert
from shipper.sinks.base import Rendered
from shipper.sinks.escape import REVEALED, escape_slack, escape_teams, one_line, reveal
from shipper.sinks.slack_blocks import render_slack
from shipper.sinks.teams_cards import render_adaptivecard, render_messagecard
from tests.unit.sinks.format_samples import hostile_alert, strings
from tests.unit.sinks.test_format_slack import check_slack

SLACK = ChannelConfig(name="sec", kind="slack", url=None, label="#sec")
CLASSIC = ChannelConfig(
    name="ops", kind="teams", url=None, label="Ops & Sec", teams_format="messagecard"
)
FLOWS = ChannelConfig(
    name="ops", kind="teams", url=None, label="Ops & Sec", teams_format="adaptivecard"
)
RENDERERS: dict[str, Callable[[list[Alert]], Rendered]] = {
    "slack": lambda alerts: render_slack(SLACK, alerts),
    "messagecard": lambda alerts: render_messagecard(CLASSIC, alerts),
    "adaptivecard": lambda alerts: render_adaptivecard(FLOWS, alerts),
}
HIDDEN = frozenset(
    code for low, high, _ in REVEALED for code in range(low, high + 1) if code not in (0x9, 0xA)
)
VARIATION_SELECTORS = frozenset([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
EMOJI_RANGES = ((0x2139, 0x2139), (0x2600, 0x27BF), (0x1F000, 0x1FAFF))


def samples() -> Iterator[int]:
    """Every code point of the small classes; both ends and the middle of the big ones."""
    for low, high, _ in REVEALED:
        if high - low < 40:
            yield from range(low, high + 1)
        else:
            yield from (low, (low + high) // 2, high)


def is_emoji(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in EMOJI_RANGES)


def hidden_where_not_allowed(text: str) -> list[str]:
    """The hidden characters of ``text`` outside the sequences kept on purpose.

    Written apart from the renderer's regular expression, as a loop over the
    text, so the two can disagree.
    """
    bad = []
    for index, char in enumerate(text):
        code = ord(char)
        if code not in HIDDEN:
            continue
        before = text[index - 1] if index else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        if code == 0x200D:
            base = text[index - 2] if before == "\ufe0f" and index >= 2 else before
            if base and is_emoji(base) and after and is_emoji(after):
                continue
        after_visible = bool(before) and ord(before) not in HIDDEN and before not in BREAKS
        if code in VARIATION_SELECTORS and after_visible:
            continue
        if 0xE0020 <= code <= 0xE007F:
            start = index
            while start and 0xE0020 <= ord(text[start - 1]) <= 0xE007E:
                start -= 1
            if start and text[start - 1] == "\U0001f3f4":
                continue
        if code == 0x2060 and text[max(0, index - 1) : index] == "@":
            continue  # Slack's own guard after "@" in "@channel" (escape_slack)
        bad.append(f"U+{code:04X}")
    return bad


def shown_strings(payload: dict[str, Any]) -> list[str]:
    return list(strings(payload))


# -- each class, through each renderer ----------------------------------------------------


@pytest.mark.parametrize("renderer", list(RENDERERS))
@pytest.mark.parametrize("code", list(samples()), ids=lambda code: f"U+{code:04X}")
def test_each_hidden_character_is_shown_as_its_code(renderer: str, code: int) -> None:
    char = chr(code)
    # A variation selector right after a character is that character's one
    # selector, kept; at the start of a value it has none.
    before = "" if code in VARIATION_SELECTORS else "a"
    rendered = RENDERERS[renderer]([hostile_alert(f"{before}{char}b")])
    payload = rendered.payload
    texts = shown_strings(payload)
    assert not any(char in text for text in texts)
    marker = f"<U+{code:04X}>"
    escaped = f"&lt;U+{code:04X}&gt;"
    # In every Markdown text an entity (Slack and Teams decode it to "<"); the
    # MessageCard summary is plain text, so the marker stands there as typed.
    assert any(f"{before}{escaped}b" in text for text in texts), texts[:4]
    if renderer == "slack":
        check_slack(payload)
        assert f"{before}{escaped}b" in payload["text"]
    if renderer == "messagecard":
        assert f"{before}{marker}b" in payload["summary"]


@pytest.mark.parametrize("renderer", list(RENDERERS))
@pytest.mark.parametrize("brk", [*BREAKS, "\r\n"], ids=lambda b: f"U+{ord(b[0]):04X}")
def test_line_breaks_are_a_visible_arrow(renderer: str, brk: str) -> None:
    payload = RENDERERS[renderer]([hostile_alert(f"one{brk}two")]).payload
    texts = shown_strings(payload)
    assert any("one ↵ two" in text for text in texts)
    assert not any(brk in text.replace("\n\n", "") for text in texts if brk not in "\n")


def test_the_issue_examples() -> None:
    assert reveal("bob\u202e(admin)") == "bob<U+202E>(admin)"
    assert reveal("invoice\u202efdp.exe") == "invoice<U+202E>fdp.exe"
    assert reveal("pay\u200bpal.com") == "pay<U+200B>pal.com"
    assert (
        reveal("a\u2066b\u2069\u200e\u200f\u061c") == "a<U+2066>b<U+2069><U+200E><U+200F><U+061C>"
    )
    assert reveal("admin\ufeff") == "admin<U+FEFF>"


def test_a_run_of_one_character_is_one_marker() -> None:
    assert reveal("a" + "\u200b" * 5000 + "b") == "a<U+200B×5000>b"
    assert reveal("\u200b\u200c\u200b") == "<U+200B><U+200C><U+200B>"


def test_controls_are_shown_not_dropped() -> None:
    # "adm\x00in" is not the account "admin": dropping the NUL would make it look so.
    assert reveal("adm\x00in") == "adm<U+0000>in"
    assert reveal("\x1b[31mred\x9b0m\x7f") == "<U+001B>[31mred<U+009B>0m<U+007F>"
    assert reveal("tab\tkept") == "tab\tkept"


def test_stacked_combining_marks_are_counted_past_three() -> None:
    # Real text carries at most three marks on a letter (Vietnamese: two).
    for text in ("é", "ệ", "e\u0323\u0302", "a\u0300\u0301\u0302b"):
        assert reveal(text) == text
    assert reveal("Z" + "\u0301" * 50 + "algo") == "Z\u0301\u0301\u0301<+47 combining marks>algo"
    assert reveal("a\u0300\u0301\u0302\u0303b") == "a\u0300\u0301\u0302<+1 combining mark>b"
    # Each renderer shows the count, and no more than three marks in a row.
    for renderer in RENDERERS.values():
        payload = renderer([hostile_alert("Z" + "\u0301\u0302" * 40)]).payload
        texts = shown_strings(payload)
        assert any("combining marks" in text for text in texts)
        assert not any(re.search("[\u0300-\u036f]{4}", text) for text in texts)


@pytest.mark.parametrize(
    "text",
    [
        "👩\u200d💻",  # technologist
        "👨\u200d👩\u200d👧\u200d👦",  # family
        "🏳\ufe0f\u200d🌈",  # rainbow flag
        "❤\ufe0f\u200d🔥",  # heart on fire
        "👩🏽\u200d💻",  # skin tone, then joiner
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
        "ℹ\ufe0f ⚠\ufe0f 1\ufe0f\u20e3",  # presentation selectors, keycap
        "葛\U000e0100",  # an ideographic variation sequence
    ],
)
def test_emoji_and_variation_sequences_stay_whole(text: str) -> None:
    assert reveal(text) == text
    for renderer in RENDERERS.values():
        assert any(
            text in shown for shown in shown_strings(renderer([hostile_alert(text)]).payload)
        )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\u200db", "a<U+200D>b"),  # a joiner between letters hides nothing good
        ("👩\u200d\u200d💻", "👩<U+200D×2>💻"),
        ("a\ufe0f\ufe0e", "a\ufe0f<U+FE0E>"),  # a second selector is how bytes get hidden
        ("😀" + "\U000e0100\U000e0101\U000e0102", "😀\U000e0100<U+E0101><U+E0102>"),
        ("\U000e0041\U000e0042", "<U+E0041><U+E0042>"),  # tag letters outside a flag
        ("\ufe0fstart", "<U+FE0F>start"),
        ("\u200b\ufe0f", "<U+200B><U+FE0F>"),
    ],
)
def test_lookalike_sequences_are_not_kept(text: str, shown: str) -> None:
    assert reveal(text) == shown


def test_every_format_and_control_character_is_handled() -> None:
    """The table covers every Cc, Cf, Zl and Zp code point Python's Unicode data knows."""
    kept = {0x9, 0xA}  # tab stays; "\n" is a line break
    for code in range(0x110000):
        category = unicodedata.category(chr(code))
        if category in ("Cc", "Cf", "Zl", "Zp") and code not in kept:
            assert code in HIDDEN or chr(code) in BREAKS, f"U+{code:04X} {category}"


# -- plain-text fields --------------------------------------------------------------------


def test_messagecard_summary_and_title_are_plain_text() -> None:
    alert = hostile_alert("user.update_roles")
    payload = render_messagecard(CLASSIC, [alert]).payload
    assert payload["summary"] == "high: user.update_roles"
    assert payload["title"] == "🚨 high · Ops & Sec"
    # The Markdown parts of the same card are still escaped.
    assert payload["sections"][0]["activityTitle"] == "🚨 user.update\\_roles"
    card = render_adaptivecard(FLOWS, [alert]).payload["attachments"][0]["content"]
    assert card["body"][0]["text"] == "🚨 high · Ops &amp; Sec"


def test_plain_fields_still_show_hidden_characters_and_one_line() -> None:
    payload = render_messagecard(CLASSIC, [hostile_alert("a\u202eb\nc")]).payload
    assert payload["summary"] == "high: a<U+202E>b ↵ c"


# -- properties ---------------------------------------------------------------------------

# Mostly the characters that matter here, with ordinary letters, emoji and markup.
INTERESTING = st.sampled_from(
    [chr(code) for code in samples()]
    + list(BREAKS)
    + ["\u200d", "\ufe0f", "\U000e0100", "\U0001f3f4", "\U000e0067", "\U000e007f", "@"]
    + list("ab <>&*_[]()\\#-1.")
    + ["👩", "💻", "ℹ", "🏽", "\u0301", "\u0302", "\u20d7"]
)
EVENT_TEXT = st.text(alphabet=INTERESTING, max_size=80) | st.text(max_size=80)


@settings(max_examples=300, deadline=None)
@given(text=EVENT_TEXT)
def test_no_renderer_shows_a_hidden_character(text: str) -> None:
    for name, renderer in RENDERERS.items():
        payload = renderer([hostile_alert(text), hostile_alert(text + "x")]).payload
        for shown in shown_strings(payload):
            assert hidden_where_not_allowed(shown) == [], (name, shown)
        if name == "slack":
            check_slack(payload)


@settings(max_examples=300, deadline=None)
@given(text=EVENT_TEXT)
def test_reveal_is_bounded_and_idempotent(text: str) -> None:
    shown = reveal(text)
    assert hidden_where_not_allowed(shown) == []
    # Linear: each character becomes at most one marker or " ↵ " (a run of one
    # character even shares one), so the output is at most 10 times the input.
    assert len(shown) <= 10 * len(text)
    assert not re.search("[\u0300-\u034e\u0350-\u036f]{4}", shown)
    assert reveal(shown) == shown
    assert one_line(text) == shown
    # The escapers add only escapes on top.
    assert hidden_where_not_allowed(escape_slack(text)) == []
    assert hidden_where_not_allowed(escape_teams(text)) == []
