"""Datadog Logs (API v2): a gzipped JSON array of logs, ``DD-API-KEY``, ``202`` is success.

Pure. Each event becomes one log: ``message`` (a short line: action, actor,
status), ``ddsource``, ``ddtags``, ``service``, ``status`` from the severity,
``timestamp`` in epoch milliseconds from the event's own time, and the event's
fields as attributes. An event field whose name Datadog reserves (``status``
would become the log's level, ``host`` its host, ``timestamp`` its date) is
kept under ``event`` instead, so no event can overwrite what shipper sets.
A request holds at most 1,000 logs and 5 MB before compression (reference 3.4);
one log over 1 MB would be cut short by Datadog, so it is refused here and
dead-lettered whole. ``hostname`` and, for logs whose time Datadog would drop,
the time of sending are added when the request leaves (``delivery.datadog``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.config.values import Problems, expand_env, kind_of, read_string, written
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Outcome, delivered, echo, header, read_failure
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets
from shipper.sinks.siem import cut, event_time, pack

NAME = "Datadog"
REQUEST_BYTES = 5_000_000
REQUEST_ITEMS = 1000
LOG_BYTES = 1_000_000
# What delivery.datadog may add to a log as it leaves: a hostname (at most 255
# characters) and, for a late log, the time of sending with its own time kept.
SEND_ALLOWANCE = 340
MESSAGE_PART_CHARS = 200
DEFAULT_SITE = "datadoghq.com"
# Datadog's sites (reference 3.1): the <site> of https://http-intake.logs.<site>.
SITES = (
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "uk1.datadoghq.com",
    "ddog-gov.com",
    "us2.ddog-gov.com",
)
# What people paste instead: the web UI's host.
_SITE_OF_UI = {"app.datadoghq.com": "datadoghq.com", "app.datadoghq.eu": "datadoghq.eu"}
_SITE_OF_UI |= {"app.ddog-gov.com": "ddog-gov.com"}

STATUS_OF: dict[Severity, str] = {
    Severity.DEBUG: "debug",
    Severity.INFO: "info",
    Severity.LOW: "notice",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "critical",
}
# Names Datadog reads for itself at a log's top level (reference 3.3; ``host`` is read
# before ``hostname``), and ``event``, where an event's fields of those names go, and
# ``original_timestamp``, which delivery sets on a late log.
RESERVED = frozenset(
    {
        "message",
        "status",
        "timestamp",
        "hostname",
        "host",
        "service",
        "ddsource",
        "ddtags",
        "event",
        "original_timestamp",
    }
)
_KEY_CHARS = re.compile(r"[\x21-\x7e]+")
_TAG = re.compile(r"[^,\s]{1,200}")

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


@dataclass(frozen=True, slots=True)
class DatadogSettings:
    """A datadog channel's own keys; ``api_key`` ``None`` only in a run that posts nothing."""

    api_key: str | None
    site: str = DEFAULT_SITE
    service: str | None = None
    source: str = "shipper"
    tags: tuple[str, ...] = ()


def intake_url(channel: ChannelConfig) -> str:
    """Where the logs go: the channel's ``url``, else its site's intake."""
    settings: DatadogSettings = channel.settings
    return channel.url or f"https://http-intake.logs.{settings.site}/api/v2/logs"


def datadog_log(alert: Alert, settings: DatadogSettings) -> dict[str, Any]:
    """One event as a Datadog log (without ``hostname``: delivery adds it)."""
    log: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    for key, value in alert.raw.items():
        if key in RESERVED:
            moved[key] = value
        else:
            log[key] = value
    if moved:
        log["event"] = moved
    log["message"] = summary(alert)
    log["ddsource"] = settings.source
    if settings.tags:
        log["ddtags"] = ",".join(settings.tags)
    if settings.service is not None:
        log["service"] = settings.service
    log["status"] = STATUS_OF[alert.severity]
    seconds = event_time(alert.timestamp)
    if seconds is not None:
        log["timestamp"] = round(seconds * 1000)
    return log


def summary(alert: Alert) -> str:
    """The log's ``message``: ``login.failed by alice: failure``."""
    text = cut(alert.action, MESSAGE_PART_CHARS) or "(no action)"
    if alert.actor:
        text += f" by {cut(alert.actor, MESSAGE_PART_CHARS)}"
    if alert.status:
        text += f": {cut(alert.status, MESSAGE_PART_CHARS)}"
    return text


def render_datadog(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """The leading ``alerts`` that fit one request, as a gzipped array of logs."""
    settings: DatadogSettings = channel.settings
    packed = pack(
        alerts,
        lambda alert: datadog_log(alert, settings),
        request_bytes=REQUEST_BYTES,
        request_items=REQUEST_ITEMS,
        entry_bytes=LOG_BYTES,
        allowance=SEND_ALLOWANCE,
        too_big=lambda size: (
            f"the event is {size:,} bytes as a Datadog log, over Datadog's limit of "
            f"{LOG_BYTES:,} bytes a log (Datadog would cut it short); it was not sent"
        ),
    )
    headers = () if settings.api_key is None else (("DD-API-KEY", settings.api_key),)
    return Rendered(
        packed.entries,
        len(packed.entries),
        headers=headers,
        url=intake_url(channel),
        gzip=True,
        refused=packed.refused,
    )


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


class DatadogSink:
    """Datadog Logs; see the module docstring."""

    kind = "datadog"
    limits = Limits(
        request_bytes=REQUEST_BYTES,
        request_items=REQUEST_ITEMS,
        max_rate=None,
        batch_max=500,
        flood_control=FLOOD_CONTROL_OFF,
    )
    secret_keys = frozenset({"api_key"})
    config_keys = frozenset({"url", "api_key", "site", "service", "source", "tags"})
    required_keys = frozenset({"api_key"})

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return render_datadog(channel, alerts)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        return read_datadog_answer(
            answer, now=now, retry_after_max=channel.delivery.retry_after_max
        )

    def secrets(self, channel: ChannelConfig) -> Secrets:
        settings: DatadogSettings | None = channel.settings
        key = settings.api_key if settings is not None else None
        return Secrets(values=(key,) if key else ())

    def parse_settings(
        self,
        body: Mapping[str, Any],
        prefix: str,
        environ: Mapping[str, str],
        problems: Problems,
        *,
        posts: bool,
    ) -> DatadogSettings:
        api_key = _api_key(body, prefix, environ, problems, posts=posts)
        site = DEFAULT_SITE
        if "site" in body:
            if "url" in body:
                problems.error(f"{prefix}site: give either site or url, not both")
            site = _site(body, prefix, environ, problems)
        service = (
            read_string(body, "service", prefix, environ, problems) if "service" in body else None
        )
        source = "shipper"
        if "source" in body:
            source = read_string(body, "source", prefix, environ, problems) or source
        return DatadogSettings(
            api_key, site, service or None, source, _tags(body, prefix, problems)
        )


DATADOG = DatadogSink()


def _api_key(
    body: Mapping[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> str | None:
    if "api_key" not in body:
        return None  # the missing required key is reported by the config
    value = body["api_key"]
    if not isinstance(value, str):
        problems.error(f"{prefix}api_key: must be a string, got {kind_of(value)}")
        return None
    target = problems if posts else problems.as_warnings()
    key = expand_env(value, environ, f"{prefix}api_key", target)
    if key is None:
        return None
    # Never quote the value: it is the secret.
    if not key:
        problems.error(f"{prefix}api_key: is empty")
        return None
    if not _KEY_CHARS.fullmatch(key):
        problems.error(f"{prefix}api_key: contains spaces or control characters")
        return None
    if "${" not in value:
        problems.warn(
            f'{prefix}api_key: written in the config file; write "${{DD_API_KEY}}" and set '
            "the variable, so that the key stays out of the file"
        )
    if len(key) == 40:
        problems.warn(
            f"{prefix}api_key: has 40 characters, like a Datadog application key; logs need "
            "an API key (32 characters, Organization Settings > API Keys)"
        )
    return key


def _site(
    body: Mapping[str, Any], prefix: str, environ: Mapping[str, str], problems: Problems
) -> str:
    site = read_string(body, "site", prefix, environ, problems)
    if site is None:
        return DEFAULT_SITE
    site = site.strip().lower()
    if site in SITES:
        return site
    # An intake or web host pasted whole: name the site it belongs to.
    hint = _SITE_OF_UI.get(site) or max(
        (s for s in SITES if site.endswith("." + s)), key=len, default=None
    )
    advice = f' (for {site} write "{hint}")' if hint else ""
    problems.error(
        f"{prefix}site: unknown Datadog site {written(body['site'])}{advice}; expected one of "
        f"{', '.join(SITES)}, or give url"
    )
    return DEFAULT_SITE


def _tags(body: Mapping[str, Any], prefix: str, problems: Problems) -> tuple[str, ...]:
    if "tags" not in body:
        return ()
    value = body["tags"]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        problems.error(
            f'{prefix}tags: must be a list of strings like "env:prod", got {written(value)}'
        )
        return ()
    for tag in value:
        if not _TAG.fullmatch(tag):
            problems.error(
                f"{prefix}tags: {written(tag)} is not a Datadog tag: 1 to 200 characters, "
                "no comma and no space"
            )
            return ()
    return tuple(value)


# Datadog drops a log dated over 18 h ago or over 2 h ahead after answering 202
# (reference 3.4). Half an hour of margin: the clocks of this host and Datadog's differ.
LATE_AFTER = 18 * 3600.0 - 1800.0
AHEAD_BY = 2 * 3600.0 - 1800.0


def finish_logs(
    logs: Sequence[Mapping[str, Any]], *, now: float, hostname: str
) -> tuple[list[dict[str, Any]], int]:
    """The logs as they leave at unix time ``now``, and how many of them are late.

    Each gets ``hostname``. A log whose time Datadog would drop is sent with ``now``
    as its ``timestamp`` and its own time as ``original_timestamp``: sent unchanged it
    would vanish after a 202, and kept back it would be missing from the SIEM where
    it is searched for; stamped with its arrival it is kept, as Azure Monitor keeps a
    row it finds too old.
    """
    now_ms = round(now * 1000)
    low, high = now_ms - round(LATE_AFTER * 1000), now_ms + round(AHEAD_BY * 1000)
    out: list[dict[str, Any]] = []
    late = 0
    for log in logs:
        sent = {**log, "hostname": hostname}
        stamp = sent.get("timestamp")
        if isinstance(stamp, int) and not low <= stamp <= high:
            sent["original_timestamp"] = stamp
            sent["timestamp"] = now_ms
            late += 1
        out.append(sent)
    return out, late
