"""Messages read as typed, through the real CLI and fake Slack and Teams on 127.0.0.1.

Regression tests for issue 12 (invisible characters, long values, plain-text
fields): an actor with a right-to-left override, a host with a zero width
space, control characters, markup and a 5,000-character value go through
``shipper run`` to a Slack webhook, a classic Teams connector (MessageCard)
and a Workflows URL (Adaptive Card). What each fake receives shows every
hidden character as ``<U+XXXX>``, cuts the long value with a marker, keeps
long runs out of table columns, and leaves the MessageCard's plain-text
summary and title without escapes. The Adaptive Card the fake received is
then drawn by Microsoft's renderer (tests/render) when chromium is here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.sinks.escape import fits_table
from tests.e2e.cli import clean_env, run_async
from tests.e2e.inputs import config_file
from tests.integration.fake_webhook import FakeWebhook, Reply
from tests.render.render import missing, render
from tests.unit.sinks.format_samples import strings
from tests.unit.sinks.test_invisible import hidden_where_not_allowed
from tests.unit.sinks.test_long_values import table_cells

SLACK = "/services/T0E2E/B0E2E/slackSECRETread1"
TEAMS = "/webhookb2/teamsSECRETread2/IncomingWebhook/x"
FLOW = "/workflows/abc/triggers/manual/paths/invoke"
FLOW_QUERY = "?api-version=2016-06-01&sig=flowSECRETread3"
PATHS = {"slack": SLACK, "messagecard": TEAMS, "adaptivecard": FLOW}

EVENTS = [
    {
        "action": "user.update_roles",
        "severity": "critical",
        "user": "bob\u202e(admin)",
        "context": {"host": "pay\u200bpal.com", "file": "invoice\u202efdp.exe"},
    },
    {
        "action": "file.upload",
        "severity": "high",
        "user": "eve\u2066\u2069\ufeff\u00ad",
        "context": {"blob": "A" * 5000, "ansi": "\x1b[31mred\x9b", "after": "kept"},
    },
    {
        "action": "[click](https://evil)",
        "severity": "high",
        "user": "y" * 300,
        "context": {"html": "<img src=x>", "mention": "<!channel> @here"},
    },
]


@pytest.fixture
def fake(fake: FakeWebhook) -> FakeWebhook:
    fake.always(SLACK, Reply(200, "ok"))
    fake.always(TEAMS, Reply(200, "1"))
    fake.always(FLOW, Reply(202, ""))
    return fake


def write_config(tmp_path: Path) -> Path:
    delivery = 'retry_initial = "50ms"\nretry_max = "200ms"\ndrain_timeout = "20s"\ntimeout = "2s"'
    channels = """[channels.chat]
kind = "slack"
url = "${SLACK_URL}"
label = "Ops & Sec"
max_rate = 0
[channels.classic]
kind = "teams"
url = "${TEAMS_URL}"
label = "Ops & Sec"
format = "messagecard"
max_rate = 0
[channels.flows]
kind = "teams"
url = "${FLOW_URL}"
label = "Ops & Sec"
format = "adaptivecard"
max_rate = 0
"""
    return config_file(tmp_path, delivery=delivery, channels=channels)


async def deliver(tmp_path: Path, fake: FakeWebhook) -> dict[str, list[dict[str, Any]]]:
    """Run the CLI on EVENTS to the end of stdin; what each fake endpoint received."""
    env = clean_env(
        {
            "SLACK_URL": fake.to(SLACK),
            "TEAMS_URL": fake.to(TEAMS),
            "FLOW_URL": fake.to(FLOW) + FLOW_QUERY,
        }
    )
    data = b"".join(orjson.dumps(event) + b"\n" for event in EVENTS)
    status, out, err = await run_async(
        "run", "-c", str(write_config(tmp_path)), env=env, stdin=data
    )
    assert status == 0, err.decode()
    assert b"SECRET" not in out + err
    received = {kind: [r.json for r in fake.requests_to(path)] for kind, path in PATHS.items()}
    for kind, bodies in received.items():
        assert bodies, f"nothing reached the fake {kind}"
    return received


def joined(bodies: list[dict[str, Any]]) -> str:
    return "\n".join(text for body in bodies for text in strings(body))


async def test_hidden_characters_long_values_and_plain_fields(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    received = await deliver(tmp_path, fake)
    for kind, bodies in received.items():
        text = joined(bodies)
        # Not one hidden character, in any text of any message.
        for shown in strings(bodies):
            assert hidden_where_not_allowed(shown) == [], (kind, shown[:200])
        # Each shown as its code, escaped for the service's Markdown.
        for marker in ("202E", "200B", "2066", "2069", "FEFF", "00AD", "001B", "009B"):
            assert f"&lt;U+{marker}&gt;" in text, (kind, marker)
        assert "bob&lt;U+202E&gt;" in text and "pay&lt;U+200B&gt;pal.com" in text
        # The 5,000 characters cut with a marker that counts the rest.
        cut = re.search(r"(A+)… \((\d+) more chars\)", text)
        assert cut is not None and len(cut.group(1)) + int(cut.group(2)) == 5000, kind
        assert "kept" in text
        # Nothing of the events made a mention or a link.
        assert "<!channel>" not in text and "<img" not in text
        for body in bodies:
            assert all(fits_table(cell) for cell in table_cells(kind, body)), kind
    # A MessageCard's summary and title are plain text: no escapes a reader would see.
    summaries = [body["summary"] for body in received["messagecard"]]
    titles = [body["title"] for body in received["messagecard"]]
    assert any("critical: user.update_roles" in s for s in summaries), summaries
    assert all("&amp;" not in t and "Ops & Sec" in t for t in titles), titles
    assert not any("\\" in s or "&" in s for s in summaries), summaries


@pytest.mark.skipif(missing() is not None, reason=f"render check: {missing()}")
async def test_the_posted_adaptive_card_fits_phone_and_desktop(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    received = await deliver(tmp_path, fake)
    cases = [
        {
            "name": f"posted-{index}",
            "card": body["attachments"][0]["content"],
            "expected": ["bob<U+202E>(admin)", "pay<U+200B>pal.com", "user.update_roles"][
                : 3 if index == 0 else 0
            ],
        }
        for index, body in enumerate(received["adaptivecard"])
    ]
    (tmp_path / "render").mkdir()
    for result in render(cases, tmp_path / "render"):
        assert result["contentWidth"] <= result["cardWidth"], result["overflows"]
        assert result["overflowCount"] == 0, result["overflows"]
        assert result["missing"] == [], result["text"][:1000]
        assert result["markup"] == []
