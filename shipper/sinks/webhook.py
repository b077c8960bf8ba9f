"""The generic JSON webhook: the events exactly as they were read, any 2xx is success.

Pure. SIEMs and other consumers want the original event, not a rendering of
it, so one alert is sent as its raw object and a batch as a JSON array of the
raw objects in input order. A batch is never split here: whatever size limit a
generic endpoint has is unknown, so every given alert is covered. No flood
control: a machine reads every event.

``headers`` (a table of header = value) authenticates to a collector that wants
a header (``Authorization``, an API key). Every value is a secret, redacted
wherever the URL is. A name must be an HTTP token and a value may hold no line
break or other control character, so that no value can add headers or
requests of its own; the headers that frame the request (``Host``,
``Content-Length``, ``Content-Type``, ``Content-Encoding``,
``Transfer-Encoding``, ``Connection``...) are shipper's to set: the body is
always JSON, and a wrong length or encoding would corrupt it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipper.config.model import ChannelConfig
from shipper.config.values import Problems, expand_env, kind_of, written
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Outcome, delivered, read_failure
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets

NAME = "The webhook"
# RFC 9110 token characters: a header name can be nothing else.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Visible ASCII, spaces and tabs: no CR or LF (header injection), no other control.
_VALUE = re.compile(r"[\t\x20-\x7e]*")
# The headers that frame the request: shipper sets them, for a body that is always JSON.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "proxy-connection",
    }
)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """A webhook channel's ``headers``, in the order written (values are secrets)."""

    headers: tuple[tuple[str, str], ...] = ()


def parse_webhook(
    body: Mapping[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> WebhookSettings:
    """The ``headers`` table; a problem names the header, never its value."""
    if "headers" not in body:
        return WebhookSettings()
    table = body["headers"]
    if not isinstance(table, dict):
        problems.error(
            f"{prefix}headers: must be a table of header = value, e.g. "
            f'headers = {{ Authorization = "${{COLLECTOR_AUTH}}" }}, got {kind_of(table)}'
        )
        return WebhookSettings()
    headers: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for name, raw in table.items():
        where = f"{prefix}headers.{name}"
        if not _TOKEN.fullmatch(name):
            problems.error(
                f"{prefix}headers: {written(name)} is not a header name (letters, digits and "
                "!#$%&'*+-.^_`|~ only)"
            )
            continue
        lower = name.lower()
        if lower in RESERVED_HEADERS:
            problems.error(
                f"{where}: shipper sets this header itself (it frames the JSON body); remove it"
            )
            continue
        if lower in seen:
            problems.error(f"{where}: the same header as {seen[lower]} (names ignore case)")
            continue
        seen[lower] = name
        if not isinstance(raw, str):
            problems.error(f"{where}: must be a string, got {kind_of(raw)}")
            continue
        # A no-post run sends no header: an unset variable is a warning there.
        value = expand_env(raw, environ, where, problems if posts else problems.as_warnings())
        if value is None:
            continue
        if not _VALUE.fullmatch(value):
            problems.error(
                f"{where}: the value holds a line break, a control or a non-ASCII character; "
                "a header value is one line of visible ASCII text"
            )
            continue
        headers.append((name, value))
    return WebhookSettings(tuple(headers))


def webhook_headers(channel: ChannelConfig) -> tuple[tuple[str, str], ...]:
    """The channel's own headers (none for a channel built without settings)."""
    settings = channel.settings
    return settings.headers if isinstance(settings, WebhookSettings) else ()


def render_webhook(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """``alert.raw`` for one alert, a list of the raws for several; covers all of them."""
    if not alerts:
        raise ValueError("render_webhook needs at least one alert")
    headers = webhook_headers(channel)
    if len(alerts) == 1:
        return Rendered(payload=alerts[0].raw, count=1, headers=headers)
    return Rendered(payload=[alert.raw for alert in alerts], count=len(alerts), headers=headers)


class WebhookSink:
    """Raw events to any URL; see the module docstring."""

    kind = "webhook"
    limits = Limits(
        request_bytes=None,
        request_items=None,
        max_rate=None,
        batch_max=20,
        flood_control=FLOOD_CONTROL_OFF,
    )
    secret_keys = frozenset({"url", "headers"})
    config_keys = frozenset({"url", "headers"})
    required_keys = frozenset({"url"})
    url_hosts: tuple[tuple[str, str], ...] = ()

    def parse_settings(
        self,
        body: Mapping[str, Any],
        prefix: str,
        environ: Mapping[str, str],
        problems: Problems,
        *,
        posts: bool,
    ) -> WebhookSettings:
        return parse_webhook(body, prefix, environ, problems, posts=posts)

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return render_webhook(channel, alerts)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        text = answer.body.strip()
        if 200 <= answer.status < 300:
            return delivered(NAME, answer.status, text)
        return read_failure(
            NAME, answer, text, now=now, retry_after_max=channel.delivery.retry_after_max
        )

    def secrets(self, channel: ChannelConfig) -> Secrets:
        urls = (channel.url,) if channel.url else ()
        values = [part for _, v in webhook_headers(channel) if v for part in _secret_parts(v)]
        return Secrets(urls=urls, values=tuple(values))


def _secret_parts(value: str) -> list[str]:
    """A header value, and the parts an endpoint may echo alone: the credential after a
    scheme (``Bearer TOKEN``), and a Basic credential decoded (``user:password``, the
    password). Parts under 8 characters are a scheme or a word, not a secret."""
    parts = [value, *(p for p in value.split() if len(p) >= 8)]
    scheme, _, credential = value.partition(" ")
    if scheme.lower() == "basic" and credential:
        try:
            decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        parts += [p for p in (decoded, decoded.partition(":")[2]) if len(p) >= 4]
    return parts


WEBHOOK = WebhookSink()
