"""Splunk's HTTP Event Collector: envelopes concatenated, gzipped, ``Authorization: Splunk``.

Pure. Each event goes as ``{"time", "host", "source", "sourcetype", "index",
"event"}`` (reference 2.2), ``event`` being the event as received, ``time``
its own timestamp in epoch seconds (ISO 8601 or epoch seconds, milliseconds,
microseconds or nanoseconds); an event without a readable timestamp has no
``time`` and Splunk stamps it on receipt, so a bad timestamp never stops an
event. A request holds at most ``batch_max`` events and ``REQUEST_BYTES``
before compression (HEC's cap is ``max_content_length``, 1 MB before Splunk
6.5 and still on many installs, reference 2.4): a batch past it is split, and
an event that alone is past it cannot be sent and is dead-lettered whole,
never cut. ``host`` defaults to the machine's name, which this pure module
cannot ask for: it leaves ``host`` out and the exchange
(``delivery.splunk``) adds it (``with_host``). What HEC's answers mean is
``splunk_answers``; the channel's keys are ``splunk_settings``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from shipper.config.model import ChannelConfig
from shipper.config.values import Problems
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Outcome
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets
from shipper.sinks.splunk_answers import read_hec_answer
from shipper.sinks.splunk_settings import SplunkSettings, parse_splunk

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
REQUEST_BYTES = 1_000_000
# An ISO 8601 timestamp is at most ~35 characters; a longer one is not parsed at all.
_TIMESTAMP_MAX_CHARS = 64
_EPOCH = re.compile(r"\d{1,20}(?:\.\d{1,9})?")


def settings_of(channel: ChannelConfig) -> SplunkSettings:
    """``channel``'s splunk keys."""
    settings = channel.settings
    if not isinstance(settings, SplunkSettings):
        raise TypeError(f"channel {channel.name} is not a splunk channel")
    return settings


def event_time(timestamp: str | None) -> float | None:
    """Epoch seconds of an event's timestamp, or ``None`` when there is none readable."""
    if timestamp is None or len(timestamp) > _TIMESTAMP_MAX_CHARS:
        return None
    text = timestamp.strip()
    if _EPOCH.fullmatch(text):
        seconds = float(text)
        # Past the year 5000 in seconds, it counts a finer unit.
        for scale in (1.0, 1e3, 1e6, 1e9):
            if seconds / scale < 1e11:
                seconds /= scale
                break
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # audit logs without a zone are UTC
        seconds = when.timestamp()
    if not math.isfinite(seconds) or not 0 < seconds < 1e11:
        return None
    return round(seconds, 6)


def envelope(settings: SplunkSettings, alert: Alert) -> dict[str, Any]:
    """One event's HEC envelope (without ``host`` when the channel leaves it to the machine)."""
    item: dict[str, Any] = {}
    seconds = event_time(alert.timestamp)
    if seconds is not None:
        item["time"] = seconds
    if settings.host is not None:
        item["host"] = settings.host
    item["source"] = settings.source
    item["sourcetype"] = settings.sourcetype
    if settings.index is not None:
        item["index"] = settings.index
    item["event"] = alert.raw
    return item


def render_splunk(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """The leading ``alerts`` whose envelopes fit ``REQUEST_BYTES``, as one HEC request."""
    if not alerts:
        raise ValueError("render_splunk needs at least one alert")
    settings = settings_of(channel)
    items: list[dict[str, Any]] = []
    size = 0
    # Room for the host the exchange adds: a name is at most 255 bytes (+ its key).
    spare = 0 if settings.host is not None else 300
    base = (channel.url or "").rstrip("/")
    headers = (("Authorization", f"Splunk {settings.token}"),)
    for alert in alerts:
        item = envelope(settings, alert)
        grown = size + len(orjson.dumps(item)) + spare
        if grown > REQUEST_BYTES:
            if not items:
                # Refused here, never posted: delivery dead-letters it whole, not cut.
                reason = (
                    f"the event is {grown - spare:,} bytes as a HEC envelope, over the "
                    f"{REQUEST_BYTES:,}-byte request limit of a splunk channel; it is kept "
                    "whole in the dead letters, not cut"
                )
                return Rendered([item], 1, headers, url=base + EVENT_PATH, refused=reason)
            break
        items.append(item)
        size = grown
    return Rendered(
        items, len(items), headers, url=base + EVENT_PATH, framing="concatenated", gzip=True
    )


def with_host(request: Rendered, host: str) -> Rendered:
    """``request`` with ``host`` in every envelope that has none, right after ``time``."""
    items = []
    for item in request.payload:
        if "host" in item:
            items.append(item)
            continue
        filled: dict[str, Any] = {"time": item["time"]} if "time" in item else {}
        filled["host"] = host
        filled.update(item)
        items.append(filled)
    return Rendered(
        items, request.count, request.headers, request.url, request.framing, request.gzip
    )


class SplunkSink:
    """Splunk HTTP Event Collector; see the module docstring."""

    kind = "splunk"
    limits = Limits(
        request_bytes=REQUEST_BYTES,
        request_items=None,
        max_rate=None,
        batch_max=500,
        flood_control=FLOOD_CONTROL_OFF,
    )
    secret_keys = frozenset({"token"})
    config_keys = frozenset(
        {"url", "token", "index", "source", "sourcetype", "host", "acknowledgements", "ack_timeout"}
    )
    required_keys = frozenset({"url", "token"})
    url_hosts: tuple[tuple[str, str], ...] = ()

    def parse_settings(
        self,
        body: Mapping[str, Any],
        prefix: str,
        environ: Mapping[str, str],
        problems: Problems,
        *,
        posts: bool,
    ) -> SplunkSettings:
        return parse_splunk(body, prefix, environ, problems, posts=posts)

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return render_splunk(channel, alerts)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        return read_hec_answer(answer, now=now, retry_after_max=channel.delivery.retry_after_max)

    def secrets(self, channel: ChannelConfig) -> Secrets:
        token = settings_of(channel).token if channel.settings is not None else None
        return Secrets(values=(token,) if token else ())


SPLUNK = SplunkSink()
