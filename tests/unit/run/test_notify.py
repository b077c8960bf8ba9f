"""The systemd notify protocol against a real datagram socket bound by the test."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipper.run.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def test_sends_each_state_as_one_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": address})
    notifier.ready()
    notifier.reloading()
    notifier.stopping()
    notifier.close()
    ready, reloading, stopping = (sock.recv(4096).decode().split("\n") for _ in range(3))
    assert ready == ["READY=1", "STATUS=reading"]
    assert reloading[0] == "RELOADING=1"
    assert reloading[1].startswith("MONOTONIC_USEC=") and int(reloading[1].split("=")[1]) > 0
    assert stopping == ["STOPPING=1", "STATUS=stopping"]


def test_abstract_socket_address() -> None:
    name = f"shipper-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": "@" + name})
        assert notifier.send("READY=1")
        assert sock.recv(4096) == b"READY=1"
        notifier.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environ({"WATCHDOG_USEC": "1000000"})
    assert not notifier.is_enabled
    assert notifier.watchdog_seconds is None
    assert notifier.send("READY=1") is False
    notifier.ready()


@pytest.mark.parametrize(
    ("environ", "seconds"),
    [
        ({"WATCHDOG_USEC": "2000000"}, 2.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}, 2.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_from_the_environment(environ: dict[str, str], seconds: float) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": "/run/x", **environ})
    assert notifier.watchdog_seconds == seconds


async def test_keep_alive_pings_at_half_the_interval(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    sock.setblocking(False)
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "100000"})
    pinger = asyncio.create_task(notifier.keep_alive())
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(5):
            start = loop.time()
            pings = [await loop.sock_recv(sock, 4096) for _ in range(4)]
            elapsed = loop.time() - start
    finally:
        pinger.cancel()
        notifier.close()
    assert pings == [b"WATCHDOG=1"] * 4
    assert elapsed >= 3 * 0.05 * 0.9, "every 50 ms, not in a burst"


def test_a_missing_socket_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, "shipper.run.notify"):
        assert notifier.send("READY=1") is False
        notifier.stopping()
    assert len(caplog.records) == 1
    assert "cannot notify systemd" in caplog.records[0].getMessage()
    notifier.close()


def test_an_address_that_is_no_socket_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "shipper.run.notify"):
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.is_enabled
    assert "not notifying" in caplog.text
