"""TOML config -> frozen dataclasses, checked once, every problem named by its key path.

``load_config`` reads the file with ``tomllib``, expands ``${VAR}`` and
``${VAR:-default}`` from the environment in every string, and validates every
section and key of the spec. It never stops at the first problem: it collects
them all and raises one ``ConfigError``. Unknown keys are errors, because a
typo must not silently disable routing. Value parsing (durations, URLs, globs)
lives in ``values``, the ``[delivery]`` and ``[channels]`` tables in
``channels``, and the dataclasses in ``model``, where the rest of the code
imports them from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from shipper.config.channels import parse_channels, parse_delivery
from shipper.config.kinds import Kinds
from shipper.config.model import (
    DEFAULT_UNHEALTHY_AFTER,
    Config,
    DeliveryConfig,
    FieldPath,
    Fields,
    SourceConfig,
)
from shipper.config.severity import Severity
from shipper.config.values import (
    Problems,
    parse_duration,
    parse_listen,
    read_positive_int,
    read_severity,
    read_string,
    read_table,
    reject_unknown,
    written,
)
from shipper.errors import ConfigError

__all__ = ["SYSTEM_CONFIG", "default_state_dir", "find_config", "load_config"]

SYSTEM_CONFIG = Path("/etc/shipper/config.toml")
_SECTIONS = {"source", "fields", "severity", "delivery", "metrics", "channels"}
_SOURCE_KEYS = {"path", "start_at", "state_dir", "max_line_bytes"}
_FIELD_KEYS = {"action", "severity", "timestamp", "actor", "status", "context"}


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


def load_config(
    path: Path, environ: Mapping[str, str], *, kinds: Kinds, posts: bool = True
) -> Config:
    """Read and validate ``path``, its channels being of ``kinds`` (``sinks.SINKS``).

    With ``posts=False`` (dry runs, ``route``) an unset variable in a channel URL
    is a warning and leaves that URL ``None``.
    """
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
    config = _build(doc, path, environ, kinds, problems, posts=posts)
    if problems.errors or config is None:
        raise ConfigError(problems.errors)
    return replace(config, warnings=tuple(problems.warnings))


def _build(
    doc: dict[str, Any],
    path: Path,
    environ: Mapping[str, str],
    kinds: Kinds,
    problems: Problems,
    *,
    posts: bool,
) -> Config | None:
    reject_unknown(doc, _SECTIONS, "", problems)
    source = _source(read_table(doc, "source", problems), environ, problems)
    fields = _fields(read_table(doc, "fields", problems), environ, problems)
    severity_table = read_table(doc, "severity", problems)
    reject_unknown(severity_table, {"default"}, "severity.", problems)
    default = read_severity(
        severity_table, "default", "severity.", environ, problems, Severity.INFO
    )
    delivery_table = read_table(doc, "delivery", problems)
    delivery = parse_delivery(delivery_table, "delivery.", DeliveryConfig(), environ, problems)
    listen, unhealthy_after = _metrics(read_table(doc, "metrics", problems), environ, problems)
    channels = parse_channels(
        read_table(doc, "channels", problems),
        delivery,
        frozenset(delivery_table),
        kinds,
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
        shown = written(table["listen"])
        listen = parse_listen(raw, "metrics.listen", problems, shown) if raw is not None else None
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
            problems.error(
                f'source.start_at: must be "end" or "beginning", got {written(table["start_at"])}'
            )
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
                paths[key] = _field_path(raw, f"fields.{key}", problems, written(table[key]))
    actor = defaults.actor
    if "actor" in table:
        value = table["actor"]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            problems.error("fields.actor: must be a string or a non-empty list of strings")
        else:
            actor = tuple(_field_path(i, "fields.actor", problems, written(i)) for i in items)
    return Fields(
        paths["action"],
        paths["severity"],
        paths["timestamp"],
        actor,
        paths["status"],
        paths["context"],
    )


def _field_path(raw: str, where: str, problems: Problems, shown: str) -> FieldPath:
    parts = tuple(raw.split("."))
    if not raw or any(not p for p in parts):
        problems.error(f'{where}: {shown} is not a dotted field path like "actor.email"')
    return parts
