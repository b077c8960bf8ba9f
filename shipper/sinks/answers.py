"""What every destination's answers have in common: the outcome types and the status table.

Pure. A sink reads an HTTP answer into an ``Outcome``: ``Delivered``, ``Retry``
(maybe after a delay), ``GiveUp`` or, for a service that takes part of a
request, ``Partial``, each with a reason in plain words that names the
service, the status and what the service said, never the URL. What
success looks like and what a service's error strings mean live in each
sink's module; what a status means for every service lives here
(``read_failure``), so a new rule is a new row. The delay of a retry without
``Retry-After`` is not decided here: that is ``backoff``'s job; a
``Retry-After`` longer than the channel's ``retry_after_max`` is cut to it
here, the reason saying so. ``TimedOut`` and ``Unreachable`` are the retries
of a post that got no answer at all, so that nothing downstream has to read
their words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from shipper.sinks.retry_after import parse_retry_after

BODY_ECHO_CHARS = 200


@dataclass(frozen=True, slots=True)
class Answer:
    """What an endpoint answered: status, body (decoded, capped) and headers."""

    status: int
    body: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Delivered:
    """The endpoint accepted the message.

    ``late`` counts its events whose own time the service would not keep (too old or
    too far ahead), sent with the time of sending instead (their own time kept beside it);
    ``cut`` those the service is known to cut short (a value over its limit), sent whole.
    """

    status: int
    reason: str
    late: int = 0
    cut: int = 0


@dataclass(frozen=True, slots=True)
class Retry:
    """Not delivered, worth trying again: after ``after`` seconds, or ``None`` for backoff.

    ``status`` is ``None`` when there was no HTTP answer (``TimedOut``, ``Unreachable``).
    """

    after: float | None
    reason: str
    status: int | None = None
    asked: float | None = None  # the longer wait the server asked for, when ``after`` caps it


@dataclass(frozen=True, slots=True)
class TimedOut(Retry):
    """No answer within the channel's ``timeout``."""


@dataclass(frozen=True, slots=True)
class Unreachable(Retry):
    """No answer at all: the connection failed (refused, DNS, TLS, cut short)."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Refused for good: trying the same message again cannot help."""

    reason: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Partial:
    """The service took the first ``accepted`` items of the request and stopped at the next.

    ``refused``: that next item was refused for good (it alone is dead-lettered,
    the ones after it go again); otherwise everything from it on is retried, after
    ``after`` seconds (``None``: backoff). A service that says how far it got
    (Splunk HEC's ``invalid-event-number``) is neither resent what it took, nor
    made to lose the good items behind a bad one.
    """

    accepted: int
    refused: bool
    reason: str
    status: int | None = None
    after: float | None = None

    def rest(self) -> Retry | GiveUp:
        """What happened to the items from ``accepted`` on, as a whole-request outcome."""
        if self.refused:
            return GiveUp(self.reason, self.status)
        return Retry(self.after, self.reason, self.status)


Outcome = Delivered | Retry | GiveUp | Partial


class Action(Enum):
    """What to do about a failed answer."""

    RETRY_AFTER = "retry, honouring Retry-After"
    BACKOFF = "retry with backoff"
    GIVE_UP = "give up"


# Status -> action and meaning (reference 3.6). Statuses missing here fall back
# to their class in _STATUS_CLASS.
_STATUS: dict[int, tuple[Action, str]] = {
    400: (Action.GIVE_UP, "the message was refused as malformed"),
    401: (Action.GIVE_UP, "the endpoint wants credentials: the URL is wrong or was revoked"),
    403: (Action.GIVE_UP, "posting there is forbidden"),
    404: (Action.GIVE_UP, "the webhook was not found: it was removed or the URL is wrong"),
    408: (Action.BACKOFF, "the endpoint timed out waiting for the message"),
    410: (Action.GIVE_UP, "the webhook is gone: it was removed or its channel archived"),
    413: (Action.GIVE_UP, "the message is too large"),
    429: (Action.RETRY_AFTER, "rate limited"),
    500: (Action.BACKOFF, "the service had an internal error"),
    501: (Action.GIVE_UP, "the endpoint does not take POST requests"),
    502: (Action.BACKOFF, "a gateway in front of the service failed"),
    503: (Action.RETRY_AFTER, "the service is unavailable"),
    504: (Action.BACKOFF, "a gateway in front of the service timed out"),
}
_STATUS_CLASS: dict[int, tuple[Action, str]] = {
    1: (Action.GIVE_UP, "an interim answer was the last one"),
    2: (Action.GIVE_UP, "that is not the service's success answer"),
    3: (Action.GIVE_UP, "a redirect, which shipper does not follow: check the URL"),
    4: (Action.GIVE_UP, "the message was refused"),
    5: (Action.BACKOFF, "the service failed"),
}
_INVALID_STATUS = (Action.GIVE_UP, "that is not a valid HTTP status")


def status_meaning(status: int) -> tuple[Action, str]:
    """What a failed ``status`` calls for, and what it means in plain words."""
    return _STATUS.get(status) or _STATUS_CLASS.get(status // 100, _INVALID_STATUS)


def delivered(name: str, status: int, text: str) -> Delivered:
    """``name``'s success answer, its body echoed."""
    return Delivered(status, join(f"{name} answered {status}", echo(text)))


def read_failure(
    name: str,
    answer: Answer,
    text: str,
    *,
    now: float,
    retry_after_max: float,
    detail: str | None = None,
    meaning: str | None = None,
    body_after: float | None = None,
) -> Retry | GiveUp:
    """A failed answer from service ``name`` by its status; ``text`` is its stripped body.

    A service may name the error (``detail``, else the body is echoed), explain it
    (``meaning``, else the status's) and ask for a wait in its body (``body_after``,
    used when there is no ``Retry-After`` header).
    """
    action, status_words = status_meaning(answer.status)
    head = join(f"{name} answered {answer.status}", echo(text) if detail is None else detail)
    meaning = meaning or status_words
    if action is Action.RETRY_AFTER:
        header_after = parse_retry_after(header(answer.headers, "retry-after"), now)
        asked = header_after if header_after is not None else body_after
        return retry(head, meaning, asked, answer.status, retry_after_max)
    if action is Action.BACKOFF:
        return retry(head, meaning, None, answer.status, retry_after_max)
    return GiveUp(f"{head}: {meaning}", answer.status)


def retry(
    head: str, meaning: str, asked: float | None, status: int, retry_after_max: float
) -> Retry:
    """A ``Retry`` after ``asked`` seconds (``None``: backoff), cut to ``retry_after_max``."""
    if asked is None:
        return Retry(None, f"{head}: {meaning}, retrying with backoff", status)
    if asked > retry_after_max:
        # A server must not park a channel for days: its alerts would wait as long.
        when = (
            f"retrying after {format_delay(retry_after_max)} (retry_after_max), "
            f"not the {format_delay(asked)} asked for"
        )
        return Retry(retry_after_max, f"{head}: {meaning}, {when}", status, asked)
    return Retry(asked, f"{head}: {meaning}, retrying after {format_delay(asked)}", status)


def echo(body: str) -> str:
    """A body as it may appear in a reason: one line, at most ``BODY_ECHO_CHARS`` characters."""
    line = " ".join(body.split())
    if len(line) > BODY_ECHO_CHARS:
        return line[: BODY_ECHO_CHARS - 1] + "…"
    return line


def format_delay(seconds: float) -> str:
    """``30`` -> ``30s``, ``1.5`` -> ``1.5s``: how reasons and logs show a delay."""
    return f"{seconds:.1f}".removesuffix(".0") + "s"


def header(headers: Mapping[str, str], lower_name: str) -> str | None:
    """A header's value, whatever the case of its name."""
    # The client's headers are case-insensitive already; plain dicts (tests, fakes) are not.
    value = headers.get(lower_name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == lower_name), None)


def join(head: str, detail: str) -> str:
    """``head`` and ``detail`` with one space, or ``head`` alone when there is no detail."""
    return f"{head} {detail}" if detail else head
