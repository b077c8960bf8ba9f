"""The validated configuration: frozen dataclasses and the defaults they start from.

``config.load_config`` builds them; everything else only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shipper.config.severity import Severity

FieldPath = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fields:
    """Where each shown field lives in an event (from ``[fields]``)."""

    action: FieldPath = ("action",)
    severity: FieldPath = ("severity",)
    timestamp: FieldPath = ("timestamp",)
    actor: tuple[FieldPath, ...] = (("user",), ("api_token",))
    status: FieldPath = ("status",)
    context: FieldPath = ("context",)


TeamsFormat = Literal["messagecard", "adaptivecard"]
# A channel failing this long makes /healthz answer 503: longer than a 429's
# Retry-After or a webhook's brief outage, short enough to page before a backlog grows.
DEFAULT_UNHEALTHY_AFTER = 300.0
# A tailed file missing this long makes `run` warn (and again as long as it stays
# missing) and /healthz answer 503: long enough for a writer that creates its log at
# start, short enough that a mistyped path is noticed the same day.
DEFAULT_MISSING_AFTER = 300.0


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """How one channel posts: timeouts, retries, batching and pacing (seconds, counts)."""

    timeout: float = 10.0
    retry_initial: float = 1.0
    retry_max: float = 60.0
    give_up_after: float = 24 * 3600.0
    batch_max: int = 20
    spool_max_bytes: int = 256 * 1024 * 1024
    max_rate: float | None = None
    drain_timeout: float = 30.0
    # The longest wait a Retry-After (or Slack's retry_after) may ask of a channel.
    retry_after_max: float = 3600.0
    # Flood control; ``None`` where the config gives no value: delivery then takes the
    # sink's own default (chat kinds on, the others off), which config cannot know.
    burst_limit: int | None = None  # events of one group posted in full per window; 0 off
    burst_window: float | None = None  # seconds
    burst_by: tuple[FieldPath, ...] | None = None


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One destination.

    ``kind`` names the sink that serves it; ``settings`` holds that kind's own
    keys, as its sink parsed them (``None`` for a kind with none beyond ``url``).
    ``url`` is ``None`` when the kind has none, or when its variable was unset in a
    no-post run.
    """

    name: str
    kind: str
    url: str | None
    label: str | None = None
    min_severity: Severity = Severity.DEBUG
    actions: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    teams_format: TeamsFormat = "messagecard"
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    settings: Any = None

    @property
    def title(self) -> str:
        """How messages and logs name the channel: its label, else its config name."""
        return self.label or self.name


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """Where events come from; ``path`` ``None`` means stdin."""

    path: str | None
    start_at: Literal["end", "beginning"]
    state_dir: Path
    max_line_bytes: int
    missing_after: float = DEFAULT_MISSING_AFTER  # seconds the tailed file may be missing


@dataclass(frozen=True, slots=True)
class Config:
    """The whole, validated configuration."""

    path: Path
    source: SourceConfig
    fields: Fields
    default_severity: Severity
    delivery: DeliveryConfig
    metrics_listen: tuple[str, int] | None
    channels: tuple[ChannelConfig, ...]
    warnings: tuple[str, ...] = ()
    unhealthy_after: float = DEFAULT_UNHEALTHY_AFTER

    def channel(self, name: str) -> ChannelConfig | None:
        """The channel called ``name``, if any."""
        return next((c for c in self.channels if c.name == name), None)
