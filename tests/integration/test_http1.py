"""Delivery's HTTP/1.1 client against servers on 127.0.0.1 that answer byte by byte.

Each server here is a plain asyncio server scripted with the bytes a real server
sends (kept-alive and closed connections, chunked and unsized answers, interim
100s, gzip, garbage, a connection dropped halfway, an endless answer), so the
client's reading is checked against the wire, not against another client's
server. TLS is checked with a certificate made by ``openssl`` for the test.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from shipper.delivery.http1 import ConnectionFailed, Http1Client, InvalidRequest

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# A server's script that also sees the server: what it received, how many connections.
Scripted = Callable[["Server", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
DEADLINE = 10.0


class Server:
    """A scripted server: ``heads`` holds each request's head as received, ``connections``
    counts the connections accepted."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def read_request(self, reader: asyncio.StreamReader) -> bool:
        """Read one request (head and sized body); ``False`` when the client closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        self.heads.append(head)
        length = 0
        for row in head.split(b"\r\n"):
            if row.lower().startswith(b"content-length:"):
                length = int(row.split(b":", 1)[1])
        self.bodies.append(await reader.readexactly(length))
        return True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went, or the test ended: a test server has nothing to finish
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[Http1Client]:
    http = Http1Client("shipper-test/1")
    yield http
    await http.close()


async def serve(script: Scripted) -> Server:
    holder: list[Server] = []

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await script(holder[0], reader, writer)

    server = Server(run)
    holder.append(server)
    await server.start()
    return server


def answering(answer: bytes, times: int | None = None) -> Scripted:
    """Answer each request on a connection with ``answer``, ``times`` at most (else until
    the client closes), then close."""

    async def script(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        answered = 0
        while (times is None or answered < times) and await server.read_request(reader):
            writer.write(answer)
            await writer.drain()
            answered += 1

    return script


async def test_posts_reuse_one_kept_alive_connection(client: Http1Client) -> None:
    server = await serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    url = f"http://127.0.0.1:{server.port}/hook/a%20b?x=1"
    for n in range(3):
        status, body, headers = await client.request(
            "POST", url, {"Content-Type": "application/json"}, b'{"n":%d}' % n, 1000
        )
        assert (status, body, headers["content-length"]) == (200, b"ok", "2")
    assert server.connections == 1
    assert server.bodies == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    head = server.heads[0].decode()
    assert head.startswith("POST /hook/a%20b?x=1 HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n" in head
    assert "\r\nUser-Agent: shipper-test/1\r\n" in head
    assert "\r\nContent-Length: 7\r\n" in head
    assert "\r\nContent-Type: application/json\r\n" in head
    await server.close()


async def test_a_connection_the_server_closes_is_not_reused(client: Http1Client) -> None:
    # The first answer says nothing of closing; the server closes anyway, as one whose
    # idle limit passed does.
    server = await serve(answering(b"HTTP/1.1 204 No Content\r\n\r\n", times=1))
    url = f"http://127.0.0.1:{server.port}/"
    assert (await client.request("POST", url, {}, b"1", 100))[0] == 204
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while any(conn.reusable for kept in client._idle.values() for conn in kept):
        assert loop.time() < deadline, "the client never saw the server close"
        await asyncio.sleep(0.01)
    assert (await client.request("POST", url, {}, b"2", 100))[0] == 204
    assert server.connections == 2
    await server.close()


async def test_connection_close_is_honoured(client: Http1Client) -> None:
    server = await serve(
        answering(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    )
    url = f"http://127.0.0.1:{server.port}/"
    for _ in range(2):
        assert (await client.request("POST", url, {}, b"x", 100))[0] == 200
    assert server.connections == 2
    await server.close()


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            200,
            b"abcde",
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, b"until the end"),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\nlate",
            202,
            b"late",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
            % (len(gzip.compress(b'{"ok":true}')), gzip.compress(b'{"ok":true}')),
            200,
            b'{"ok":true}',
        ),
    ],
    ids=["chunked", "until-close", "interim-100", "gzip"],
)
async def test_answers_are_read_as_framed(
    client: Http1Client, answer: bytes, status: int, body: bytes
) -> None:
    server = await serve(answering(answer, times=1))
    got = await client.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"x", 1000)
    assert got[:2] == (status, body)
    await server.close()


async def test_a_kept_connection_closed_unanswered_is_retried_once_on_a_new_one(
    client: Http1Client,
) -> None:
    # The first connection answers once, then reads the next request and closes without a
    # word, as a server whose idle limit ran out while the request was on its way.
    async def answer_once(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await server.read_request(reader):
            if server.connections == 1 and len(server.bodies) == 2:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    server = await serve(answer_once)
    url = f"http://127.0.0.1:{server.port}/"
    assert (await client.request("POST", url, {}, b"1", 100))[0] == 200
    assert (await client.request("POST", url, {}, b"2", 100))[0] == 200
    assert server.bodies == [b"1", b"2", b"2"]
    assert server.connections == 2
    # A new connection closed unanswered is a failure, not retried: nothing was kept.
    silent = await serve(answering(b"", times=1))
    with pytest.raises(ConnectionFailed):
        await client.request("POST", f"http://127.0.0.1:{silent.port}/", {}, b"3", 100)
    assert silent.connections == 1
    await server.close()
    await silent.close()


async def test_a_long_answer_is_cut_at_the_cap_and_its_connection_dropped(
    client: Http1Client,
) -> None:
    async def endless(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        while True:  # until the client goes: a cap that waited for the end would hang
            writer.write(b"x" * 65536)
            await writer.drain()

    server = await serve(endless)
    async with asyncio.timeout(DEADLINE):
        status, body, _ = await client.request(
            "POST", f"http://127.0.0.1:{server.port}/", {}, b"x", 1000
        )
    assert (status, body) == (200, b"x" * 1000)
    assert not client._idle.get(("http", "127.0.0.1", server.port))
    await server.close()


@pytest.mark.parametrize(
    ("first", "repeated"),
    [(b"X-Long: ", b"a" * 1024), (b"", b"X-Many: a\r\n")],
    ids=["one-long-value", "header-after-header"],
)
async def test_headers_without_end_fail_the_request_instead_of_filling_memory(
    client: Http1Client, first: bytes, repeated: bytes
) -> None:
    async def endless_head(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n" + first)
        while True:  # until the client goes
            writer.write(repeated)
            await writer.drain()

    server = await serve(endless_head)
    with pytest.raises(ConnectionFailed, match=r"^the answer's headers were too long$"):
        async with asyncio.timeout(DEADLINE):
            await client.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"x", 100)
    await server.close()


async def test_a_large_answer_in_one_piece_is_read_whole(client: Http1Client) -> None:
    body = b"y" * 200_000  # the headers and this arrive together, in chunks past the head cap
    server = await serve(
        answering(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body), times=1)
    )
    got = await client.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"x", 300_000)
    assert got[:2] == (200, body)
    await server.close()


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (b"", "the server closed the connection without answering"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "the answer was cut short"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "the answer was not HTTP"),
    ],
    ids=["nothing", "cut-short", "not-http"],
)
async def test_a_broken_answer_is_a_failure_in_plain_words(
    client: Http1Client, answer: bytes, words: str
) -> None:
    server = await serve(answering(answer, times=1))
    with pytest.raises(ConnectionFailed) as failed:
        await client.request("POST", f"http://127.0.0.1:{server.port}/secret", {}, b"x", 100)
    assert str(failed.value) == words
    await server.close()


async def test_refused_and_unresolved_connections_say_so(
    client: Http1Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        with pytest.raises(ConnectionFailed, match=r"^connection refused$"):
            await client.request("POST", f"http://127.0.0.1:{port}/", {}, b"x", 100)

    # The system's resolver answers as it does for a name that does not exist; a real
    # lookup would leave this machine (tests never do).
    async def no_such_name(host: str, *args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", no_such_name)
    with pytest.raises(ConnectionFailed, match=r"^its name did not resolve$"):
        await client.request("POST", "http://hooks.example.invalid/", {}, b"x", 100)


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://127.0.0.1/x", {}),
        ("http:///nohost", {}),
        ("http://127.0.0.1/", {"X-Token": "a\r\nX-Forged: 1"}),
        ("http://127.0.0.1/", {"X Token": "a"}),
        ("http://127.0.0.1/", {"X-Token": "a\nb"}),
    ],
    ids=["scheme", "no-host", "crlf-value", "space-in-name", "lf-value"],
)
async def test_a_request_that_would_not_say_what_it_means_is_refused(
    client: Http1Client, url: str, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await client.request("POST", url, headers, b"x", 100)
    assert "a\r\n" not in str(refused.value) and "127.0.0.1" not in str(refused.value)


async def silent_on_the_first_connection(
    server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Read requests; answer them on every connection but the first."""
    while await server.read_request(reader):
        if server.connections == 1:
            continue
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()


@pytest.mark.parametrize("how", ["cancelled", "deadline"])
async def test_a_request_without_its_answer_in_time_leaves_no_connection_to_reuse(
    client: Http1Client, how: str
) -> None:
    server = await serve(silent_on_the_first_connection)
    url = f"http://127.0.0.1:{server.port}/"
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        if how == "cancelled":  # the caller's own scope cancels the request
            async with asyncio.timeout(0.2):
                await client.request("POST", url, {}, b"x", 100)
        else:  # the client's deadline
            await client.request("POST", url, {}, b"x", 100, within=0.2)
    assert 0.19 <= loop.time() - started < DEADLINE
    assert (await client.request("POST", url, {}, b"y", 100, within=DEADLINE))[0] == 200
    assert server.connections == 2  # the first connection was closed, not reused
    await server.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: .ci/run installs it")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_is_verified_against_the_trusted_certificates(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = Server(
        lambda r, w: answering(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nsec")(server, r, w)
    )
    await server.start(tls)
    url = f"https://127.0.0.1:{server.port}/hook"
    untrusting = Http1Client("t")
    with pytest.raises(ConnectionFailed, match=r"^its TLS certificate was refused$"):
        await untrusting.request("POST", url, {}, b"x", 100)
    await untrusting.close()
    trusting = Http1Client("t", ssl.create_default_context(cafile=str(cert)))
    for _ in range(2):
        assert (await trusting.request("POST", url, {}, b"x", 100))[:2] == (200, b"sec")
    await trusting.close()
    # One kept-alive connection: the refused handshake never reached the server's handler.
    assert server.connections == 1
    await server.close()
