"""Reading a ``Retry-After`` header: delay-seconds or an HTTP-date -> seconds to wait.

Pure: the caller passes the current time.
"""

from __future__ import annotations

import math
import re
from datetime import UTC
from email.utils import parsedate_to_datetime

# RFC 9110 delay-seconds is a bare integer; decimals are accepted because some
# proxies send them and rounding them away would retry early.
_SECONDS = re.compile(r"[+-]?\d+(?:\.\d+)?")


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
