"""The systemd notify protocol: tell the service manager we are ready, reloading, stopping, alive.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``, a datagram socket
(a path, or ``@name`` in the abstract namespace), and waits for ``READY=1``
before it counts the service as started. ``Notifier`` sends one datagram per
state change; with ``$WATCHDOG_USEC`` set (``WatchdogSec=``) ``keep_alive``
sends ``WATCHDOG=1`` at half that interval, from the event loop, so a loop that
hangs is noticed and restarted. Without ``$NOTIFY_SOCKET`` every call does
nothing. A failed send is logged once and never stops the program: the
service manager is an observer, not part of the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends ``sd_notify`` datagrams to ``address`` (``None``: a no-op notifier)."""

    def __init__(self, address: str | None, *, watchdog_seconds: float | None = None) -> None:
        self.address = address
        self.watchdog_seconds = watchdog_seconds
        self._socket: socket.socket | None = None
        self._has_failed = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int | None = None) -> Notifier:
        """The notifier systemd asked for through ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC``.

        The watchdog is ours only if ``$WATCHDOG_PID`` is unset or names this process
        (``pid``, default ``os.getpid()``): a child of the service must not ping for it.
        """
        address = environ.get("NOTIFY_SOCKET") or None
        if address is not None and not address.startswith(("/", "@")):
            log.warning("NOTIFY_SOCKET=%s is not a socket path or @name: not notifying", address)
            address = None
        watchdog = None
        usec = environ.get("WATCHDOG_USEC", "")
        owner = environ.get("WATCHDOG_PID", "")
        is_ours = not owner or owner == str(pid if pid is not None else os.getpid())
        if address is not None and usec.isdigit() and int(usec) > 0 and is_ours:
            watchdog = int(usec) / 1_000_000
        return cls(address, watchdog_seconds=watchdog)

    @property
    def is_enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``VAR=value`` lines as one datagram; ``False`` if not sent."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(assignments).encode(), target)
        except OSError as exc:
            if not self._has_failed:
                self._has_failed = True
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
            return False
        return True

    def ready(self) -> None:
        """The config is loaded and the source is open."""
        self.send("READY=1", "STATUS=reading")

    def reloading(self) -> None:
        """A reload began; ``ready`` says when it is over (``Type=notify-reload`` wants both)."""
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}", "STATUS=reloading")

    def stopping(self) -> None:
        """Reading stopped; what is queued is being delivered before exit."""
        self.send("STOPPING=1", "STATUS=stopping")

    async def keep_alive(self) -> None:
        """Send ``WATCHDOG=1`` at half the watchdog interval until cancelled."""
        if self.watchdog_seconds is None or self.address is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_seconds / 2)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
