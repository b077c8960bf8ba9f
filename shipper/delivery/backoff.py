"""The delay policy between delivery attempts: full-jitter exponential backoff and Retry-After.

Pure: no clock, no randomness of its own. The caller passes the current time
and a ``rand`` returning floats in [0, 1), so every delay is reproducible in
tests. Full jitter is the AWS "Exponential Backoff and Jitter" policy: it
spreads retries from many senders the most for the least total work.
"""

from __future__ import annotations

from collections.abc import Callable


def full_jitter(attempt: int, initial: float, cap: float, rand: Callable[[], float]) -> float:
    """Delay before retry ``attempt`` (0 first): uniform(0, min(cap, initial * 2**attempt))."""
    # Clamp the exponent so a long outage cannot overflow the float.
    ceiling = min(cap, initial * 2.0 ** min(max(attempt, 0), 64))
    return max(0.0, ceiling * rand())
