"""Datadog's answers: ``202`` is success; errors name themselves and the fix.

Pure. Errors come as ``{"errors": [{"status", "title", "detail"}]}`` (reference 3.5);
what each status means for Datadog, with the fix, is in ``MEANINGS``; the status
decides retry or give up (``answers.read_failure``). A 429 waits for
``Retry-After`` or, without it, ``X-RateLimit-Reset`` (seconds).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from shipper.sinks.answers import Answer, Outcome, delivered, echo, header, read_failure

NAME = "Datadog"

# What Datadog's statuses mean, and the fix (reference 3.5).
MEANINGS: dict[int, str] = {
    400: "Datadog refused the logs as malformed",
    401: "the API key is missing: set api_key",
    403: (
        "the API key is not valid for this site: check api_key (an API key, not an "
        "application key) and that site is your account's site (e.g. datadoghq.eu)"
    ),
    413: "the request is over Datadog's size limit",
}


def read_datadog_answer(answer: Answer, *, now: float, retry_after_max: float) -> Outcome:
    """Datadog's answer: ``202`` (``200`` from the v1 intake or a relay) is success; its
    errors come as ``{"errors": [{"status", "title", "detail"}]}``; a 429 waits for
    ``Retry-After`` or, without it, ``X-RateLimit-Reset`` (seconds)."""
    text = answer.body.strip()
    if answer.status in (200, 202):
        return delivered(NAME, answer.status, text)
    return read_failure(
        NAME,
        answer,
        text,
        now=now,
        retry_after_max=retry_after_max,
        detail=_error_detail(text),
        meaning=MEANINGS.get(answer.status),
        body_after=_reset_after(answer.headers) if answer.status == 429 else None,
    )


def _error_detail(text: str) -> str | None:
    if not text.startswith("{"):
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict | str):
        return None
    first = errors[0]
    if isinstance(first, str):
        return echo(first)
    words = [first.get(k) for k in ("title", "detail")]
    return echo(": ".join(w for w in words if isinstance(w, str))) or None


def _reset_after(headers: Mapping[str, str]) -> float | None:
    value = header(headers, "x-ratelimit-reset")
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
