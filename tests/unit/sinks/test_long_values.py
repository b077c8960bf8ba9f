"""Long values in every chat renderer: cut with a marker, and never in a table column.

A table (Slack's two-column fields, a MessageCard's facts, an Adaptive Card
FactSet) grows to its longest unbreakable run; so a run longer than
``TABLE_RUN_MAX`` is shown as a line of text, which wraps, and a value longer
than a service's limit is cut with a visible "… (N more chars)". How Microsoft's
renderer draws the Adaptive Card is measured by tests/render.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks.escape import TABLE_RUN_MAX, fits_table
from shipper.sinks.slack_blocks import render_slack
from shipper.sinks.teams_cards import render_adaptivecard, render_messagecard
from tests.unit.sinks.format_samples import strings
from tests.unit.sinks.test_format_slack import check_slack

SLACK = ChannelConfig(name="sec", kind="slack", url=None, label="#sec")
CLASSIC = ChannelConfig(name="o", kind="teams", url=None, label="Ops", teams_format="messagecard")
FLOWS = ChannelConfig(name="o", kind="teams", url=None, label="Ops", teams_format="adaptivecard")
CUT = re.compile(r"(A+)… \((\d+) more chars\)")


def alert(actor: str, facts: tuple[tuple[str, str], ...]) -> Alert:
    return Alert(
        line=9,
        raw={},
        action="file.upload",
        severity=Severity.HIGH,
        actor=actor,
        status="ok",
        timestamp="2024-05-01T09:31:02Z",
        facts=facts,
    )


def table_cells(renderer: str, payload: dict[str, Any]) -> list[str]:
    """The texts a renderer puts in a table column."""
    if renderer == "slack":
        return [f["text"] for b in payload["blocks"] for f in b.get("fields", [])]
    if renderer == "messagecard":
        return [t for s in payload["sections"] for f in s["facts"] for t in f.values()]
    body = payload["attachments"][0]["content"]["body"]
    return [t for b in body if b["type"] == "FactSet" for f in b["facts"] for t in f.values()]


def render(renderer: str, alerts: list[Alert]) -> dict[str, Any]:
    channel = {"slack": SLACK, "messagecard": CLASSIC, "adaptivecard": FLOWS}[renderer]
    build = {
        "slack": render_slack,
        "messagecard": render_messagecard,
        "adaptivecard": render_adaptivecard,
    }[renderer]
    payload: dict[str, Any] = build(channel, alerts).payload
    if renderer == "slack":
        check_slack(payload)
    return payload


RENDERERS = ["slack", "messagecard", "adaptivecard"]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_5000_char_value_is_cut_with_a_marker_and_no_table_holds_it(renderer: str) -> None:
    payload = render(renderer, [alert("eve", (("blob", "A" * 5000), ("after", "kept")))])
    texts = list(strings(payload))
    [shown] = [t for t in texts if "AAAA" in t]
    cut = CUT.search(shown)
    assert cut is not None, shown[-40:]
    # The head shown plus the count left out is the whole value.
    assert len(cut.group(1)) + int(cut.group(2)) == 5000
    assert any("after" in t and "kept" in t for t in texts)
    assert all(fits_table(cell) for cell in table_cells(renderer, payload))


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_long_actor_leaves_the_table_in_order(renderer: str) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9" * 3
    payload = render(renderer, [alert(token, (("ip", "10.0.0.1"),))])
    cells = table_cells(renderer, payload)
    assert not any(token in cell for cell in cells)
    joined = "\n".join(strings(payload))
    # Shown whole, and the items after it still follow it.
    assert token in joined
    assert joined.index(token) < joined.index("2024-05-01T09:31:02Z") < joined.index("10.0.0.1")


def test_short_values_stay_in_the_tables() -> None:
    slack = render("slack", [alert("alice@example.com", (("ip", "10.0.0.1"),))])
    assert len(table_cells("slack", slack)) == 4
    card = render("messagecard", [alert("alice@example.com", (("ip", "10.0.0.1"),))])
    assert "text" not in card["sections"][0]
    assert len(card["sections"][0]["facts"]) == 5


def test_adaptive_cards_use_no_factset_and_every_text_wraps() -> None:
    payload = render("adaptivecard", [alert("x" * 400, (("k" * 80, "v" * 900),))])
    body = payload["attachments"][0]["content"]["body"]
    assert {block["type"] for block in body} == {"TextBlock"}
    assert all(block["wrap"] is True for block in body)


def test_fits_table() -> None:
    assert fits_table("a" * TABLE_RUN_MAX, "short", "")
    assert fits_table(" ".join(["a" * TABLE_RUN_MAX] * 20))
    assert not fits_table("ok", "a" * (TABLE_RUN_MAX + 1))


RUNS = st.text(alphabet=st.sampled_from("ab-_./ é\u200b"), min_size=0, max_size=200)


@settings(max_examples=100, deadline=None)
@given(actor=RUNS, status=RUNS, key=RUNS, value=RUNS)
def test_no_table_cell_holds_a_long_run(actor: str, status: str, key: str, value: str) -> None:
    item = Alert(9, {}, "a", Severity.LOW, actor, status, None, ((key, value),))
    for renderer in RENDERERS:
        payload = render(renderer, [item])
        for cell in table_cells(renderer, payload):
            # A Slack field is "*Label*\nvalue"; its label is short.
            assert fits_table(cell), (renderer, cell)
