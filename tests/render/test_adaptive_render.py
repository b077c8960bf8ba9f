"""Adaptive Cards as Microsoft's own renderer draws them, at phone and desktop width.

Every golden card and a set of hostile ones (long values, bidirectional
overrides, zero width characters, markup) are rendered with the
``adaptivecards`` package in headless Chromium (``render.py``). For each at
360 px and 800 px: nothing is wider than the card, every shown item reads as
typed (invisible characters as their ``<U+XXXX>`` marker), and event text
makes no link, image, heading, list, code or emphasis. Skipped, with the
reason, where chromium or the npm packages are missing (``.ci/run`` installs
both).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks.escape import REVEALED, one_line
from shipper.sinks.teams_cards import SEVERITY_EMOJI, render_adaptivecard
from tests.render.render import WIDTHS, missing, render
from tests.unit.sinks.format_samples import GOLDEN, batch_alerts, critical_alert, login_alert

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"render check: {missing()}")

CHANNEL = ChannelConfig(
    name="infra", kind="teams", url=None, label="Infra alerts", teams_format="adaptivecard"
)
# Comfortably under VALUE_MAX, so these are shown whole and compared whole.
SHOWN_WHOLE = 400
HIDDEN = {
    code for low, high, _ in REVEALED for code in range(low, high + 1) if code not in (0x9, 0xA)
}


def alert(line: int, action: str, actor: str, facts: tuple[tuple[str, str], ...]) -> Alert:
    return Alert(
        line=line,
        raw={},
        action=action,
        severity=Severity.HIGH,
        actor=actor,
        status="denied",
        timestamp="2024-05-01T09:31:02Z",
        facts=facts,
    )


HOSTILE: dict[str, list[Alert]] = {
    "long-value": [alert(1, "file.upload", "eve", (("blob", "A" * 5000), ("after", "kept")))],
    "long-runs": [
        alert(
            2,
            "x" * 140,
            "y" * 300,
            (("k" * 120, "v" * 300), ("sha256", "0123456789abcdef" * 4), ("url", "h/" * 150)),
        )
    ],
    "bidi": [
        alert(
            3,
            "file.download",
            "bob\u202e(admin)",
            (("file", "invoice\u202efdp.exe"), ("isolate", "a\u2066b\u2069c\u200e\u200f\u061c")),
        )
    ],
    "zero-width": [
        alert(
            4,
            "login\u200b.complete",
            "pay\u200bpal.com",
            (
                ("host", "admin\u2060\ufeff\u200c\u200d"),
                ("run", "a" + "\u200b" * 2000 + "b"),
                ("fillers", "\u3164\u115f\u2800\u00ad|"),
                ("emoji", "👩‍💻 ❤️‍🔥 🏴󠁧󠁢󠁳󠁣󠁴󠁿 ℹ️"),
                ("tags", "\U000e0041\U000e0042 a\ufe0f\ufe0f"),
                ("controls", "a\x1b[31mred\x9b0m\x00"),
                ("zalgo", "Z" + "\u0301\u0302\u0303\u0304" * 20 + "algo"),
            ),
        )
    ],
    "markup": [
        alert(
            5,
            "[click](https://evil)",
            "<at>everyone</at>",
            (
                ("link", "[x](https://evil) ![i](http://t/p.png)"),
                ("html", "<img src=x onerror=alert(1)> <b>bold</b> &lt;i&gt;"),
                ("md", "**bold** _it_ ~~s~~ `code` # not a heading"),
                ("list", "1. one"),
                ("dash", "- item"),
                ("quote", "> quoted"),
                ("breaks", "line one\nline two\r\n# forged: fact"),
            ),
        ),
        alert(6, "second", "x", (("ok", "ok"),)),
    ],
}


def expected(alerts: list[Alert]) -> list[str]:
    """What a person must read on the card for each alert: title and "name: value" items."""
    out: list[str] = []
    for item in alerts:
        out.append(f"{SEVERITY_EMOJI[item.severity]} {one_line(item.action)}"[:SHOWN_WHOLE])
        labelled = [("Severity", item.severity.label)]
        labelled += [
            (label, value)
            for label, value in (
                ("Actor", item.actor),
                ("Status", item.status),
                ("Time", item.timestamp),
            )
            if value is not None
        ]
        for name, value in [*labelled, *item.facts]:
            # A value cut for length must still show its head, up to the marker.
            out.append(f"{one_line(name)}: {one_line(value)}"[:SHOWN_WHOLE])
    return out


def content(payload: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = payload["attachments"][0]["content"]
    return card


def golden_cases() -> list[dict[str, Any]]:
    samples = {
        "login": [login_alert()],
        "critical": [critical_alert()],
        "batch": batch_alerts(),
    }
    cases = []
    for name, alerts in samples.items():
        document = json.loads((GOLDEN / f"teams_adaptivecard_{name}.json").read_text("utf-8"))
        cases.append(
            {
                "name": f"golden-{name}",
                "card": content(document["payload"]),
                "expected": expected(alerts),
            }
        )
    return cases


def hostile_cases() -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "card": content(render_adaptivecard(CHANNEL, alerts).payload),
            "expected": expected(alerts),
        }
        for name, alerts in HOSTILE.items()
    ]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], dict[str, Any]]:
    results = render([*golden_cases(), *hostile_cases()], tmp_path_factory.mktemp("render"))
    return {(result["name"], result["width"]): result for result in results}


NAMES = [f"golden-{name}" for name in ("login", "critical", "batch")] + list(HOSTILE)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_wider_than_the_card(
    rendered: dict[tuple[str, int], dict[str, Any]], name: str, width: int
) -> None:
    result = rendered[(name, width)]
    assert result["cardWidth"] <= width
    assert result["contentWidth"] <= result["cardWidth"], result["overflows"]
    assert result["overflowCount"] == 0, result["overflows"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", NAMES)
def test_text_shows_as_typed(
    rendered: dict[tuple[str, int], dict[str, Any]], name: str, width: int
) -> None:
    result = rendered[(name, width)]
    assert result["missing"] == [], result["text"][:2000]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", NAMES)
def test_event_text_makes_no_markup(
    rendered: dict[tuple[str, int], dict[str, Any]], name: str, width: int
) -> None:
    result = rendered[(name, width)]
    assert result["markup"] == []
    # The only bold is each fact's own label.
    assert all(text.endswith(":") for text in result["bold"]), result["bold"]


@pytest.mark.parametrize("name", NAMES)
def test_no_hidden_character_reaches_the_screen(
    rendered: dict[tuple[str, int], dict[str, Any]], name: str
) -> None:
    text = rendered[(name, WIDTHS[0])]["text"]
    shown = {ord(char) for char in text} & HIDDEN
    # Kept on purpose: the joiners inside emoji, one presentation selector after a
    # character, and the tag letters of a subdivision flag.
    assert shown <= {0x200D, 0xFE0F} | set(range(0xE0020, 0xE0080)), sorted(map(hex, shown))


def test_the_check_sees_a_factset_overflow(tmp_path: Path) -> None:
    """The old layout (a FactSet) with one long token: the check must catch it."""
    card = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "FactSet",
                "facts": [
                    {"title": "blob", "value": "A" * 1000},
                    {"title": "ip", "value": "10.0.0.1"},
                ],
            }
        ],
    }
    [narrow, wide] = render([{"name": "factset", "card": card, "expected": []}], tmp_path)
    for result in (narrow, wide):
        assert result["contentWidth"] > 5 * result["cardWidth"]
        assert result["overflowCount"] > 0
