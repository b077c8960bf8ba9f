"""Serving ``/metrics`` and ``/healthz`` for a run: start, move on a reload, stop.

The web server and prometheus-client cost about 4 MB of memory, which a run
without ``[metrics] listen`` does not need to carry: they are imported only when
a server starts. A reload that names an address that cannot be used leaves the
run going without a server, and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from shipper.errors import ConfigError
from shipper.ops.status import Status

if TYPE_CHECKING:
    from shipper.ops.server import StatusServer

log = logging.getLogger(__name__)


class MetricsServer:
    """The status server of one run, if ``[metrics] listen`` is set."""

    def __init__(self, status: Callable[[], Status], unhealthy_after: Callable[[], float]) -> None:
        self._status = status
        self._unhealthy_after = unhealthy_after
        self._server: StatusServer | None = None

    async def start(self, listen: tuple[str, int] | None) -> None:
        """Serve on ``listen``, if set; raises ``ConfigError`` if it cannot be used."""
        if listen is not None:
            self._server = await self._serve(listen)

    async def move(self, listen: tuple[str, int] | None) -> None:
        """``[metrics] listen`` changed: stop serving on the old address, start on the new."""
        await self.stop()
        if listen is None:
            log.info("metrics server stopped: [metrics] listen was removed")
            return
        try:
            self._server = await self._serve(listen)
        except ConfigError as exc:
            log.error("%s; metrics are not served until a reload fixes it", exc)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def _serve(self, listen: tuple[str, int]) -> StatusServer:
        from shipper.ops.server import serve_status

        return await serve_status(listen, self._status, self._unhealthy_after)
