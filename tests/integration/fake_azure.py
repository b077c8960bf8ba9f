"""A fake Microsoft Entra ID token endpoint and Azure Monitor Logs Ingestion API on 127.0.0.1.

Token (reference 4.3): ``POST /{tenant}/oauth2/v2.0/token``, form-encoded;
checks ``grant_type=client_credentials``, the tenant, client id, secret and
the scope ``https://monitor.azure.com//.default``, and answers as Entra ID
does: a token with ``expires_in``, or ``400``/``401`` with an ``AADSTS`` code.
A token lives ``lifetime`` seconds on the fake's clock, or ``uses`` requests
when set (so a test can make one expire mid-run without waiting).

Ingestion (reference 4.4-4.6): ``POST /dataCollectionRules/{dcr}/streams/{stream}
?api-version=2023-01-01`` with ``Authorization: Bearer``: an unknown or expired
token is ``401``; another DCR or stream ``404``; a body over 1,048,576 bytes,
compressed or not, ``413 ContentLengthLimitExceeded``; not a JSON array of
rows ``400``; else ``204``. ``can`` scripts other answers (``429`` ...); ``echo_auth``
refuses every call with its token echoed, as a careless proxy might.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from tests.integration.fake_siem import Canned, FakeServer, inflate

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-aaaaaaaaaaaa"
SECRET = "s3cr3t~Azure.Client_Secret-9f2c"
DCR = "dcr-00112233445566778899aabbccddeeff"
STREAM = "Custom-ShipperAudit_CL"
SCOPE = "https://monitor.azure.com//.default"
LIMIT = 1_048_576
COLUMNS = {"TimeGenerated", "Action", "Severity", "Actor", "Status", "Context", "Event"}

__all__ = ["CLIENT", "DCR", "SECRET", "STREAM", "TENANT", "Call", "Canned", "FakeAzure"]


@dataclass(frozen=True)
class Call:
    """One ingestion call answered 204: its rows, sizes, and the token it carried."""

    rows: list[dict[str, Any]]
    raw_bytes: int
    wire_bytes: int
    token: str


def _aad(status: int, error: str, code: int, words: str) -> web.Response:
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {words} Trace ID: 0000 Correlation ID: 0000",
        "error_codes": [code],
    }
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _azure(status: int, code: str, message: str) -> web.Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, body=body, content_type="application/json")


class FakeAzure(FakeServer):
    """Entra ID and the ingestion endpoint in one server (``url`` serves as both)."""

    def __init__(self, *, lifetime: float = 3599.0, uses: int | None = None) -> None:
        super().__init__()
        self.lifetime = lifetime
        self.uses = uses
        self.echo_auth = False  # refuse rows with 400, echoing the Authorization header
        self.calls: list[Call] = []
        self.token_forms: list[dict[str, str]] = []
        self.refused: list[int] = []
        self._tokens: dict[str, tuple[float, int]] = {}  # token -> (expires, uses left)
        self.app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self.app.router.add_post("/dataCollectionRules/{dcr}/streams/{stream}", self._rows)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [row for call in self.calls for row in call.rows]

    @property
    def issued(self) -> list[str]:
        return list(self._tokens)

    def expire_all(self) -> None:
        """Every token issued so far is refused from now on (revoked, or expired early)."""
        self._tokens = dict.fromkeys(self._tokens, (0.0, 0))

    async def _token(self, request: web.Request) -> web.Response:
        try:
            return await self._token_answer(request)
        finally:
            await self.changed()

    async def _token_answer(self, request: web.Request) -> web.Response:
        canned = self.canned("token")
        if canned is not None:
            return canned
        if request.content_type != "application/x-www-form-urlencoded":
            return _aad(400, "invalid_request", 900144, "The request body must contain grant_type.")
        form = {k: v[0] for k, v in parse_qs((await request.read()).decode()).items()}
        self.token_forms.append(form)
        if request.match_info["tenant"] != TENANT:
            return _aad(400, "invalid_tenant", 90002, "Tenant not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad(400, "unsupported_grant_type", 70003, "Unsupported grant type.")
        if form.get("client_id") != CLIENT:
            return _aad(400, "unauthorized_client", 700016, "Application not found.")
        if form.get("client_secret") != SECRET:
            return _aad(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("scope") != SCOPE:
            return _aad(400, "invalid_scope", 70011, "The provided scope is not valid.")
        token = f"eyJ0eXAi.fake-token-{len(self._tokens) + 1}.sig"
        uses = self.uses if self.uses is not None else 1 << 30
        self._tokens[token] = (time.monotonic() + self.lifetime, uses)
        body = {"token_type": "Bearer", "expires_in": int(self.lifetime), "access_token": token}
        return web.json_response(body)

    async def _rows(self, request: web.Request) -> web.Response:
        try:
            response = await self._rows_answer(request)
        finally:
            await self.changed()
        if response.status != 204:
            self.refused.append(response.status)
        return response

    async def _rows_answer(self, request: web.Request) -> web.Response:
        if request.query.get("api-version") != "2023-01-01":
            return _azure(400, "InvalidApiVersion", "api-version is missing or not supported")
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        expires, uses = self._tokens.get(token, (0.0, 0))
        if not auth.startswith("Bearer ") or time.monotonic() >= expires or uses <= 0:
            return _azure(401, "InvalidToken", "The access token is missing, invalid or expired.")
        self._tokens[token] = (expires, uses - 1)
        if request.match_info["dcr"] != DCR or request.match_info["stream"] != STREAM:
            return _azure(404, "NotFound", "Data collection rule or stream not found.")
        canned = self.canned("rows")
        if canned is not None:
            return canned
        if self.echo_auth:
            return _azure(400, "InvalidPayload", f"refused for {auth}")
        wire = await request.read()
        raw = inflate(request, wire)
        if len(wire) > LIMIT or len(raw) > LIMIT:
            return _azure(
                413,
                "ContentLengthLimitExceeded",
                f"Maximum allowed content length: {LIMIT} bytes (1 MB).",
            )
        try:
            rows = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _azure(400, "InvalidPayload", "malformed JSON")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            return _azure(400, "InvalidPayload", "the body must be a JSON array of objects")
        if any(not set(r) <= COLUMNS or "TimeGenerated" not in r for r in rows):
            return _azure(400, "InvalidPayload", "rows do not match the stream declaration")
        self.calls.append(Call(rows, len(raw), len(wire), token))
        return web.Response(status=204)
