"""Flood control's state as saved in the state directory: JSON, read back with distrust.

Pure. ``state_json`` writes a ``flood.FloodState`` (open windows, summaries owed
and the pending run); ``load_state`` reads it back into one, checking every
value's type and re-applying the bounds (group and actor lengths, how many
groups and actors), since the file may have been damaged or edited. Anything
it cannot trust raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import orjson

from shipper.delivery.flood import (
    ACTOR_MAX_CHARS,
    FloodState,
    GroupWindow,
    Pending,
)
from shipper.delivery.flood_groups import GROUP_MAX_CHARS

STATE_VERSION = 1


def state_json(state: FloodState) -> bytes:
    """``state`` as saved."""
    pending = state.pending
    return orjson.dumps(
        {
            "version": STATE_VERSION,
            "windows": [_window_json(w) for w in state.windows.values()],
            "owed": [_window_json(w) for w in state.owed.values()],
            "pending": None
            if pending is None
            else {"position": list(pending.position), "count": pending.count},
        }
    )


def load_state(state: FloodState, data: bytes) -> None:
    """Take into ``state`` what ``state_json`` saved; ``ValueError`` if it is not that."""
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise ValueError("not a flood-control state of this version")
    windows = [_window_from(w) for w in _list(doc.get("windows"))]
    owed = [_window_from(w) for w in _list(doc.get("owed"))]
    pending = doc.get("pending")
    if pending is not None:
        position: Any = _dict(pending).get("position")
        count: Any = _dict(pending).get("count")
        if not (
            isinstance(position, list)
            and len(position) == 2
            and all(_is_int(p) for p in position)
            and _is_int(count)
        ):
            raise ValueError("pending is not a position and a count")
        state.pending = Pending((position[0], position[1]), count)
    state.restore(windows, owed)


def _window_json(w: GroupWindow) -> dict[str, Any]:
    return {
        "group": w.group,
        "start": w.start,
        "end": w.end,
        "full": w.full,
        "counted": w.counted,
        "first": w.first,
        "last": w.last,
        "severities": w.severities,
        "actors": w.actors,
        "other_actors": w.other_actors,
    }


def _window_from(data: Any) -> GroupWindow:
    d = _dict(data)
    group = d.get("group")
    times: list[Any] = [d.get(k) for k in ("start", "end", "first", "last")]
    counts: list[Any] = [d.get(k) for k in ("full", "counted", "other_actors")]
    severities, actors = _dict(d.get("severities")), _dict(d.get("actors"))
    if (
        not isinstance(group, str)
        or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times)
        or not all(_is_int(c) and c >= 0 for c in counts)
        or not all(_is_int(n) and n >= 0 for n in [*severities.values(), *actors.values()])
    ):
        raise ValueError("a window is damaged")
    start, end, first, last = (float(t) for t in times)
    window = GroupWindow(group[:GROUP_MAX_CHARS], start, end, counts[0], counts[1], first, last)
    window.severities = {str(k)[:32]: v for k, v in list(severities.items())[:16]}
    window.other_actors = counts[2]
    for actor, n in actors.items():
        window._add_actor(str(actor)[:ACTOR_MAX_CHARS], n)
    return window


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected an object")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
