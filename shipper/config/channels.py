"""The ``[delivery]`` defaults and the ``[channels.NAME]`` tables of the config.

Part of ``config.load_config``: every problem is added to ``problems`` under its
key path, never raised on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shipper.config.channel_files import channel_name_problems
from shipper.config.hints import check_url_kind, report_empty_url
from shipper.config.kinds import Kinds, KindSpec
from shipper.config.model import ChannelConfig, DeliveryConfig, TeamsFormat
from shipper.config.severity import Severity
from shipper.config.values import (
    Problems,
    expand_env,
    kind_of,
    parse_duration,
    parse_glob,
    parse_size,
    parse_url,
    read_positive_int,
    read_severity,
    read_string,
    reject_unknown,
    written,
)

WORKFLOWS_HOST_SUFFIXES = (".logic.azure.com", ".api.powerplatform.com")

_DURATION_KEYS = (
    "timeout",
    "retry_initial",
    "retry_max",
    "give_up_after",
    "drain_timeout",
    "retry_after_max",
)
_DELIVERY_KEYS = {*_DURATION_KEYS, "batch_max", "max_rate", "spool_max_bytes"}
_DELIVERY_KEYS |= {"burst_limit", "burst_window", "burst_by"}
# The keys every channel takes; each kind adds its own (``KindSpec.config_keys``).
_CHANNEL_KEYS = {"kind", "label", "min_severity", "actions", "exclude", *_DELIVERY_KEYS}
# What a kind's defaults may set, unless [delivery] sets it for every channel.
_KIND_DEFAULTS = ("max_rate", "batch_max")


def parse_delivery(
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
                f"(0 for no limit), got {written(rate)}"
            )
        else:
            values["max_rate"] = float(rate) if rate > 0 else None
    values.update(_flood_keys(table, prefix, problems))
    result = replace(base, **values)
    if result.retry_initial > result.retry_max:
        problems.error(
            f"{prefix}retry_initial: ({result.retry_initial:g}s) is longer than "
            f"retry_max ({result.retry_max:g}s)"
        )
    return result


def _flood_keys(table: dict[str, Any], prefix: str, problems: Problems) -> dict[str, Any]:
    """The flood-control keys given in ``table``; absent ones stay unset (the sink's default)."""
    values: dict[str, Any] = {}
    if "burst_limit" in table:
        limit = table["burst_limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            problems.error(
                f"{prefix}burst_limit: must be a whole number of events (0 turns flood "
                f"control off), got {written(limit)}"
            )
        else:
            values["burst_limit"] = limit
    if "burst_window" in table:
        window = parse_duration(table["burst_window"], f"{prefix}burst_window", problems)
        if window is not None:
            values["burst_window"] = window
    if "burst_by" in table:
        by = table["burst_by"]
        paths = by if isinstance(by, list) else None
        if (
            paths is None
            or not paths
            or not all(isinstance(p, str) and p and "" not in p.split(".") for p in paths)
        ):
            problems.error(
                f"{prefix}burst_by: must be a non-empty list of dotted field paths like "
                f'["action"] or ["action", "context.ip"], got {written(by)}'
            )
        else:
            values["burst_by"] = tuple(tuple(p.split(".")) for p in paths)
    return values


def parse_channels(
    table: dict[str, Any],
    delivery: DeliveryConfig,
    delivery_keys: frozenset[str],
    kinds: Kinds,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> tuple[ChannelConfig, ...]:
    """The channels; ``delivery_keys`` are the keys ``[delivery]`` gave, which override every
    kind's own defaults."""
    if not table:
        problems.error("channels: no channel defined; add at least one [channels.NAME] table")
        return ()
    for problem in channel_name_problems(table):
        problems.error(problem)
    channels = []
    for name, body in table.items():
        prefix = f"channels.{name}."
        if not isinstance(body, dict):
            problems.error(f"channels.{name}: must be a table, got {kind_of(body)}")
            continue
        channel = _channel(
            name, body, prefix, delivery, delivery_keys, kinds, environ, problems, posts=posts
        )
        if channel is not None:
            channels.append(channel)
    return tuple(channels)


def _channel(
    name: str,
    body: dict[str, Any],
    prefix: str,
    delivery: DeliveryConfig,
    delivery_keys: frozenset[str],
    kinds: Kinds,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> ChannelConfig | None:
    spec = _kind(body, prefix, kinds, environ, problems)
    _check_keys(body, prefix, spec, kinds, problems)
    url = None
    # An unknown kind's url is still checked: its problems are worth knowing in one go.
    if "url" in body and (spec is None or "url" in spec.config_keys):
        url = _channel_url(body, prefix, environ, problems, posts=posts)
    check_url_kind(spec, kinds, url, f"{prefix}url", problems)
    label = read_string(body, "label", prefix, environ, problems) if "label" in body else None
    min_severity = read_severity(body, "min_severity", prefix, environ, problems, Severity.DEBUG)
    actions = _globs(body, "actions", prefix, problems, default=("*",))
    exclude = _globs(body, "exclude", prefix, problems, default=())
    teams_format = _teams_format(body, prefix, url, environ, problems)
    base = delivery
    if spec is not None:
        defaults = {k: getattr(spec.limits, k) for k in _KIND_DEFAULTS if k not in delivery_keys}
        base = replace(delivery, **defaults)
    own = parse_delivery(body, prefix, base, environ, problems)
    if spec is None:
        return None
    settings = spec.parse_settings(body, prefix, environ, problems, posts=posts)
    return ChannelConfig(
        name, spec.kind, url, label, min_severity, actions, exclude, teams_format, own, settings
    )


def _kind(
    body: dict[str, Any],
    prefix: str,
    kinds: Kinds,
    environ: Mapping[str, str],
    problems: Problems,
) -> KindSpec | None:
    names = ", ".join(kinds)
    if "kind" not in body:
        problems.error(f"{prefix}kind: missing; expected one of {names}")
        return None
    raw = read_string(body, "kind", prefix, environ, problems)
    if raw is None:
        return None
    spec = kinds.get(raw)
    if spec is None:
        problems.error(
            f"{prefix}kind: unknown kind {written(body['kind'])}; expected one of {names}"
        )
    return spec


def _check_keys(
    body: dict[str, Any], prefix: str, spec: KindSpec | None, kinds: Kinds, problems: Problems
) -> None:
    """Unknown keys are errors; a key of another kind says whose it is."""
    if spec is None:
        # Without a kind, any kind's key may be meant: judge only what no kind takes.
        reject_unknown(
            body, _CHANNEL_KEYS.union(*(k.config_keys for k in kinds.values())), prefix, problems
        )
        return
    foreign = {}
    for key in body:
        owners = [k.kind for k in kinds.values() if key in k.config_keys]
        if key not in _CHANNEL_KEYS and key not in spec.config_keys and owners:
            foreign[key] = owners
    for key, owners in foreign.items():
        problems.error(
            f"{prefix}{key}: {spec.kind} channels have no {key} "
            f"(it is a key of {' and '.join(owners)} channels)"
        )
    known = _CHANNEL_KEYS | spec.config_keys
    reject_unknown({k: v for k, v in body.items() if k not in foreign}, known, prefix, problems)
    for key in sorted(spec.required_keys - body.keys()):
        if key == "url":
            problems.error(f'{prefix}url: missing; the webhook URL, e.g. "${{SLACK_WEBHOOK_URL}}"')
        else:
            problems.error(f"{prefix}{key}: missing; {spec.kind} channels need it")


def _channel_url(
    body: dict[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> str | None:
    value = body["url"]
    if not isinstance(value, str):
        problems.error(f"{prefix}url: must be a string, got {kind_of(value)}")
        return None
    target = problems if posts else problems.as_warnings()
    expanded = expand_env(value, environ, f"{prefix}url", target)
    if expanded is None or report_empty_url(value, expanded, environ, f"{prefix}url", target):
        return None
    return parse_url(expanded, f"{prefix}url", problems)


def _globs(
    body: dict[str, Any], key: str, prefix: str, problems: Problems, default: tuple[str, ...]
) -> tuple[str, ...]:
    if key not in body:
        return default
    value = body[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.error(f"{prefix}{key}: must be a list of glob strings, got {written(value)}")
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
    url: str | None,
    environ: Mapping[str, str],
    problems: Problems,
) -> TeamsFormat:
    """The ``format`` of a Teams channel (``_check_keys`` refuses it on other kinds)."""
    choice = "auto"
    if "format" in body:
        choice = read_string(body, "format", prefix, environ, problems) or "auto"
        if choice not in ("auto", "messagecard", "adaptivecard"):
            problems.error(
                f"{prefix}format: unknown format {written(body['format'])}; expected auto, "
                "messagecard or adaptivecard"
            )
            choice = "auto"
    if choice == "messagecard":
        return "messagecard"
    if choice == "adaptivecard":
        return "adaptivecard"
    return "adaptivecard" if url is not None and is_workflows_url(url) else "messagecard"


@functools.lru_cache(maxsize=64)  # asked on every post's answer
def is_workflows_url(url: str) -> bool:
    """Teams Workflows (Power Automate) hosts take Adaptive Cards, not MessageCards."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return any(host.endswith(s) or host == s[1:] for s in WORKFLOWS_HOST_SUFFIXES)
