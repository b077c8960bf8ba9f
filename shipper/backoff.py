"""The delay policy between delivery attempts: full-jitter exponential backoff and Retry-After.

Pure: no clock, no randomness of its own. The caller passes the current time
and a ``rand`` returning floats in [0, 1), so every delay is reproducible in
tests. Full jitter is the AWS "Exponential Backoff and Jitter" policy: it
spreads retries from many senders the most for the least total work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime

# RFC 9110 delay-seconds is a bare integer; decimals are accepted because some
# proxies send them and rounding them away would retry early.
_SECONDS = re.compile(r"[+-]?\d+(?:\.\d+)?")


def full_jitter(attempt: int, initial: float, cap: float, rand: Callable[[], float]) -> float:
    """Delay before retry ``attempt`` (0 first): uniform(0, min(cap, initial * 2**attempt))."""
    # Clamp the exponent so a long outage cannot overflow the float.
    ceiling = min(cap, initial * 2.0 ** min(max(attempt, 0), 64))
    return max(0.0, ceiling * rand())


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, given the unix time ``now``.

    Accepts delay-seconds (``"30"``, ``"1.5"``) or an HTTP-date; a date in the
    past, or a negative number, means "now" (0). ``None`` when the header is
    absent or unreadable, so the caller falls back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        seconds = float(text)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # HTTP dates are always GMT; email.utils returns a naive datetime for "-0000".
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
