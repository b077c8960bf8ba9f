"""The rate limit on repeated warnings, with a fake clock: exact windows, exact counts."""

from __future__ import annotations

import logging
from typing import Any

from shipper.ops.log_limit import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str,
    *args: Any,
    level: int = logging.WARNING,
    name: str = "shipper.routing.intake",
    channel: str | None = None,
) -> logging.LogRecord:
    r = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    if channel is not None:
        r.channel = channel
    return r


class Harness:
    """A filter and what got through it, summaries included, in order."""

    def __init__(self, limit: int = 3, window: float = 10.0) -> None:
        self.clock = Clock()
        self.out: list[logging.LogRecord] = []
        self.filter = RepeatFilter(limit=limit, window=window, clock=self.clock, emit=self._emit)

    def _emit(self, r: logging.LogRecord) -> None:
        if self.filter.filter(r):
            self.out.append(r)

    def log(self, r: logging.LogRecord) -> None:
        self._emit(r)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.out]


def test_the_first_records_of_a_window_pass_then_a_summary_follows() -> None:
    h = Harness(limit=3, window=10)
    for n in range(1, 8):
        h.log(record("line %d skipped: %s", n, "not valid JSON"))
    assert h.messages() == [f"line {n} skipped: not valid JSON" for n in (1, 2, 3)]
    h.clock.now += 9.999
    h.filter.flush()
    assert len(h.out) == 3, "the window has not ended"
    h.clock.now += 0.001
    h.filter.flush()
    summary = h.out[-1]
    assert summary.getMessage() == (
        "4 similar message(s) suppressed in the last 10s; "
        "the last one: line 7 skipped: not valid JSON"
    )
    assert summary.levelno == logging.WARNING and summary.name == "shipper.routing.intake"
    assert summary.__dict__["count"] == 4
    h.filter.flush()
    assert len(h.out) == 4, "one summary per window"


def test_the_summary_comes_before_the_next_record_once_the_window_passed() -> None:
    h = Harness(limit=1, window=5)
    h.log(record("retry %d", 1))
    h.log(record("retry %d", 2))
    h.clock.now += 5
    h.log(record("retry %d", 3))
    assert h.messages() == [
        "retry 1",
        "1 similar message(s) suppressed in the last 5s; the last one: retry 2",
        "retry 3",
    ]


def test_any_record_flushes_windows_that_ended() -> None:
    h = Harness(limit=1, window=5)
    h.log(record("a %d", 1))
    h.log(record("a %d", 2))
    h.clock.now += 6
    h.log(record("b", level=logging.INFO))
    assert h.messages() == [
        "a 1",
        "1 similar message(s) suppressed in the last 5s; the last one: a 2",
        "b",
    ]


def test_keys_are_logger_template_and_channel() -> None:
    h = Harness(limit=1)
    h.log(record("attempt %d failed", 1, channel="slack"))
    h.log(record("attempt %d failed", 1, channel="teams"))
    h.log(record("attempt %d failed", 1, channel="slack"))
    h.log(record("attempt %d failed", 1, channel="slack", name="shipper.other"))
    h.log(record("another %d", 1, channel="slack"))
    assert len(h.out) == 4


def test_errors_and_info_are_never_limited() -> None:
    h = Harness(limit=1)
    for level in (logging.ERROR, logging.CRITICAL, logging.INFO, logging.DEBUG):
        for _ in range(5):
            h.log(record("same", level=level))
    assert len(h.out) == 20


def test_closing_flush_summarises_open_windows() -> None:
    h = Harness(limit=1, window=60)
    h.log(record("x %d", 1, channel="a"))
    h.log(record("x %d", 2, channel="a"))
    h.log(record("x %d", 3, channel="a"))
    h.filter.flush()
    assert len(h.out) == 1
    h.filter.flush(closing=True)
    assert h.messages()[-1].startswith("2 similar message(s) suppressed")
    assert h.out[-1].__dict__["channel"] == "a"


def test_a_new_window_starts_after_the_old_one_ends() -> None:
    h = Harness(limit=2, window=10)
    for _ in range(3):
        h.log(record("same"))
    h.clock.now += 10
    for _ in range(3):
        h.log(record("same"))
    assert h.messages().count("same") == 4
