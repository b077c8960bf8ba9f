"""Flood control's pure decisions: groups, windows, full versus counted, summaries, bounds,
the saved state, the effective settings and the offline replay of ``route --stats``."""

from __future__ import annotations

import orjson
import pytest

from shipper.config.model import ChannelConfig, DeliveryConfig, Fields
from shipper.config.severity import Severity
from shipper.delivery.flood import (
    ACTOR_MAX_CHARS,
    MAX_ACTORS,
    MAX_GROUPS,
    OTHER_GROUPS,
    FloodState,
    Pending,
)
from shipper.delivery.flood_groups import GROUP_MAX_CHARS, FloodSettings, flood_settings, group_of
from shipper.delivery.flood_json import load_state, state_json
from shipper.delivery.flood_sim import FloodSimulation, event_time
from shipper.routing.event import Alert, Event
from shipper.routing.intake import Routed
from shipper.sinks.base import CHAT_FLOOD_CONTROL, FLOOD_CONTROL_OFF
from tests.support.alerts import make_alert

ON = FloodSettings(limit=3, window=60.0, by=(("action",),))


def handle(state: FloodState, alerts: list[Alert], now: float) -> tuple[int, int]:
    """Feed ``alerts`` as a worker does; how many were posted in full and how many counted."""
    full = counted = 0
    rest = alerts
    while rest:
        is_counted, n = state.plan(rest, now)
        assert n >= 1
        state.record(rest[:n], now, counted=is_counted)
        if is_counted:
            counted += n
        else:
            full += n
        rest = rest[n:]
    return full, counted


def test_the_first_events_of_a_group_are_full_the_rest_counted() -> None:
    state = FloodState(ON)
    alerts = [make_alert(i, "login.failed") for i in range(10)]
    assert state.plan(alerts, 0.0) == (False, 3)
    assert handle(state, alerts, 0.0) == (3, 7)
    # Another action has its own budget, even behind the flood.
    assert state.plan([make_alert(11, "deploy.approve")], 1.0) == (False, 1)


def test_plan_changes_nothing_until_recorded() -> None:
    state = FloodState(ON)
    alerts = [make_alert(i, "a") for i in range(5)]
    assert state.plan(alerts, 0.0) == state.plan(alerts, 0.0) == (False, 3)
    assert not state.windows


def test_the_summary_is_due_at_the_window_end_and_once() -> None:
    state = FloodState(ON)
    handle(state, [make_alert(i, "a", actor=f"u{i % 2}") for i in range(10)], 100.0)
    assert state.due(159.0) is None
    assert state.next_due() == 160.0
    summary = state.due(160.0)
    assert summary is not None
    assert (summary.group, summary.count, summary.window) == ("a", 7, 60.0)
    assert (summary.first, summary.last) == (100.0, 100.0)
    assert summary.severities == (("high", 7),)
    assert dict(summary.actors) == {"u0": 3, "u1": 4}
    state.settle("a")
    assert state.due(1000.0) is None
    # The next window posts its first events in full again.
    assert handle(state, [make_alert(i, "a") for i in range(4)], 200.0) == (3, 1)


def test_a_window_without_counted_events_owes_nothing() -> None:
    state = FloodState(ON)
    handle(state, [make_alert(1, "a")], 0.0)
    assert state.next_due() is None
    assert state.due(1000.0) is None


def test_close_all_summarizes_the_open_windows() -> None:
    state = FloodState(ON)
    handle(state, [make_alert(i, "a") for i in range(5)], 0.0)
    assert state.counting
    state.close_all()
    summary = state.due(1.0)
    assert summary is not None and summary.count == 2
    assert summary.window == 60.0  # the window as configured, not cut short


def test_the_run_clock_going_back_closes_the_window() -> None:
    state = FloodState(ON)
    handle(state, [make_alert(i, "a") for i in range(5)], 1000.0)
    summary = state.due(10.0)
    assert summary is not None and summary.count == 2


def test_owed_summaries_of_one_group_merge_while_they_cannot_be_posted() -> None:
    state = FloodState(ON)
    handle(state, [make_alert(i, "a") for i in range(5)], 0.0)
    state.roll(60.0)
    handle(state, [make_alert(i, "a") for i in range(6)], 60.0)
    state.roll(120.0)
    summary = state.due(120.0)
    assert summary is not None
    assert (summary.count, summary.window, summary.first, summary.last) == (5, 120.0, 0.0, 60.0)


def test_groups_are_bounded_and_no_event_escapes_counting() -> None:
    state = FloodState(ON)
    alerts = [make_alert(i, f"a{i}") for i in range(MAX_GROUPS)]
    alerts += [make_alert(i, f"hostile{i}") for i in range(1000)]
    full, counted = handle(state, alerts, 0.0)
    assert len(state.windows) <= MAX_GROUPS + 1
    assert full == MAX_GROUPS + ON.limit
    assert full + counted == len(alerts)
    state.close_all()
    summary = state.due(0.0)
    assert summary is not None and (summary.group, summary.count) == (OTHER_GROUPS, 997)


def test_group_keys_and_actors_are_cut() -> None:
    state = FloodState(ON)
    long_action = "x" * 100_000
    alerts = [make_alert(i, long_action, actor=f"{i}" + "y" * 10_000) for i in range(100)]
    handle(state, alerts, 0.0)
    (window,) = state.windows.values()
    assert len(window.group) == GROUP_MAX_CHARS
    assert len(window.actors) == MAX_ACTORS
    assert all(len(a) <= ACTOR_MAX_CHARS for a in window.actors)
    assert sum(window.actors.values()) + window.other_actors == window.counted


def test_group_of_reads_named_fields_and_dotted_paths() -> None:
    alert = make_alert(1, "login.failed", raw={"context": {"ip": "10.0.0.1"}, "n": [1]})
    assert group_of(alert, (("action",), ("context", "ip"))) == "login.failed / 10.0.0.1"
    assert group_of(alert, (("missing",),)) == "(none)"
    assert group_of(alert, (("n",),)) == "[1]"


def test_a_forged_timestamp_changes_nothing() -> None:
    state = FloodState(ON)
    alerts = [make_alert(i, "a", timestamp=f"2001-01-01T00:0{i % 10}:00Z") for i in range(10)]
    assert handle(state, alerts, 0.0) == (3, 7)


def test_off_posts_everything() -> None:
    state = FloodState(FloodSettings(0, 60.0, (("action",),)))
    assert state.plan([make_alert(i) for i in range(100)], 0.0) == (False, 100)


def test_state_round_trips_and_refuses_damage() -> None:
    state = FloodState(ON)
    handle(state, [make_alert(i, "a", actor="bob") for i in range(5)], 0.0)
    state.roll(100.0)
    handle(state, [make_alert(i, "b") for i in range(5)], 100.0)
    state.pending = Pending((3, 4096), 2)
    again = FloodState(ON)
    load_state(again, state_json(state))
    assert state_json(again) == state_json(state)
    for bad in (b"[]", b'{"version": 2}', b'{"version": 1, "windows": [1], "owed": []}'):
        with pytest.raises(ValueError):
            load_state(FloodState(ON), bad)
    doc = orjson.loads(state_json(state))
    doc["owed"][0]["counted"] = -1
    with pytest.raises(ValueError):
        load_state(FloodState(ON), orjson.dumps(doc))


def test_settings_come_from_the_channel_else_the_sink() -> None:
    assert flood_settings(DeliveryConfig(), CHAT_FLOOD_CONTROL) == FloodSettings(
        10, 60.0, (("action",),)
    )
    assert not flood_settings(DeliveryConfig(), FLOOD_CONTROL_OFF).is_on
    own = DeliveryConfig(burst_limit=2, burst_window=5.0, burst_by=(("context", "ip"),))
    assert flood_settings(own, FLOOD_CONTROL_OFF) == FloodSettings(2, 5.0, (("context", "ip"),))
    assert flood_settings(DeliveryConfig(burst_window=300.0), CHAT_FLOOD_CONTROL).limit == 10


def test_the_offline_replay_uses_the_events_timestamps() -> None:
    channels = (ChannelConfig("chat", "slack", None), ChannelConfig("hook", "webhook", None))
    sim = FloodSimulation(channels, ("ts",))
    for minute in range(2):
        for second in range(15):
            raw = {"action": "a", "ts": f"2026-01-01T00:{minute:02d}:{second:02d}Z"}
            event = Event(1, raw, "a", Severity.HIGH, True)
            sim.take(Routed(event, Fields(), ("chat", "hook")))
    assert sim.summarized("chat") == 10  # 5 counted in each minute's window
    assert sim.summarized("hook") == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-01-01T00:00:10Z", 1767225610.0),
        ("1767225610", 1767225610.0),
        ("1767225610000", 1767225610.0),
        ("nonsense", 5.0),
        (None, 5.0),
        ("9" * 100, 5.0),
        ("nan", 5.0),
        (1767225610, 1767225610.0),
        (True, 5.0),
        ({"a": 1}, 5.0),
    ],
)
def test_event_time(text: object, seconds: float) -> None:
    assert event_time(text, 5.0) == seconds


def test_severities_of_a_summary_are_counted() -> None:
    state = FloodState(ON)
    alerts = [make_alert(i, "a", severity=Severity.LOW) for i in range(4)]
    alerts += [make_alert(i, "a", severity=Severity.CRITICAL) for i in range(2)]
    handle(state, alerts, 0.0)
    state.close_all()
    summary = state.due(0.0)
    assert summary is not None and summary.severities == (("critical", 2), ("low", 1))
