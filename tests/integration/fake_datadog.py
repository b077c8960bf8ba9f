"""A fake Datadog logs intake on 127.0.0.1 that checks what the real one checks.

``POST /api/v2/logs`` (reference 3): ``DD-API-KEY`` missing is ``401``, wrong
is ``403``; the body, gzipped or not, must be a JSON array of at most 1,000
logs and at most 5,000,000 bytes before compression (else ``400``/``413``),
each log an object with a ``message``. A log over 1,000,000 bytes is accepted
and cut, as Datadog does: the fake records it in ``cut`` so a test can assert
that never happens. ``202`` with ``{}`` is success. ``max_bytes`` lowers the
size limit (a proxy in front of Datadog), ``can`` scripts other answers,
``echo_key`` makes a 403 quote the refused key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.integration.fake_siem import Canned, FakeServer, inflate

API_KEY = "0123456789abcdef0123456789abcdef"
MAX_BYTES = 5_000_000
MAX_LOGS = 1000
LOG_BYTES = 1_000_000

__all__ = ["API_KEY", "Canned", "FakeDatadog", "Intake"]


@dataclass(frozen=True)
class Intake:
    """One accepted request: its logs, its size before and after compression, its headers."""

    logs: list[dict[str, Any]]
    raw_bytes: int
    wire_bytes: int
    gzipped: bool


def _errors(status: int, title: str, detail: str) -> web.Response:
    body = {"errors": [{"status": str(status), "title": title, "detail": detail}]}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


class FakeDatadog(FakeServer):
    """The intake; ``accepted`` holds every request answered 202, in order."""

    def __init__(self, api_key: str = API_KEY, max_bytes: int = MAX_BYTES) -> None:
        super().__init__()
        self.api_key = api_key
        self.max_bytes = max_bytes
        self.accepted: list[Intake] = []
        self.refused: list[int] = []
        self.cut: list[int] = []
        self.echo_key = False  # a 403 quotes the key it refused, as a careless proxy might
        self.app.router.add_post("/api/v2/logs", self._logs)

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [log for intake in self.accepted for log in intake.logs]

    @property
    def intake_url(self) -> str:
        return self.url + "/api/v2/logs"

    async def _logs(self, request: web.Request) -> web.Response:
        try:
            return await self._answer(request)
        finally:
            await self.changed()

    async def _answer(self, request: web.Request) -> web.Response:
        key = request.headers.get("DD-API-KEY")
        if key is None:
            self.refused.append(401)
            return _errors(401, "Unauthorized", "API key missing")
        if key != self.api_key:
            self.refused.append(403)
            quoted = f" ({key})" if self.echo_key else ""
            return _errors(403, "Forbidden", f"API key is invalid{quoted}")
        canned = self.canned("logs")
        if canned is not None:
            self.refused.append(canned.status)
            return canned
        wire = await request.read()
        raw = inflate(request, wire)
        if len(raw) > self.max_bytes:
            self.refused.append(413)
            return _errors(413, "Payload Too Large", f"over {self.max_bytes} bytes")
        try:
            logs = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.refused.append(400)
            return _errors(400, "Bad Request", "not JSON")
        shaped = isinstance(logs, list) and all(
            isinstance(log, dict) and isinstance(log.get("message"), str) for log in logs
        )
        if not shaped or not 0 < len(logs) <= MAX_LOGS:
            self.refused.append(400)
            return _errors(400, "Bad Request", "not an array of 1 to 1000 logs with a message")
        self.cut.extend(i for i, log in enumerate(logs) if len(orjson.dumps(log)) > LOG_BYTES)
        gzipped = request.headers.get("Content-Encoding", "").lower() == "gzip"
        self.accepted.append(Intake(logs, len(raw), len(wire), gzipped))
        return web.json_response({}, status=202)
