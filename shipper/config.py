"""TOML config -> frozen dataclasses, checked once, every problem named by its key path.

``load_config`` reads the file with ``tomllib``, expands ``${VAR}`` and
``${VAR:-default}`` from the environment in every string, and validates every
section and key of the spec. It never stops at the first problem: it collects
them all and raises one ``ConfigError``. Unknown keys are errors, because a
typo must not silently disable routing. Value parsing (durations, URLs, globs)
lives in ``config_values``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from shipper.config_values import (
    Problems,
    expand_env,
    kind_of,
    parse_duration,
    parse_glob,
    parse_listen,
    parse_size,
    parse_url,
    read_positive_int,
    read_severity,
    read_string,
    read_table,
    reject_unknown,
)
from shipper.errors import ConfigError
from shipper.event import FieldPath, Fields
from shipper.severity import Severity

Kind = Literal["slack", "teams", "webhook"]
TeamsFormat = Literal["messagecard", "adaptivecard"]

KINDS: tuple[Kind, ...] = ("slack", "teams", "webhook")
# Messages a second each service tolerates; we stay a little under it (see delivery).
DEFAULT_MAX_RATE: dict[Kind, float | None] = {"slack": 1.0, "teams": 4.0, "webhook": None}
WORKFLOWS_HOST_SUFFIXES = (".logic.azure.com", ".api.powerplatform.com")
SYSTEM_CONFIG = Path("/etc/shipper/config.toml")
# A channel failing this long makes /healthz answer 503: longer than a 429's
# Retry-After or a webhook's brief outage, short enough to page before a backlog grows.
DEFAULT_UNHEALTHY_AFTER = 300.0


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


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One destination. ``url`` is ``None`` only when its variable was unset in a no-post run."""

    name: str
    kind: Kind
    url: str | None
    label: str | None = None
    min_severity: Severity = Severity.DEBUG
    actions: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    teams_format: TeamsFormat = "messagecard"
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)

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


_SECTIONS = {"source", "fields", "severity", "delivery", "metrics", "channels"}
_SOURCE_KEYS = {"path", "start_at", "state_dir", "max_line_bytes"}
_FIELD_KEYS = {"action", "severity", "timestamp", "actor", "status", "context"}
_DURATION_KEYS = ("timeout", "retry_initial", "retry_max", "give_up_after", "drain_timeout")
_DELIVERY_KEYS = {*_DURATION_KEYS, "batch_max", "max_rate", "spool_max_bytes"}
_CHANNEL_KEYS = {"kind", "url", "label", "min_severity", "actions", "exclude", "format"}
_CHANNEL_KEYS |= _DELIVERY_KEYS


def find_config(explicit: Path | None, environ: Mapping[str, str]) -> Path:
    """The config file: ``-c``, else ``$SHIPPER_CONFIG``, else ``./shipper.toml``, else
    ``/etc/shipper/config.toml``."""
    if explicit is not None:
        return explicit
    if environ.get("SHIPPER_CONFIG"):
        return Path(environ["SHIPPER_CONFIG"])
    for candidate in (Path("shipper.toml"), SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        [
            "no config file found: pass -c CONFIG, set $SHIPPER_CONFIG, "
            f"or create ./shipper.toml or {SYSTEM_CONFIG}"
        ]
    )


def load_config(path: Path, environ: Mapping[str, str], *, posts: bool = True) -> Config:
    """Read and validate ``path``. With ``posts=False`` (dry runs, ``route``) an unset
    variable in a channel URL is a warning and leaves that URL ``None``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc}"]) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    problems = Problems()
    config = _build(doc, path, environ, problems, posts=posts)
    if problems.errors or config is None:
        raise ConfigError(problems.errors)
    return replace(config, warnings=tuple(problems.warnings))


def _build(
    doc: dict[str, Any], path: Path, environ: Mapping[str, str], problems: Problems, *, posts: bool
) -> Config | None:
    reject_unknown(doc, _SECTIONS, "", problems)
    source = _source(read_table(doc, "source", problems), environ, problems)
    fields = _fields(read_table(doc, "fields", problems), environ, problems)
    severity_table = read_table(doc, "severity", problems)
    reject_unknown(severity_table, {"default"}, "severity.", problems)
    default = read_severity(
        severity_table, "default", "severity.", environ, problems, Severity.INFO
    )
    delivery = _delivery(
        read_table(doc, "delivery", problems), "delivery.", DeliveryConfig(), environ, problems
    )
    listen, unhealthy_after = _metrics(read_table(doc, "metrics", problems), environ, problems)
    rate_is_global = "max_rate" in read_table(doc, "delivery", Problems())
    channels = _channels(
        read_table(doc, "channels", problems),
        delivery,
        rate_is_global,
        environ,
        problems,
        posts=posts,
    )
    if source is None or fields is None:
        return None
    return Config(
        path,
        source,
        fields,
        default,
        delivery,
        listen,
        channels,
        unhealthy_after=unhealthy_after,
    )


def _metrics(
    table: dict[str, Any], environ: Mapping[str, str], problems: Problems
) -> tuple[tuple[str, int] | None, float]:
    """``[metrics]``: the address to serve on, and when a failing channel makes it unhealthy."""
    reject_unknown(table, {"listen", "unhealthy_after"}, "metrics.", problems)
    listen = None
    if "listen" in table:
        raw = read_string(table, "listen", "metrics.", environ, problems)
        listen = parse_listen(raw, "metrics.listen", problems) if raw is not None else None
    unhealthy_after = DEFAULT_UNHEALTHY_AFTER
    if "unhealthy_after" in table:
        parsed = parse_duration(table["unhealthy_after"], "metrics.unhealthy_after", problems)
        if parsed is not None:
            unhealthy_after = parsed
    return listen, unhealthy_after


def _source(
    table: dict[str, Any], environ: Mapping[str, str], problems: Problems
) -> SourceConfig | None:
    reject_unknown(table, _SOURCE_KEYS, "source.", problems)
    path = read_string(table, "path", "source.", environ, problems) if "path" in table else None
    start_at: Literal["end", "beginning"] = "end"
    if "start_at" in table:
        raw = read_string(table, "start_at", "source.", environ, problems)
        if raw == "beginning":
            start_at = "beginning"
        elif raw != "end" and raw is not None:
            problems.error(f'source.start_at: must be "end" or "beginning", got "{raw}"')
    if "state_dir" in table:
        state = read_string(table, "state_dir", "source.", environ, problems)
        state_dir = Path(state).expanduser() if state else default_state_dir(environ)
    else:
        state_dir = default_state_dir(environ)
    max_line = read_positive_int(table, "max_line_bytes", "source.", 1024 * 1024, problems)
    return SourceConfig(None if path in (None, "", "-") else path, start_at, state_dir, max_line)


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """``$STATE_DIRECTORY`` (systemd), else ``$XDG_STATE_HOME/shipper``, else
    ``~/.local/state/shipper``."""
    if environ.get("STATE_DIRECTORY"):
        # systemd passes a colon-separated list when the unit names several directories.
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    if environ.get("XDG_STATE_HOME"):
        return Path(environ["XDG_STATE_HOME"]) / "shipper"
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".local" / "state" / "shipper"


def _fields(table: dict[str, Any], environ: Mapping[str, str], problems: Problems) -> Fields | None:
    reject_unknown(table, _FIELD_KEYS, "fields.", problems)
    defaults = Fields()
    paths: dict[str, FieldPath] = {}
    for key in ("action", "severity", "timestamp", "status", "context"):
        paths[key] = getattr(defaults, key)
        if key in table:
            raw = read_string(table, key, "fields.", environ, problems)
            if raw is not None:
                paths[key] = _field_path(raw, f"fields.{key}", problems)
    actor = defaults.actor
    if "actor" in table:
        value = table["actor"]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            problems.error("fields.actor: must be a string or a non-empty list of strings")
        else:
            actor = tuple(_field_path(i, "fields.actor", problems) for i in items)
    return Fields(
        paths["action"],
        paths["severity"],
        paths["timestamp"],
        actor,
        paths["status"],
        paths["context"],
    )


def _field_path(raw: str, where: str, problems: Problems) -> FieldPath:
    parts = tuple(raw.split("."))
    if not raw or any(not p for p in parts):
        problems.error(f'{where}: "{raw}" is not a dotted field path like "actor.email"')
    return parts


def _delivery(
    table: dict[str, Any],
    prefix: str,
    base: DeliveryConfig,
    environ: Mapping[str, str],
    problems: Problems,
) -> DeliveryConfig:
    if prefix == "delivery.":
        reject_unknown(table, _DELIVERY_KEYS, prefix, problems)
    values: dict[str, Any] = {}
    for key in _DURATION_KEYS:
        if key in table:
            parsed = parse_duration(table[key], f"{prefix}{key}", problems)
            if parsed is not None:
                values[key] = parsed
    if "spool_max_bytes" in table:
        size = parse_size(table["spool_max_bytes"], f"{prefix}spool_max_bytes", problems)
        if size is not None:
            values["spool_max_bytes"] = size
    if "batch_max" in table:
        values["batch_max"] = read_positive_int(
            table, "batch_max", prefix, base.batch_max, problems
        )
    if "max_rate" in table:
        rate = table["max_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
            problems.error(
                f"{prefix}max_rate: must be a number of messages a second "
                f"(0 for no limit), got {rate!r}"
            )
        else:
            values["max_rate"] = float(rate) if rate > 0 else None
    result = replace(base, **values)
    if result.retry_initial > result.retry_max:
        problems.error(
            f"{prefix}retry_initial: ({result.retry_initial:g}s) is longer than "
            f"retry_max ({result.retry_max:g}s)"
        )
    return result


def _channels(
    table: dict[str, Any],
    delivery: DeliveryConfig,
    rate_is_global: bool,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> tuple[ChannelConfig, ...]:
    if not table:
        problems.error("channels: no channel defined; add at least one [channels.NAME] table")
        return ()
    channels = []
    for name, body in table.items():
        prefix = f"channels.{name}."
        if not isinstance(body, dict):
            problems.error(f"channels.{name}: must be a table, got {kind_of(body)}")
            continue
        channel = _channel(
            name, body, prefix, delivery, rate_is_global, environ, problems, posts=posts
        )
        if channel is not None:
            channels.append(channel)
    return tuple(channels)


def _channel(
    name: str,
    body: dict[str, Any],
    prefix: str,
    delivery: DeliveryConfig,
    rate_is_global: bool,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> ChannelConfig | None:
    reject_unknown(body, _CHANNEL_KEYS, prefix, problems)
    kind_raw = read_string(body, "kind", prefix, environ, problems) if "kind" in body else None
    if "kind" not in body:
        problems.error(f"{prefix}kind: missing; expected one of {', '.join(KINDS)}")
    kind: Kind | None = next((k for k in KINDS if k == kind_raw), None)
    if kind_raw is not None and kind is None:
        problems.error(
            f'{prefix}kind: unknown kind "{kind_raw}"; expected one of {", ".join(KINDS)}'
        )
    url = _channel_url(body, prefix, environ, problems, posts=posts)
    label = read_string(body, "label", prefix, environ, problems) if "label" in body else None
    min_severity = read_severity(body, "min_severity", prefix, environ, problems, Severity.DEBUG)
    actions = _globs(body, "actions", prefix, problems, default=("*",))
    exclude = _globs(body, "exclude", prefix, problems, default=())
    teams_format = _teams_format(body, prefix, kind, url, environ, problems)
    # [delivery].max_rate, when given, replaces every kind's own default.
    base = (
        delivery
        if rate_is_global
        else replace(delivery, max_rate=DEFAULT_MAX_RATE[kind] if kind else None)
    )
    own = _delivery(body, prefix, base, environ, problems)
    if kind is None:
        return None
    return ChannelConfig(name, kind, url, label, min_severity, actions, exclude, teams_format, own)


def _channel_url(
    body: dict[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> str | None:
    if "url" not in body:
        problems.error(f'{prefix}url: missing; the webhook URL, e.g. "${{SLACK_WEBHOOK_URL}}"')
        return None
    value = body["url"]
    if not isinstance(value, str):
        problems.error(f"{prefix}url: must be a string, got {kind_of(value)}")
        return None
    target = problems if posts else problems.as_warnings()
    expanded = expand_env(value, environ, f"{prefix}url", target)
    if expanded is None:
        return None
    return parse_url(expanded, f"{prefix}url", problems)


def _globs(
    body: dict[str, Any], key: str, prefix: str, problems: Problems, default: tuple[str, ...]
) -> tuple[str, ...]:
    if key not in body:
        return default
    value = body[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.error(f"{prefix}{key}: must be a list of glob strings, got {value!r}")
        return default
    if key == "actions" and not value:
        problems.error(
            f"{prefix}actions: is empty, so the channel would never match; "
            'remove the key to match every action, or list globs like "login.*"'
        )
    return tuple(g for g in value if parse_glob(g, f"{prefix}{key}", problems))


def _teams_format(
    body: dict[str, Any],
    prefix: str,
    kind: Kind | None,
    url: str | None,
    environ: Mapping[str, str],
    problems: Problems,
) -> TeamsFormat:
    choice = "auto"
    if "format" in body:
        if kind != "teams":
            problems.error(f"{prefix}format: only teams channels have a format")
        choice = read_string(body, "format", prefix, environ, problems) or "auto"
        if choice not in ("auto", "messagecard", "adaptivecard"):
            problems.error(
                f'{prefix}format: unknown format "{choice}"; expected auto, '
                "messagecard or adaptivecard"
            )
            choice = "auto"
    if choice == "messagecard":
        return "messagecard"
    if choice == "adaptivecard":
        return "adaptivecard"
    return "adaptivecard" if url is not None and is_workflows_url(url) else "messagecard"


def is_workflows_url(url: str) -> bool:
    """Teams Workflows (Power Automate) hosts take Adaptive Cards, not MessageCards."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return any(host.endswith(s) or host == s[1:] for s in WORKFLOWS_HOST_SUFFIXES)
