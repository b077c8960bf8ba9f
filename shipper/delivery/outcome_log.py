"""The log line of each outcome a channel's worker settles: delivered, retried, dead-lettered.

One line per outcome, worded for an operator, with the fields a JSON formatter
emits (``channel``, ``status``, ``attempt``, ``delay``, ``reason``). The worker
passes its own logger, so the lines keep its name (``shipper.delivery.worker``).
"""

from __future__ import annotations

import logging

from shipper.sinks.answers import Delivered, GiveUp, Outcome, Retry, format_delay


def log_outcome(
    logger: logging.Logger,
    level: int,
    channel: str,
    outcome: Outcome,
    attempt: int,
    delay: float | None,
    msg: str,
    *args: object,
) -> None:
    """The one log line of an outcome, with fields a JSON formatter can emit."""
    if not logger.isEnabledFor(level):
        return
    extra = {
        "channel": channel,
        "status": outcome.status,
        "attempt": attempt,
        "delay": delay,
        "reason": outcome.reason,
    }
    logger.log(level, msg, *args, extra=extra)


def log_delivered(
    logger: logging.Logger, channel: str, outcome: Delivered, count: int, attempt: int
) -> None:
    # A routine delivery is a debug line: a live log makes dozens a second. One that
    # took retries, or that the service cut or took late, is worth an operator's eye.
    routine = attempt == 1 and not outcome.late and not outcome.cut
    log_outcome(
        logger,
        logging.DEBUG if routine else logging.INFO,
        channel,
        outcome,
        attempt,
        None,
        "channel %s: delivered %d event(s) on attempt %d (status %s)",
        channel,
        count,
        attempt,
        outcome.status,
    )


def log_retry(
    logger: logging.Logger, channel: str, outcome: Retry, attempt: int, delay: float
) -> None:
    log_outcome(
        logger,
        logging.WARNING,
        channel,
        outcome,
        attempt,
        delay,
        "channel %s: attempt %d failed, next try in %s: %s",
        channel,
        attempt,
        format_delay(delay),
        outcome.reason,
    )


def log_dead_lettered(
    logger: logging.Logger, channel: str, outcome: Retry | GiveUp, count: int, attempts: int
) -> None:
    log_outcome(
        logger,
        logging.ERROR,
        channel,
        outcome,
        attempts,
        None,
        "channel %s: dead-lettered %d event(s) after %d attempt(s): %s",
        channel,
        count,
        attempts,
        outcome.reason,
    )


def log_wait_cut(logger: logging.Logger, channel: str, asked: float, cap: float) -> None:
    logger.warning(
        "channel %s: the endpoint asked to wait %s before the next try; "
        "waiting %s instead (retry_after_max)",
        channel,
        format_delay(asked),
        format_delay(cap),
        extra={"channel": channel, "delay": cap},
    )
