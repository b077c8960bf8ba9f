"""A scripted fake webhook server on 127.0.0.1, for integration and end-to-end tests.

``FakeWebhook`` owns an ``aiohttp.web.Application`` that records every request
(path, headers, JSON body, time) and answers from a per-path script of
``Reply`` objects; when a path's script runs out it gives the default reply.
Use it standalone (``url = await fake.start()`` ... ``await fake.stop()``) or
hand ``fake.app`` to pytest-aiohttp's ``aiohttp_server``. ``wait_for`` waits on
a condition with a deadline instead of sleeping and hoping. Stopping the app
releases every reply that is still being delayed, so a "hanging" endpoint
never holds up a test's teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

HANG = 3600.0  # a delay that outlives any test: the endpoint never answers


@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``delay`` seconds pass before it is sent."""

    status: int = 200
    body: str = "ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request the fake received; ``time`` comes from the fake's clock."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    time: float

    @property
    def data(self) -> bytes:
        """The body, decompressed when it came gzipped."""
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            return gzip.decompress(self.body)
        return self.body

    @property
    def json(self) -> Any:
        return orjson.loads(self.data)


def posted_seqs(requests: Iterable[Request], path: str | None = None) -> list[int]:
    """The ``seq`` of every event posted (to ``path``, if given), in arrival order, duplicates
    included; a body is one event or a JSON list of them."""
    out: list[int] = []
    for request in requests:
        if path is None or request.path == path:
            body = request.json
            out.extend(e["seq"] for e in (body if isinstance(body, list) else [body]))
    return out


class FakeWebhook:
    """A webhook endpoint whose answers a test scripts per path."""

    def __init__(
        self,
        default: Reply | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default or Reply()
        self.requests: list[Request] = []
        self._clock = clock
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._forever: dict[str, Reply] = {}
        self._changed = asyncio.Condition()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.app.on_shutdown.append(self._on_shutdown)

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies``, in order."""
        self._scripts[path].extend(replies)

    def always(self, path: str, reply: Reply) -> None:
        """Answer every request to ``path`` (after its script) with ``reply``."""
        self._forever[path] = reply

    def to(self, path: str) -> str:
        """The full URL of ``path`` on a started fake."""
        return self.url + path

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(
        self, predicate: Callable[[list[Request]], bool], deadline: float = 5.0
    ) -> None:
        """Return once ``predicate(self.requests)`` holds; fail the test after ``deadline`` s."""
        async with asyncio.timeout(deadline):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.requests))

    async def start(self) -> str:
        """Serve on 127.0.0.1 on a free port; returns the base URL.

        No access log: paths hold webhook secrets, and tests assert that no log
        record ever contains one. Bodies are recorded as they came over the wire,
        compressed ones too, since services count their limits on those bytes.
        """
        self._runner = web.AppRunner(
            self.app, shutdown_timeout=1.0, access_log=None, auto_decompress=False
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeWebhook:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _next_reply(self, path: str) -> Reply:
        script = self._scripts.get(path)
        if script:
            return script.popleft()
        return self._forever.get(path, self.default)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        record = Request(request.path, dict(request.headers), body, self._clock())
        async with self._changed:
            self.requests.append(record)
            self._changed.notify_all()
        reply = self._next_reply(request.path)
        if reply.delay > 0:
            # Sleep, but wake at once when the fake stops: teardown never waits on a "hang".
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), reply.delay)
        return web.Response(status=reply.status, text=reply.body, headers=dict(reply.headers))

    async def _on_shutdown(self, app: web.Application) -> None:
        self._released.set()
