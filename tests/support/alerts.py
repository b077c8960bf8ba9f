"""The one ``Alert`` factory the tests share.

Each test file states only how its alerts differ from the default (a high
``user.lock`` on line ``n`` whose raw event is ``{"action": ..., "n": n}``),
so the shape of an alert is written down once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipper.config.severity import Severity
from shipper.routing.event import Alert


def make_alert(
    n: int = 1,
    action: str = "user.lock",
    *,
    raw: Mapping[str, Any] | None = None,
    severity: Severity = Severity.HIGH,
    actor: str | None = None,
    status: str | None = None,
    timestamp: str | None = None,
    facts: tuple[tuple[str, str], ...] = (),
    **extra: Any,
) -> Alert:
    """An alert from line ``n``; ``extra`` adds fields to the default raw event."""
    return Alert(
        line=n,
        raw=raw if raw is not None else {"action": action, "n": n, **extra},
        action=action,
        severity=severity,
        actor=actor,
        status=status,
        timestamp=timestamp,
        facts=facts,
    )
