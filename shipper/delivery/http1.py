"""Delivery's HTTP/1.1 client: one request at a time per connection, connections kept
alive per origin, answers parsed by httptools.

At a sidecar's rate every alert is a post of its own, and a general client's work per
request is paid at each one: aiohttp's took about a quarter of the CPU of a process
that reads a live log and posts each alert (docs/development.md#dependencies).
Delivery needs little of it: a request line and headers prepared once per URL and
headers, an answer parsed by httptools (llhttp, the parser Node.js uses), the body
kept up to a cap, and a connection reused while the server keeps it open. What it
does not do, on purpose: follow redirects (a redirect would resend the event
somewhere unchecked), cookies, proxies, HTTP/2.

Failures are ``ConnectionFailed`` with a reason in plain words that never holds the
URL, ``InvalidRequest`` for a URL or header that cannot be sent, or ``TimeoutError``
once a request's time (``within``, connecting included) is up. A connection whose
request did not finish is closed, never reused.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import re
import socket
import ssl
import time
import zlib
from collections.abc import Mapping

import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# Idle connections older than this are closed rather than reused: servers close theirs
# after 5 s (Node.js's default) to 75 s (nginx's), and a post on a connection the
# server is closing fails.
KEEP_IDLE_SECONDS = 4.0
IDLE_PER_ORIGIN = 8  # kept connections per origin; more concurrent posts open more
# An answer's status line and headers longer than this fail the request: llhttp buffers
# nothing itself, so a server sending headers without end would otherwise fill memory.
MAX_HEAD_BYTES = 64 * 1024
# What one read off a connection takes at most, into a buffer of the connection's own:
# asyncio would otherwise allocate 256 KiB (an mmap) at each read for a 200-byte answer.
RECEIVE_BYTES = 16 * 1024

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNANSWERED = "the server closed the connection without answering"

Origin = tuple[str, str, int]  # scheme, host, port


class InvalidRequest(ValueError):
    """The URL or a header cannot be sent; the message never holds the URL."""


class ConnectionFailed(Exception):
    """No complete answer came; ``str()`` is the reason in plain words, without the URL.

    ``unanswered``: the connection closed before a byte of the answer arrived.
    """

    def __init__(self, words: str, *, unanswered: bool = False) -> None:
        super().__init__(words)
        self.unanswered = unanswered


class Http1Client:
    """Requests over kept-alive HTTP/1.1 connections; ``close`` ends every connection."""

    def __init__(self, user_agent: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self._user_agent = user_agent
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._busy: set[_Connection] = set()

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        max_answer: int,
        within: float = 30.0,
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """Send one request; its status, body (at most ``max_answer`` bytes, decoded
        from gzip or deflate if the server encoded it) and headers. Raises
        ``TimeoutError`` when all of it takes longer than ``within`` seconds."""
        origin, prefix = _prepared(method, url, tuple(headers.items()), self._user_agent)
        if data is not None or method in ("POST", "PUT", "PATCH"):
            prefix += b"Content-Length: %d\r\n" % len(data or b"")
        head = prefix + b"\r\n"
        deadline = asyncio.get_running_loop().time() + within
        conn = self._idle_connection(origin)
        if conn is not None:
            try:
                return await self._exchange(origin, conn, head, data, max_answer, deadline)
            except ConnectionFailed as exc:
                # A kept connection the server closed as the request went out: it never
                # read the request, so it goes again at once on a new connection, where the
                # worker would have sent it again after a backoff.
                if not exc.unanswered:
                    raise
        async with asyncio.timeout_at(deadline):
            conn = await self._connect(origin)
        return await self._exchange(origin, conn, head, data, max_answer, deadline)

    async def _exchange(
        self,
        origin: Origin,
        conn: _Connection,
        head: bytes,
        data: bytes | None,
        cap: int,
        deadline: float,
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        self._busy.add(conn)
        try:
            return await conn.exchange(head, data, cap, deadline)
        finally:
            self._busy.discard(conn)
            kept = self._idle.setdefault(origin, [])
            if conn.reusable and len(kept) < IDLE_PER_ORIGIN:
                conn.idle_since = time.monotonic()
                kept.append(conn)
            else:
                conn.close()

    async def close(self) -> None:
        """Close every connection, idle or in use."""
        for kept in self._idle.values():
            for conn in kept:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()
        await asyncio.sleep(0)  # a closed transport lets go of its socket at the next turn

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        kept = self._idle.get(origin)
        now = time.monotonic()
        while kept:
            conn = kept.pop()
            if conn.reusable and now - conn.idle_since < KEEP_IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        tls = self._tls() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                _Connection,
                host,
                port,
                ssl=tls,
                server_hostname=host if tls is not None else None,
                happy_eyeballs_delay=0.25,
            )
        except ssl.SSLCertVerificationError as exc:
            raise ConnectionFailed("its TLS certificate was refused") from exc
        except ssl.SSLError as exc:
            raise ConnectionFailed("the TLS handshake failed") from exc
        except OSError as exc:
            raise ConnectionFailed(_os_words(exc)) from exc
        return conn

    def _tls(self) -> ssl.SSLContext:
        # Made at the first https post: loading the system's CAs takes milliseconds, and
        # ``SSL_CERT_FILE``/``SSL_CERT_DIR`` name another store, as for any OpenSSL program.
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl


class _Connection(asyncio.BufferedProtocol):
    """One connection: a request written, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.idle_since = 0.0
        self._buffer = memoryview(bytearray(RECEIVE_BYTES))
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._open = True
        self._keep_alive = False
        self._waiting: asyncio.Future[None] | None = None
        self._received = False  # a byte of the current answer arrived
        self._head_bytes = 0  # bytes received before the answer's headers ended
        self._headers_done = False
        self._until_close = False  # the answer has no length: it ends with the connection
        self._status = 0
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body: list[bytes] = []
        self._size = 0
        self._cap = 0

    @property
    def reusable(self) -> bool:
        """Open, idle and willing: the last answer was whole and asked to keep it."""
        return (
            self._open
            and self._keep_alive
            and self._waiting is None
            and self._transport is not None
            and not self._transport.is_closing()
        )

    async def exchange(
        self, head: bytes, data: bytes | None, max_answer: int, deadline: float
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """Write a request and wait for its answer until ``deadline`` (loop time)."""
        assert self._transport is not None and self._waiting is None
        if not self._open:
            raise ConnectionFailed(_UNANSWERED, unanswered=True)
        loop = asyncio.get_running_loop()
        self._waiting = loop.create_future()
        # A timer of the loop's own, not an ``asyncio.timeout`` scope: this runs at every
        # post, and the scope costs several times more.
        timer = loop.call_at(deadline, self._time_out)
        self._keep_alive = self._received = self._until_close = self._headers_done = False
        self._head_bytes = 0
        self._status, self._size, self._cap = 0, 0, max_answer
        self._headers, self._body = CIMultiDict(), []
        self._transport.write(head + data if data else head)
        try:
            await self._waiting
        finally:
            timer.cancel()
            # Cancelled or failed before the answer was whole: the connection is unusable.
            waiting = self._waiting
            if not waiting.done() or waiting.cancelled() or waiting.exception() is not None:
                self._keep_alive = False
            self._waiting = None
        body = b"".join(self._body)
        coding = self._headers.get("Content-Encoding", "").strip().lower()
        if coding in ("gzip", "deflate") and body:
            body = _decompressed(body, coding, max_answer)
        return self._status, body, CIMultiDictProxy(self._headers)

    def _time_out(self) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_exception(TimeoutError())
        self.close()

    def close(self) -> None:
        self._open = False
        self._keep_alive = False
        if self._transport is not None:
            self._transport.close()

    # --- asyncio's protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self._waiting is None or self._waiting.done():
            # An answer nobody asked for: what follows on this connection is unreliable.
            self.close()
            return
        self._received = True
        try:
            # The parser's callbacks copy what they keep: the buffer is read into again.
            self._parser.feed_data(self._buffer[:nbytes])
        except httptools.HttpParserError as exc:
            self._fail("the answer was not HTTP", exc)
            return
        if not self._headers_done:
            self._head_bytes += nbytes
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail("the answer's headers were too long", None)

    def eof_received(self) -> bool | None:
        self._open = False
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._open = False
        self._keep_alive = False
        if self._waiting is None or self._waiting.done():
            return
        if self._until_close and self._status:
            self._waiting.set_result(None)
        elif self._received:
            self._fail("the answer was cut short", exc)
        else:
            self._fail(_UNANSWERED, exc, unanswered=True)

    # --- httptools' callbacks --------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._headers_done:
            return  # a chunked answer's trailer: nothing here reads one
        self._headers.add(name.decode("latin-1"), value.decode("utf-8", "replace"))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        if 100 <= self._status < 200:
            return  # an interim answer (100 Continue): the real one follows
        self._headers_done = True
        self._until_close = (
            "Content-Length" not in self._headers
            and "Transfer-Encoding" not in self._headers
            and self._status not in (204, 304)
        )

    def on_body(self, body: bytes) -> None:
        room = self._cap - self._size
        if room <= 0:
            return
        self._body.append(body[:room])
        self._size += min(room, len(body))
        if self._size >= self._cap and self._waiting is not None:
            # The cap is reached: the rest is not read, so the connection is not reused.
            self._keep_alive = False
            self._open = False
            if not self._waiting.done():
                self._waiting.set_result(None)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            self._headers, self._status = CIMultiDict(), 0
            return
        if self._waiting is None or self._waiting.done():
            return
        self._keep_alive = self._open and self._parser.should_keep_alive()
        self._waiting.set_result(None)

    def _fail(self, words: str, cause: BaseException | None, *, unanswered: bool = False) -> None:
        self.close()
        if self._waiting is not None and not self._waiting.done():
            error = ConnectionFailed(words, unanswered=unanswered)
            error.__cause__ = cause
            self._waiting.set_exception(error)


@functools.lru_cache(maxsize=128)
def _prepared(
    method: str, url: str, headers: tuple[tuple[str, str], ...], user_agent: str
) -> tuple[Origin, bytes]:
    """The origin to connect to, and the request line and headers up to the body's length,
    checked: a header that would split the request is refused, not sent. The same few
    requests are made again and again, so each is prepared once."""
    try:
        target = URL(url)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest("its URL is not a valid URL") from exc
    if target.scheme not in _DEFAULT_PORTS or not target.raw_host:
        raise InvalidRequest("its URL is not an http or https URL with a host")
    rows = [
        f"{method} {target.raw_path_qs or '/'} HTTP/1.1",
        f"Host: {target.host_port_subcomponent}",
    ]
    given = {name.lower() for name, _ in headers}
    if "user-agent" not in given:
        rows.append(f"User-Agent: {user_agent}")
    if "accept" not in given:
        rows.append("Accept: */*")
    if target.raw_user is not None and "authorization" not in given:
        pair = f"{target.user or ''}:{target.password or ''}".encode()
        rows.append(f"Authorization: Basic {base64.b64encode(pair).decode()}")
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise InvalidRequest(f"its header {name[:40]!r} cannot be sent as it is")
        if name.lower() not in ("content-length", "host", "transfer-encoding"):
            rows.append(f"{name}: {value}")
    rows.append("")
    origin = (target.scheme, target.raw_host, target.port or _DEFAULT_PORTS[target.scheme])
    return origin, "\r\n".join(rows).encode("utf-8")


def _decompressed(body: bytes, coding: str, cap: int) -> bytes:
    # 47: a gzip or zlib header, whichever it is; -15: raw deflate, which some servers send.
    for wbits in (47, -15) if coding == "deflate" else (47,):
        try:
            return zlib.decompressobj(wbits).decompress(body, cap)
        except zlib.error:
            continue
    return body  # not what it says it is: shown to the sink as it came


def _os_words(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "its name did not resolve"
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return f"the connection failed ({type(exc).__name__})"
