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
Its keys are read in ``datadog_keys``, its answers in ``datadog_answers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.config.values import Problems
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Outcome
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets
from shipper.sinks.datadog_answers import read_datadog_answer
from shipper.sinks.datadog_keys import DatadogSettings, parse_datadog_settings
from shipper.sinks.siem import cut, event_time, pack

REQUEST_BYTES = 5_000_000
REQUEST_ITEMS = 1000
LOG_BYTES = 1_000_000
# What delivery.datadog may add to a log as it leaves: a hostname (at most 255
# characters) and, for a late log, the time of sending with its own time kept.
SEND_ALLOWANCE = 340
MESSAGE_PART_CHARS = 200

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
        # Datadog's date remapper reads these too: an event's own "date" could
        # otherwise date its log decades back, and the intake drops it after a 202.
        "date",
        "_timestamp",
        "Timestamp",
        "eventTime",
        "published_date",
        "syslog.timestamp",
    }
)


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
    url_hosts: tuple[tuple[str, str], ...] = ()

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
        return parse_datadog_settings(body, prefix, environ, problems, posts=posts)


DATADOG = DatadogSink()


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
