"""Sample alerts and golden-file helpers shared by the payload builder tests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shipper.config.severity import Severity
from shipper.routing.event import Alert

GOLDEN = Path(__file__).parent / "golden"


def login_alert() -> Alert:
    raw = {"action": "login.complete", "severity": "info", "user": "alice@example.com"}
    return Alert(
        line=7,
        raw=raw,
        action="login.complete",
        severity=Severity.INFO,
        actor="alice@example.com",
        status="success",
        timestamp="2024-05-01T09:30:00Z",
        facts=(("ip", "203.0.113.7"), ("method", "password+totp")),
    )


def critical_alert() -> Alert:
    raw = {
        "action": "user.update_roles",
        "severity": "fatal",
        "api_token": "tok_42",
        "context": {"target": {"user": "bob", "roles": ["admin"]}, "reason": "break-glass"},
    }
    return Alert(
        line=12,
        raw=raw,
        action="user.update_roles",
        severity=Severity.CRITICAL,
        actor="tok_42",
        status="applied",
        timestamp="2024-05-01T09:31:02Z",
        facts=(("target.user", "bob"), ("target.roles", '["admin"]'), ("reason", "break-glass")),
    )


def batch_alerts() -> list[Alert]:
    failed = Alert(
        line=13,
        raw={"action": "login.password_failed"},
        action="login.password_failed",
        severity=Severity.MEDIUM,
        actor="mallory",
        status=None,
        timestamp=None,
        facts=(("ip", "198.51.100.9"),),
    )
    return [login_alert(), critical_alert(), failed]


def hostile_alert(text: str) -> Alert:
    """An alert whose every shown field is ``text``: for escaping tests."""
    return Alert(
        line=1,
        raw={},
        action=text,
        severity=Severity.HIGH,
        actor=text,
        status=text,
        timestamp=text,
        facts=((text, text),),
    )


def assert_golden(name: str, rendered: Any) -> None:
    """Compare with ``golden/NAME.json``; ``SHIPPER_UPDATE_GOLDEN=1`` rewrites it."""
    path = GOLDEN / f"{name}.json"
    document = {"count": rendered.count, "payload": rendered.payload}
    if os.environ.get("SHIPPER_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert path.exists(), f"{path} is missing; run with SHIPPER_UPDATE_GOLDEN=1 and review it"
    assert json.loads(path.read_text("utf-8")) == json.loads(json.dumps(document))


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
