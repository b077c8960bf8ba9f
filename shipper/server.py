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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import orjson
from aiohttp import web

from shipper.errors import ConfigError
from shipper.logs import scrub_secrets
from shipper.metrics import CONTENT_TYPE_LATEST, make_registry, render_metrics
from shipper.status import Status, health

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
LIVE_PATH = "/livez"


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
        app = web.Application()
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
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, *self.listen).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("serving %s, %s and %s on %s", METRICS_PATH, HEALTH_PATH, LIVE_PATH, self.address)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

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
