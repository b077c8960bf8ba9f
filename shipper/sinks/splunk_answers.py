"""What Splunk's HTTP Event Collector answers mean: its ``code``s, ``ackId`` and ack replies.

Pure. HEC answers ``{"text": ..., "code": N}``; the code says more than the
status (reference 2.5): a token problem, an index the token may not write to,
a busy server, or one bad event in a batch, whose position
``invalid-event-number`` gives. HEC takes a batch's events in order and stops
at the first bad one, so the ones before it are in and the ones after it were
never looked at: that event alone is dead-lettered and the rest sent again
(``Partial``). Each refusal names the fix an operator can apply. With indexer
acknowledgement on, a success carries an ``ackId``, and ``/services/collector/ack``
answers ``{"acks": {"<id>": true|false}}``; ``false`` covers "not yet", "failed"
and "unknown" alike, so only ``true`` releases events.
"""

from __future__ import annotations

from typing import Any

import orjson

from shipper.sinks.answers import (
    Answer,
    Delivered,
    GiveUp,
    Outcome,
    Partial,
    Retry,
    echo,
    read_failure,
)

NAME = "Splunk"
_HEC_TOKENS = "Settings > Data inputs > HTTP Event Collector"

# HEC code -> what it means and what to do, in the operator's words.
CODE_MEANINGS: dict[int, str] = {
    1: f"the HEC token is disabled: enable it in {_HEC_TOKENS}",
    2: "no HEC token was sent: set the channel's token",
    3: (
        "the Authorization header was refused: give the bare token in the channel's token "
        '(shipper adds "Splunk ")'
    ),
    4: f"the HEC token is not valid: copy its value again from {_HEC_TOKENS}",
    5: "the request had no events",
    6: "the event is not in a format HEC takes",
    7: (
        "the index is not one this token may write to: add it to the token's allowed "
        f"indexes in {_HEC_TOKENS}, or fix the channel's index"
    ),
    8: "Splunk had an internal error",
    9: "the server is busy",
    10: (
        "the token has indexer acknowledgement on, which needs a channel: set "
        "acknowledgements = true for this channel, or turn acknowledgement off for the token"
    ),
    11: "the data channel is not a GUID",
    12: "the event has no event field",
    13: "the event's event field is blank",
    14: (
        "indexer acknowledgement is off for this token: turn it on for the token in "
        f"{_HEC_TOKENS}, or set acknowledgements = false"
    ),
    15: "the event's indexed fields are malformed",
    16: "query-string authorization is not enabled",
    18: "HEC is unhealthy: its queues are full",
    19: "HEC is unhealthy: its acknowledgement service is unavailable",
    20: "HEC is unhealthy: its queues are full and acknowledgement is unavailable",
    23: "HEC is shutting down",
}
# Codes that are about one event of a batch, which ``invalid-event-number`` points at.
EVENT_CODES = frozenset({6, 12, 13, 15})
# Codes that refuse every event alike: nothing in the batch can get through.
_PERMANENT = frozenset({1, 2, 3, 4, 5, 7, 10, 11, 14, 16})
# HEC's 200s that still took the events, near capacity (reference 2.5, unconfirmed).
_ACCEPTED = frozenset({0, 24, 25})


def hec_body(text: str) -> dict[str, Any] | None:
    """HEC's JSON answer, or ``None`` when the body is not one (a proxy's page)."""
    if not text.startswith("{"):
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_hec_answer(answer: Answer, *, now: float, retry_after_max: float) -> Outcome:
    """What HEC's answer to ``/services/collector/event`` means."""
    text = answer.body.strip()
    body = hec_body(text)
    code = _int(body.get("code")) if body is not None else None
    said = _said(body, code) if body is not None else echo(text)
    if answer.status == 200 and code in _ACCEPTED:
        return Delivered(200, f"{NAME} answered 200 {said}")
    meaning = CODE_MEANINGS.get(code) if code is not None else None
    head = f"{NAME} answered {answer.status} {said}".rstrip()
    bad = _int(body.get("invalid-event-number")) if body is not None else None
    if code in EVENT_CODES and bad is not None and bad >= 0:
        # HEC stopped at that event: the ones before it are in, the ones after unread.
        reason = f"{head}: event {bad} of the request: {meaning}; the rest are sent again"
        return Partial(bad, True, reason, answer.status)
    if code in _PERMANENT or code in EVENT_CODES:
        return GiveUp(f"{head}: {meaning}", answer.status)
    if answer.status == 404:
        # Splunk Cloud answers 404 for a while during maintenance (reference 2.5).
        return Retry(
            None,
            f"{head}: the HEC endpoint was not found: check that url is the HEC base "
            "(e.g. https://splunk:8088); Splunk Cloud also answers 404 during maintenance, "
            "retrying with backoff",
            404,
        )
    outcome = read_failure(
        NAME,
        answer,
        text,
        now=now,
        retry_after_max=retry_after_max,
        detail=said,
        meaning=meaning,
    )
    if isinstance(outcome, Retry) and bad is not None and bad > 0:
        # A busy HEC may say how far it got; those events must not go twice.
        return Partial(bad, False, outcome.reason, answer.status, outcome.after)
    return outcome


def _said(body: dict[str, Any], code: int | None) -> str:
    text = body.get("text")
    words = echo(text) if isinstance(text, str) else ""
    return f"{words} (code {code})" if code is not None else words


def ack_id(answer: Answer) -> int | None:
    """The ``ackId`` of a success, when the token has indexer acknowledgement on."""
    body = hec_body(answer.body.strip())
    return _int(body.get("ackId")) if body is not None else None


def read_ack_answer(
    answer: Answer, ack: int, *, now: float, retry_after_max: float
) -> bool | Outcome:
    """``/services/collector/ack``'s answer: ``True`` indexed, ``False`` not (yet), or what
    the failure means (code 14 is ``Delivered``: the events were taken, but this token
    cannot confirm that they were indexed)."""
    text = answer.body.strip()
    body = hec_body(text)
    if answer.status == 200 and body is not None and isinstance(body.get("acks"), dict):
        return body["acks"].get(str(ack)) is True
    code = _int(body.get("code")) if body is not None else None
    if code == 14:
        return Delivered(
            answer.status,
            f"{NAME} took the events but cannot confirm they were indexed: {CODE_MEANINGS[14]}",
        )
    outcome = read_hec_answer(answer, now=now, retry_after_max=retry_after_max)
    if isinstance(outcome, Delivered):  # a 200 without acks: not an answer to the query
        return Retry(None, f"{outcome.reason}, without acks", answer.status)
    return outcome
