"""The metrics server's limits: the connection cap and lifetime of ``ConnectionGuard`` (on real
sockets on 127.0.0.1), one request per connection, the loopback check, the cap under an
open-files limit, and raising that limit at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from shipper.ops.server import (
    LISTEN_BACKLOG,
    MAX_CONNECTIONS,
    RESERVED_FILES,
    ConnectionGuard,
    StatusServer,
    connection_cap,
    is_loopback,
)
from shipper.ops.status import SourceState, Status
from shipper.routing.intake import IntakeStats
from shipper.run.lifecycle import LOW_OPEN_FILES, raise_open_files_limit
from tests.e2e.cli import free_port


class Quiet(asyncio.Protocol):
    """A server-side protocol that never answers: what aiohttp's handler is to an idle client."""


@contextlib.asynccontextmanager
async def guarded_server(guard: ConnectionGuard) -> AsyncIterator[int]:
    server = await asyncio.get_running_loop().create_server(guard, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        guard.close_all()


async def until_open(guard: ConnectionGuard, count: int) -> None:
    async with asyncio.timeout(5):
        while True:
            if guard.open_count >= count:
                return
            await asyncio.sleep(0.01)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    with contextlib.suppress(ConnectionError):
        return await reader.read() == b""
    return True


async def test_a_connection_beyond_the_cap_closes_the_oldest() -> None:
    guard = ConnectionGuard(Quiet, cap=3, lifetime=3600)
    async with guarded_server(guard) as port:
        clients = []
        for _ in range(5):
            clients.append(await asyncio.open_connection("127.0.0.1", port))
            # Accepted in the order they were made, so "oldest" is well defined.
            await until_open(guard, min(len(clients), 3))
        async with asyncio.timeout(5):
            assert await closed_by_server(clients[0][0])
            assert await closed_by_server(clients[1][0])
        assert guard.open_count == 3
        for reader, _ in clients[2:]:
            assert not reader.at_eof()
        for _, writer in clients:
            writer.close()


async def test_every_connection_is_closed_when_its_time_is_up() -> None:
    guard = ConnectionGuard(Quiet, cap=10, lifetime=0.2)
    async with guarded_server(guard) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHo")  # headers that never end
        async with asyncio.timeout(5):
            assert await closed_by_server(reader)
        assert guard.open_count == 0
        writer.close()


async def test_close_all_closes_what_is_open() -> None:
    guard = ConnectionGuard(Quiet, cap=10, lifetime=3600)
    async with guarded_server(guard) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await until_open(guard, 1)
        guard.close_all()
        async with asyncio.timeout(5):
            assert await closed_by_server(reader)
        writer.close()


def a_status() -> Status:
    return Status(
        source="stdin", state=SourceState.READING, intake=IntakeStats(), channels=(), now=0.0
    )


async def test_the_status_server_answers_one_request_per_connection() -> None:
    port = free_port()
    server = StatusServer(("127.0.0.1", port), a_status, lambda: 300.0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/livez", "/healthz", "/metrics", "/nope"):
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    await response.read()
                    assert response.headers["Connection"] == "close", path
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("metrics.example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_the_cap_leaves_the_pipeline_its_files() -> None:
    assert connection_cap(1 << 20) == MAX_CONNECTIONS
    assert connection_cap(256) == MAX_CONNECTIONS
    for limit in (180, 200, 220):
        cap = connection_cap(limit)
        assert cap < MAX_CONNECTIONS
        assert cap + 2 * LISTEN_BACKLOG + RESERVED_FILES <= limit
    assert connection_cap(64) == 4, "a few probes still get in"


@pytest.fixture
def open_files() -> Iterator[tuple[int, int]]:
    """The test process's limit, put back afterwards."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield before
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_the_soft_open_files_limit_is_raised_to_the_hard_one(
    open_files: tuple[int, int],
) -> None:
    _, hard = open_files
    if hard == resource.RLIM_INFINITY or hard < 512:
        pytest.skip(f"needs a finite hard limit of 512 or more, not {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))
    assert raise_open_files_limit() == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)


def test_a_limit_that_cannot_be_raised_stays_and_a_low_one_is_warned_about(
    open_files: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, hard = open_files
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_OPEN_FILES // 2, hard))

    def refused(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(resource, "setrlimit", refused)
    with caplog.at_level(logging.WARNING, "shipper.run.lifecycle"):
        assert raise_open_files_limit() == LOW_OPEN_FILES // 2
    assert f"the open files limit is {LOW_OPEN_FILES // 2}" in caplog.text
    assert "LimitNOFILE=" in caplog.text
