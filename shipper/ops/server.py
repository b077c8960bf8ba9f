"""The ``[metrics] listen`` HTTP server: ``/metrics`` for Prometheus, ``/healthz`` and ``/livez``.

An ``aiohttp.web`` application in the run's own event loop. The pages are
built at request time from the ``Status`` the pipeline hands over, so serving
costs nothing between scrapes. ``/healthz`` answers 200 or 503 with the JSON
body of ``status.health``; every body passes through the log redaction as a
last safety net, so no webhook URL can leave through it. ``/livez`` answers
200 whenever the event loop does: it is for liveness probes, which should
restart a wedged process, not one whose webhook is down (a restart cannot fix
Slack). No access log: a probe every few seconds would drown the logs that
matter.

Whoever reaches the port must not be able to starve the pipeline. aiohttp
accepts every connection and keeps an idle one open, so each connection here
passes through a ``ConnectionGuard``: at most ``connection_cap`` are open at a
time (a new one closes the oldest, so a flood of idle connections cannot lock
the probes out for long, and never takes the file descriptors that spools,
dead letters and webhook posts need); every connection serves one request
(``Connection: close``) and is closed ``CONNECTION_SECONDS`` after it opened,
whatever it is doing, so neither an idle client nor one that sends its headers
a byte at a time (slowloris) nor one that never reads its answer holds it.
Probes and Prometheus open a connection per request and are done within
milliseconds. A ``listen`` that is not a loopback address is warned about: the
server has no TLS and no authentication.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import resource
from collections.abc import Callable
from typing import cast

import orjson
from aiohttp import web

from shipper.errors import ConfigError
from shipper.ops.logs import scrub_secrets
from shipper.ops.metrics import CONTENT_TYPE_LATEST, make_registry, render_metrics
from shipper.ops.status import Status, health

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
LIVE_PATH = "/livez"

# At most this many connections open at a time (fewer under a low open-files limit).
MAX_CONNECTIONS = 64
# A connection's whole life: one request and its answer, with a wide margin for a slow network.
CONNECTION_SECONDS = 10.0
# Connections the kernel queues, which is also how many asyncio accepts in one go before the
# guard sees them: each holds a file descriptor meanwhile.
LISTEN_BACKLOG = 16
# File descriptors kept for the pipeline whatever the server does: stdio, the tailed file,
# each channel's spool and dead letters, webhook connections, the state directory's lock.
RESERVED_FILES = 128
# Stands for "no limit" when the open-files limit is RLIM_INFINITY.
_UNLIMITED_FILES = 1 << 20


def connection_cap(open_files_limit: int) -> int:
    """How many connections the server keeps open at a time under that open-files limit."""
    spare = open_files_limit - RESERVED_FILES - 2 * LISTEN_BACKLOG
    return max(4, min(MAX_CONNECTIONS, spare))


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name from ``listen``) is reachable from this host only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


def _open_files_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _UNLIMITED_FILES if soft == resource.RLIM_INFINITY else soft


class ConnectionGuard:
    """A protocol factory around aiohttp's: at most ``cap`` connections open, none for longer
    than ``lifetime`` seconds. A connection beyond the cap closes the oldest one."""

    def __init__(
        self,
        inner: Callable[[], asyncio.Protocol],
        cap: int,
        lifetime: float = CONNECTION_SECONDS,
    ) -> None:
        self.cap = cap
        self.lifetime = lifetime
        self._inner = inner
        self._open: dict[GuardedConnection, None] = {}  # oldest first

    def __call__(self) -> GuardedConnection:
        return GuardedConnection(self, self._inner())

    @property
    def open_count(self) -> int:
        return len(self._open)

    def opened(self, connection: GuardedConnection) -> None:
        while len(self._open) >= self.cap:
            oldest = next(iter(self._open))
            del self._open[oldest]
            log.warning(
                "metrics server: %d connections open, the most it keeps: closing the oldest "
                "(from %s)",
                self.cap,
                oldest.peer,
            )
            oldest.abort()
        self._open[connection] = None

    def closed(self, connection: GuardedConnection) -> None:
        self._open.pop(connection, None)

    def close_all(self) -> None:
        for connection in list(self._open):
            connection.abort()
        self._open.clear()


class GuardedConnection(asyncio.Protocol):
    """One connection: aiohttp's handler for it, closed by a deadline or by the guard."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None

    @property
    def peer(self) -> str:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        return str(peer[0]) if isinstance(peer, tuple) and peer else "an unknown address"

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._deadline = asyncio.get_running_loop().call_later(self._guard.lifetime, self._expire)
        self._guard.opened(self)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._guard.closed(self)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _expire(self) -> None:
        log.warning(
            "metrics server: closed a connection from %s after %gs: its client was too slow "
            "to send a request or to read the answer",
            self.peer,
            self._guard.lifetime,
        )
        self.abort()


async def _close_after_answer(request: web.Request, response: web.StreamResponse) -> None:
    # One request per connection: an idle keep-alive connection would hold a slot for nothing.
    # The header is set here too: aiohttp may have written its own Connection header already.
    response.force_close()
    response.headers["Connection"] = "close"


class StatusServer:
    """Serves ``/metrics`` and ``/healthz`` on ``host:port`` once ``start`` is awaited."""

    def __init__(
        self,
        listen: tuple[str, int],
        read_status: Callable[[], Status],
        unhealthy_after: Callable[[], float],
    ) -> None:
        self.listen = listen
        self._read_status = read_status
        self._unhealthy_after = unhealthy_after
        self._registry = make_registry(read_status)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._guard: ConnectionGuard | None = None
        app = web.Application()
        app.on_response_prepare.append(_close_after_answer)
        app.router.add_get(METRICS_PATH, self._metrics)
        app.router.add_get(HEALTH_PATH, self._health)
        app.router.add_get(LIVE_PATH, self._live)
        self._app = app

    @property
    def address(self) -> str:
        host, port = self.listen
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def start(self) -> None:
        """Bind and serve; raises ``OSError`` if the address cannot be used."""
        host, port = self.listen
        if not is_loopback(host):
            log.warning(
                "metrics.listen: %s is not a loopback address: anyone who reaches it can read "
                "%s and %s (no TLS, no authentication); keep it behind a firewall or a network "
                "policy",
                self.address,
                METRICS_PATH,
                HEALTH_PATH,
            )
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        assert runner.server is not None  # set up above
        guard = ConnectionGuard(runner.server, connection_cap(_open_files_limit()))
        try:
            listener = await asyncio.get_running_loop().create_server(
                guard, host, port, backlog=LISTEN_BACKLOG
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._listener, self._guard = runner, listener, guard
        log.info(
            "serving %s, %s and %s on %s (at most %d connections at a time)",
            METRICS_PATH,
            HEALTH_PATH,
            LIVE_PATH,
            self.address,
            guard.cap,
        )

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()  # lets the answers under way finish, briefly
        if self._guard is not None:
            self._guard.close_all()
            self._guard = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = scrub_secrets(render_metrics(self._registry).decode())
        return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _live(self, request: web.Request) -> web.Response:
        return web.Response(text='{"status": "alive"}', content_type="application/json")

    async def _health(self, request: web.Request) -> web.Response:
        is_healthy, body = health(self._read_status(), self._unhealthy_after())
        text = scrub_secrets(orjson.dumps(body).decode())
        return web.Response(
            text=text, status=200 if is_healthy else 503, content_type="application/json"
        )


async def serve_status(
    listen: tuple[str, int],
    read_status: Callable[[], Status],
    unhealthy_after: Callable[[], float],
) -> StatusServer:
    """A started ``StatusServer``; ``ConfigError`` naming ``metrics.listen`` if it cannot bind."""
    server = StatusServer(listen, read_status, unhealthy_after)
    try:
        await server.start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError([f"metrics.listen: cannot serve on {server.address}: {reason}"]) from None
    return server
