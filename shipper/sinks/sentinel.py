"""Microsoft Sentinel, through the Azure Monitor Logs Ingestion API: rows to a DCR's stream.

Pure. Each event becomes one row of the stream the documented data collection
rule declares: ``TimeGenerated`` (ISO 8601 UTC from the event's own time),
``Action``, ``Severity``, ``Actor``, ``Status``, ``Context`` (the context
fields) and ``Event`` (the whole event). A call holds at most 1 MB, compressed
or not (reference 4.5): rows are packed to at most 1,000,000 bytes before
compression, and a row that alone is over it is refused here and dead-lettered
whole, never cut. The request goes to
``{url}/dataCollectionRules/{dcr_id}/streams/{stream}``; the access token it
needs, and the arrival time of a row without a time of its own, are added as
it leaves (``delivery.sentinel``). Answers are read in ``sentinel_answers``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from shipper.config.model import ChannelConfig
from shipper.config.values import (
    Problems,
    parse_url,
    read_secret,
    read_string,
    written,
)
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Outcome
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets
from shipper.sinks.sentinel_answers import read_ingestion_answer
from shipper.sinks.siem import iso_time, pack

API_VERSION = "2023-01-01"
REQUEST_BYTES = 1_000_000
ROW_BYTES = REQUEST_BYTES
# Azure cuts a column value longer than 64 KB without a word (reference 4.5).
VALUE_BYTES = 64_000
# What delivery.sentinel may add to a row as it leaves: its arrival time.
SEND_ALLOWANCE = 48
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
# The audience of the token by the cloud of the endpoint (reference 4.3); Microsoft's
# samples write the scope with a double slash.
_SCOPES = (
    (".azure.us", "https://monitor.azure.us//.default"),
    (".azure.cn", "https://monitor.azure.cn//.default"),
)
PUBLIC_SCOPE = "https://monitor.azure.com//.default"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}")
_DCR_ID = re.compile(r"dcr-[0-9a-fA-F]{32}")
_STREAM = re.compile(r"Custom-[A-Za-z][A-Za-z0-9_]{0,127}")
_SECRET_CHARS = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class SentinelSettings:
    """A sentinel channel's own keys; ``client_secret`` ``None`` only in a run that posts
    nothing."""

    dcr_id: str
    stream: str
    tenant_id: str
    client_id: str
    client_secret: str | None
    authority: str = DEFAULT_AUTHORITY


def ingestion_url(channel: ChannelConfig) -> str:
    """``{url}/dataCollectionRules/{dcr_id}/streams/{stream}?api-version=2023-01-01``."""
    settings: SentinelSettings = channel.settings
    base = (channel.url or "").rstrip("/")
    return (
        f"{base}/dataCollectionRules/{settings.dcr_id}/streams/{settings.stream}"
        f"?api-version={API_VERSION}"
    )


def token_url(settings: SentinelSettings) -> str:
    """``{authority}/{tenant_id}/oauth2/v2.0/token``."""
    return f"{settings.authority.rstrip('/')}/{settings.tenant_id}/oauth2/v2.0/token"


def token_scope(channel: ChannelConfig) -> str:
    """The scope of the token, by the cloud of the channel's endpoint."""
    host = (urlsplit(channel.url or "").hostname or "").lower()
    return next((scope for suffix, scope in _SCOPES if host.endswith(suffix)), PUBLIC_SCOPE)


def sentinel_row(alert: Alert) -> dict[str, Any]:
    """One event as a row (without ``TimeGenerated`` when it has no readable time)."""
    row: dict[str, Any] = {}
    stamp = iso_time(alert.timestamp)
    if stamp is not None:
        row["TimeGenerated"] = stamp
    row["Action"] = alert.action
    row["Severity"] = alert.severity.label
    row["Actor"] = alert.actor
    row["Status"] = alert.status
    row["Context"] = dict(alert.facts)
    row["Event"] = alert.raw
    return row


def count_cut(rows: Sequence[Mapping[str, Any]]) -> int:
    """How many ``rows`` have a column value Azure will cut short (over ``VALUE_BYTES``)."""
    cut = 0
    for row in rows:
        if len(orjson.dumps(row)) <= VALUE_BYTES:
            continue  # the common case: no value of it can be longer than the whole
        values = (v.encode() if isinstance(v, str) else orjson.dumps(v) for v in row.values())
        cut += any(len(value) > VALUE_BYTES for value in values)
    return cut


def render_sentinel(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """The leading ``alerts`` that fit one call, as a gzipped array of rows."""
    packed = pack(
        alerts,
        sentinel_row,
        request_bytes=REQUEST_BYTES,
        request_items=len(alerts),
        entry_bytes=ROW_BYTES,
        allowance=SEND_ALLOWANCE,
        too_big=lambda size: (
            f"the event is {size:,} bytes as a Sentinel row, over Azure's limit of "
            f"{REQUEST_BYTES:,} bytes a call; it was not sent"
        ),
    )
    return Rendered(
        packed.entries,
        len(packed.entries),
        url=ingestion_url(channel),
        gzip=True,
        refused=packed.refused,
    )


class SentinelSink:
    """Microsoft Sentinel (Logs Ingestion API); see the module docstring."""

    kind = "sentinel"
    limits = Limits(
        request_bytes=REQUEST_BYTES,
        request_items=None,
        max_rate=None,
        batch_max=500,
        flood_control=FLOOD_CONTROL_OFF,
    )
    secret_keys = frozenset({"client_secret"})
    config_keys = frozenset(
        {"url", "dcr_id", "stream", "tenant_id", "client_id", "client_secret", "authority"}
    )
    required_keys = frozenset(
        {"url", "dcr_id", "stream", "tenant_id", "client_id", "client_secret"}
    )
    url_hosts: tuple[tuple[str, str], ...] = ()

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return render_sentinel(channel, alerts)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        return read_ingestion_answer(
            answer, now=now, retry_after_max=channel.delivery.retry_after_max
        )

    def secrets(self, channel: ChannelConfig) -> Secrets:
        settings: SentinelSettings | None = channel.settings
        secret = settings.client_secret if settings is not None else None
        return Secrets(values=(secret,) if secret else ())

    def parse_settings(
        self,
        body: Mapping[str, Any],
        prefix: str,
        environ: Mapping[str, str],
        problems: Problems,
        *,
        posts: bool,
    ) -> SentinelSettings:
        def shaped(key: str, pattern: re.Pattern[str], what: str) -> str:
            if key not in body:
                return ""  # the missing required key is reported by the config
            value = read_string(body, key, prefix, environ, problems)
            if value is None:
                return ""
            value = value.strip()
            if not pattern.fullmatch(value):
                problems.error(f"{prefix}{key}: must be {what}, got {written(body[key])}")
            return value

        dcr_id = shaped(
            "dcr_id", _DCR_ID, 'the DCR\'s immutable id, "dcr-" and 32 hex digits (immutableId)'
        )
        stream = shaped(
            "stream",
            _STREAM,
            'the DCR\'s input stream, "Custom-" and a name, e.g. Custom-ShipperAudit_CL',
        )
        tenant_id = shaped(
            "tenant_id",
            re.compile(f"{_GUID.pattern}|{_DOMAIN.pattern}"),
            "the Directory (tenant) ID, a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47",
        )
        client_id = shaped(
            "client_id",
            _GUID,
            "the app's Application (client) ID, a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47",
        )
        authority = DEFAULT_AUTHORITY
        if "authority" in body:
            text = read_string(body, "authority", prefix, environ, problems)
            parsed = parse_url(text, f"{prefix}authority", problems) if text else None
            authority = parsed.rstrip("/") if parsed else DEFAULT_AUTHORITY
        secret = _client_secret(body, prefix, environ, problems, posts=posts)
        return SentinelSettings(dcr_id, stream, tenant_id, client_id, secret, authority)


SENTINEL = SentinelSink()


def _client_secret(
    body: Mapping[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> str | None:
    secret = read_secret(
        body,
        "client_secret",
        prefix,
        environ,
        problems,
        posts=posts,
        variable="AZURE_CLIENT_SECRET",
    )
    if secret is None:
        return None
    # Never quote the value: it is the secret.
    if not secret or not _SECRET_CHARS.fullmatch(secret):
        problems.error(f"{prefix}client_secret: is empty or contains spaces or control characters")
        return None
    return secret
