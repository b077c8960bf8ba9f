"""The severity scale and its aliases."""

from __future__ import annotations

import pytest

from shipper.config.severity import Severity, parse_severity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("debug", Severity.DEBUG),
        ("TRACE", Severity.DEBUG),
        ("info", Severity.INFO),
        ("Notice", Severity.INFO),
        ("informational", Severity.INFO),
        ("low", Severity.LOW),
        ("medium", Severity.MEDIUM),
        ("warn", Severity.MEDIUM),
        ("WARNING", Severity.MEDIUM),
        ("high", Severity.HIGH),
        ("error", Severity.HIGH),
        ("err", Severity.HIGH),
        ("critical", Severity.CRITICAL),
        ("fatal", Severity.CRITICAL),
        ("crit", Severity.CRITICAL),
        ("alert", Severity.CRITICAL),
        ("emerg", Severity.CRITICAL),
        ("emergency", Severity.CRITICAL),
        (" high ", Severity.HIGH),
    ],
)
def test_names_and_aliases(value: str, expected: Severity) -> None:
    assert parse_severity(value) is expected


@pytest.mark.parametrize("value", ["urgent", "", None, 3, ["high"], {"level": "high"}])
def test_unknown_values(value: object) -> None:
    assert parse_severity(value) is None


def test_order() -> None:
    assert Severity.DEBUG < Severity.INFO < Severity.LOW < Severity.MEDIUM < Severity.HIGH
    assert Severity.HIGH < Severity.CRITICAL
