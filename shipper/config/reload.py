"""What a reload (SIGHUP) changes: the old config against the new one, as a ``ReloadPlan``.

Pure. Routing (thresholds, globs, ``[fields]``, ``[severity]``) is swapped
whole for the lines read after the reload. Channels are compared by name:
added ones get a spool and a worker; removed ones stop, their backlog staying
on disk; a channel whose delivery settings changed (URL, kind, label, format,
``[delivery]`` keys) gets a new worker on the same spool. What cannot change
without a restart is kept as it was, with a warning: ``[source]`` (the open
file, the state directory) and a channel's ``spool_max_bytes`` (the open spool).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from shipper.config.model import ChannelConfig, Config, SourceConfig

# What only routing reads: a change to these alone keeps the channel's worker.
_ROUTING_KEYS = ("min_severity", "actions", "exclude")


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """The config to run from now on, and what it asks of the running channels."""

    config: Config
    added: tuple[ChannelConfig, ...]
    removed: tuple[str, ...]
    changed: tuple[ChannelConfig, ...]  # delivery settings changed: a new worker
    rerouted: tuple[ChannelConfig, ...]  # only routing changed: the worker stays
    warnings: tuple[str, ...]
    is_listen_changed: bool  # [metrics] listen: the server moves

    @property
    def summary(self) -> str:
        """``added a, b; removed c; changed d`` or ``no channel changed``."""
        parts = [
            f"{verb} {', '.join(names)}"
            for verb, names in (
                ("added", [c.name for c in self.added]),
                ("removed", list(self.removed)),
                ("changed", [c.name for c in self.changed]),
                ("rerouted", [c.name for c in self.rerouted]),
            )
            if names
        ]
        return "; ".join(parts) or "no channel changed"


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """What running ``new`` instead of ``old`` takes; ``new``'s ``[source]`` is not used."""
    warnings = [*_source_warnings(old.source, new.source)]
    before = {c.name: c for c in old.channels}
    added: list[ChannelConfig] = []
    changed: list[ChannelConfig] = []
    rerouted: list[ChannelConfig] = []
    kept: list[ChannelConfig] = []
    for channel in new.channels:
        previous = before.get(channel.name)
        if previous is None:
            added.append(channel)
            kept.append(channel)
            continue
        if channel.delivery.spool_max_bytes != previous.delivery.spool_max_bytes:
            warnings.append(
                f"channels.{channel.name}.spool_max_bytes: the change takes effect at the "
                "next restart (the backlog is open)"
            )
            channel = replace(
                channel,
                delivery=replace(
                    channel.delivery, spool_max_bytes=previous.delivery.spool_max_bytes
                ),
            )
        kept.append(channel)
        if channel == previous:
            continue
        if _delivery_settings(channel) == _delivery_settings(previous):
            rerouted.append(channel)
        else:
            changed.append(channel)
    names = {c.name for c in new.channels}
    removed = tuple(c.name for c in old.channels if c.name not in names)
    # [source] is kept: the tail and the state directory are open with the old values.
    config = replace(new, source=old.source, channels=tuple(kept), warnings=())
    return ReloadPlan(
        config,
        tuple(added),
        removed,
        tuple(changed),
        tuple(rerouted),
        tuple(warnings),
        is_listen_changed=new.metrics_listen != old.metrics_listen,
    )


def _delivery_settings(channel: ChannelConfig) -> tuple[object, ...]:
    """Everything a channel's worker uses: all of it but the routing keys."""
    return tuple(getattr(channel, f.name) for f in fields(channel) if f.name not in _ROUTING_KEYS)


def _source_warnings(old: SourceConfig, new: SourceConfig) -> list[str]:
    return [
        f"source.{key}: changed; this takes effect at the next restart"
        for key in ("path", "start_at", "state_dir", "max_line_bytes", "missing_after")
        if getattr(old, key) != getattr(new, key)
    ]
