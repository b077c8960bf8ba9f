"""What a destination is, as delivery sees it: the ``Sink`` protocol and what it declares.

Pure. A sink turns a channel's settings and a batch of alerts into one request
(``Rendered``: the JSON body, its headers, how many alerts it covers), reads
the endpoint's ``Answer`` into an ``Outcome``, and declares its ``Limits``
(what one request may hold, its default pace, batch size and flood control)
and its ``Secrets`` (which config values must never be shown). A renderer may
cover fewer alerts than it was given (when the rest would break the service's
size limits); ``Rendered.count`` says how many, and delivery acknowledges
exactly that many and renders the rest next. Delivery knows nothing else of a
destination, and the config knows of a kind only what its sink declares
(``config.kinds.KindSpec``: its keys, their defaults, its own settings): a new
kind is a new module with one sink and a row in ``sinks.SINKS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shipper.config.kinds import KindSpec
from shipper.config.model import ChannelConfig
from shipper.config.values import Problems
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Outcome


@dataclass(frozen=True, slots=True)
class Rendered:
    """One request: its JSON body, extra headers, and how many alerts it covers (at least one).

    ``url`` is where it goes when that is not the channel's ``url`` (a kind that
    builds it from other keys); ``framing`` ``"concatenated"`` sends a list
    payload as its items' JSON one after another (Splunk HEC) instead of one JSON
    array; ``gzip`` compresses the body (``Content-Encoding: gzip``).
    """

    payload: Any
    count: int
    headers: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    framing: Literal["json", "concatenated"] = "json"
    gzip: bool = False


@dataclass(frozen=True, slots=True)
class FloodControl:
    """How many events of one group are posted in full per window; ``limit`` 0 is off."""

    limit: int
    window: float  # seconds
    by: tuple[str, ...] = ("action",)


FLOOD_CONTROL_OFF = FloodControl(limit=0, window=60.0)
# Chat channels are read by people (spec, "Flood control").
CHAT_FLOOD_CONTROL = FloodControl(limit=10, window=60.0)


@dataclass(frozen=True, slots=True)
class Limits:
    """What a destination's service takes, and the defaults a channel of its kind starts from.

    ``None`` for a request limit means the service sets none (or counts something
    else, which its renderer keeps); ``max_rate`` ``None`` is unlimited.
    """

    request_bytes: int | None
    request_items: int | None
    max_rate: float | None  # messages a second
    batch_max: int
    flood_control: FloodControl


@dataclass(frozen=True, slots=True)
class Secrets:
    """What of a channel's config must never be shown: URLs (with their secret parts) and
    plain values (tokens, keys, header values)."""

    urls: tuple[str, ...] = ()
    values: tuple[str, ...] = ()


class Sink(Protocol):
    """One kind of destination; see the module docstring."""

    @property
    def kind(self) -> str:
        """The ``kind`` a channel names in the config."""

    @property
    def limits(self) -> Limits:
        """The service's limits and the kind's defaults."""

    @property
    def secret_keys(self) -> frozenset[str]:
        """The config keys of this kind whose values are secret."""

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        """The next request for ``channel``: it covers ``Rendered.count`` leading ``alerts``."""

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        """What ``answer`` means; ``now`` (unix time) resolves an HTTP-date ``Retry-After``."""

    def secrets(self, channel: ChannelConfig) -> Secrets:
        """The secret values of ``channel``'s config (those of ``secret_keys`` that are set)."""


class Destination(Sink, KindSpec, Protocol):
    """A sink as ``sinks.SINKS`` lists it: what delivery needs, and what the config needs."""


class UrlKeys:
    """The config side of a kind whose keys of its own are ``url`` (and ``format``, which
    the config reads for every kind that declares it)."""

    config_keys = frozenset({"url"})
    required_keys = frozenset({"url"})

    def parse_settings(
        self,
        body: Mapping[str, Any],
        prefix: str,
        environ: Mapping[str, str],
        problems: Problems,
        *,
        posts: bool,
    ) -> None:
        return None


def url_secrets(channel: ChannelConfig) -> Secrets:
    """The secrets of a kind whose one secret is its ``url``."""
    return Secrets(urls=(channel.url,) if channel.url else ())
