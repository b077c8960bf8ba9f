"""Full-jitter delays and Retry-After parsing (pure; no clock, no randomness of its own)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.delivery.backoff import full_jitter
from shipper.sinks.retry_after import parse_retry_after

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.5, 0.5),  # uniform(0, 1 * 2**0)
        (1, 0.5, 1.0),  # uniform(0, 2)
        (3, 0.25, 2.0),  # uniform(0, 8)
        (5, 0.5, 16.0),  # uniform(0, 32)
        (6, 0.5, 30.0),  # 64 is capped at 60
        (40, 0.5, 30.0),  # stays capped
        (0, 0.0, 0.0),
    ],
)
def test_full_jitter_exact_values(attempt: int, rand: float, expected: float) -> None:
    assert full_jitter(attempt, 1.0, 60.0, lambda: rand) == pytest.approx(expected)


def test_full_jitter_huge_attempt_does_not_overflow() -> None:
    assert full_jitter(10_000, 1.0, 60.0, lambda: 0.999) == pytest.approx(59.94)


@given(
    attempt=st.integers(min_value=0, max_value=200),
    initial=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.001, max_value=3600),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_full_jitter_bounds(attempt: int, initial: float, cap: float, rand: float) -> None:
    delay = full_jitter(attempt, initial, cap, lambda: rand)
    assert 0 <= delay <= min(cap, initial * 2.0**attempt)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 2 ", 2.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        (format_datetime(datetime.fromtimestamp(NOW + 120, UTC), usegmt=True), 120.0),
        ("Tue, 14 Nov 2023 22:15:20 GMT", 120.0),
        (format_datetime(datetime.fromtimestamp(NOW - 60, UTC), usegmt=True), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("30s", None),
        ("Tue, 99 Nov 2023 nonsense", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected
