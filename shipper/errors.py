"""The exceptions shipper raises, and where each one is caught.

ShipperError                 base of everything below
├── ConfigError              the config file is missing, unreadable or invalid;
│                            carries every problem found, each naming its key path.
│                            The CLI turns it into exit code 2.
├── UnknownChannelError      a command named a channel the config does not define
│                            (exit code 2, with the known names).
└── TransportError           a post did not get an HTTP answer (connection refused,
                             DNS, TLS, timeout). Raised at the delivery edge from the
                             HTTP client's error with ``raise ... from``; its message
                             names the host only, never the webhook URL.
    └── PostTimeoutError     the post did not finish within the channel's ``timeout``.
"""

from __future__ import annotations

from pathlib import Path


class ShipperError(Exception):
    """Base class of every error shipper raises on purpose."""


class ConfigError(ShipperError):
    """The configuration cannot be used; ``problems`` lists every reason, one per key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class UnknownChannelError(ShipperError):
    """A channel name given on the command line is not in the config."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = list(known)
        listed = ", ".join(known) if known else "(none)"
        super().__init__(f"unknown channel {name!r}; known channels: {listed}")


class StateError(ShipperError):
    """The state directory cannot be used: not writable, full, or owned by another run."""


class SpoolError(ShipperError):
    """A channel's backlog on disk cannot be written or read (disk full, permissions, read-only).

    The message names the spool directory and the system's reason, never event contents.
    """


class BacklogFullError(ShipperError):
    """A stop gave up waiting for room in a channel's full backlog (its webhook is down).

    Nothing was appended by the call that raised it; the run's read position does not
    move past the lines it carried.
    """

    def __init__(self, channel: str) -> None:
        super().__init__(f"the backlog of channel {channel} is full")
        self.channel = channel


class PositionError(ShipperError):
    """The saved position exists but cannot be used: unreadable, corrupt or of an unknown format.

    The caller decides what to do (normally: log it and fall back to ``start_at``).
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class TransportError(ShipperError):
    """The request got no HTTP answer; the message names the host, never the URL."""


class PostTimeoutError(TransportError):
    """The request did not complete within the configured timeout."""
