"""Run the installed ``shipper`` console script in a subprocess, as a user would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config.example.toml"
SAMPLE = ROOT / "examples" / "audit-sample.jsonl"
SHIPPER = Path(sys.executable).parent / "shipper"

# Variables the example config reads; the tests pass them explicitly when they need them.
WEBHOOK_VARS = (
    "SLACK_SECURITY_WEBHOOK_URL",
    "TEAMS_INFRA_WEBHOOK_URL",
    "SLACK_DEPLOY_APPROVALS_WEBHOOK_URL",
    "SHIPPER_CONFIG",
)


def clean_env(extra: Mapping[str, str] | None = None, state: Path | None = None) -> dict[str, str]:
    """The test's environment without any webhook variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in WEBHOOK_VARS}
    if state is not None:
        env["XDG_STATE_HOME"] = str(state)
        env.pop("STATE_DIRECTORY", None)
    env.update(extra or {})
    return env


def shipper(
    *args: str,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``shipper ARGS`` to completion and return what it printed."""
    return subprocess.run(
        [str(SHIPPER), *args],
        input=stdin,
        capture_output=True,
        env=dict(env) if env is not None else clean_env(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


async def spawn(
    *args: str,
    env: Mapping[str, str],
    stdin: int = asyncio.subprocess.PIPE,
    stdout: int = asyncio.subprocess.PIPE,
    preexec: Callable[[], None] | None = None,
) -> asyncio.subprocess.Process:
    """Start ``shipper ARGS`` with stderr piped, without blocking the event loop (a fake
    webhook served by the same loop keeps answering)."""
    return await asyncio.create_subprocess_exec(
        str(SHIPPER),
        *args,
        stdin=stdin,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        preexec_fn=preexec,
    )


async def run_async(
    *args: str,
    env: Mapping[str, str],
    stdin: bytes = b"",
    deadline: float = 60,
    preexec: Callable[[], None] | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ``shipper ARGS`` to completion on ``stdin``; its status, stdout and stderr."""
    proc = await spawn(*args, env=env, preexec=preexec)
    out, err = await asyncio.wait_for(proc.communicate(stdin), deadline)
    assert proc.returncode is not None
    return proc.returncode, out, err


async def start_run(
    config: Path, env: Mapping[str, str], *args: str
) -> tuple[asyncio.subprocess.Process, bytes]:
    """Start ``shipper run -c CONFIG`` with pipes; return it once it logged that it started
    (its signal handlers are set from then on), with what it logged until then."""
    proc = await spawn("run", "-c", str(config), *args, env=env)
    return proc, await read_until(proc, b"started: reading", deadline=20)


async def read_until(
    proc: asyncio.subprocess.Process, needle: bytes, deadline: float = 10
) -> bytes:
    """Read stderr lines until one contains ``needle``; returns what was read."""
    assert proc.stderr is not None
    seen = b""
    async with asyncio.timeout(deadline):
        while needle not in seen:
            line = await proc.stderr.readline()
            assert line, f"stderr closed before {needle!r}: {seen.decode()}"
            seen += line
    return seen


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class StderrWatch:
    """Reads a running process's stderr in the background (a chatty run must never block on
    a full pipe) and lets a test wait, with a deadline, for what it logs."""

    def __init__(self, proc: asyncio.subprocess.Process, seen: bytes = b"") -> None:
        assert proc.stderr is not None
        self.text = seen
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read(proc.stderr))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            async with self._changed:
                self.text += line
                self._changed.notify_all()

    async def wait_for(self, needle: bytes, count: int = 1, deadline: float = 10) -> None:
        """Return once ``needle`` was logged ``count`` times; fail after ``deadline`` s."""
        try:
            async with asyncio.timeout(deadline), self._changed:
                await self._changed.wait_for(lambda: self.text.count(needle) >= count)
        except TimeoutError:
            raise AssertionError(f"{needle!r} not logged {count}x: {self.text.decode()}") from None

    async def finish(self) -> bytes:
        """Everything logged, once the process closed its stderr."""
        await asyncio.wait_for(self._reader, 20)
        return self.text


async def start_watched(
    config: Path, env: Mapping[str, str], *args: str
) -> tuple[asyncio.subprocess.Process, StderrWatch]:
    """``start_run``, with its stderr read from then on by a ``StderrWatch``."""
    proc, seen = await start_run(config, env, *args)
    return proc, StderrWatch(proc, seen)


async def stop_watched(proc: asyncio.subprocess.Process, watch: StderrWatch) -> tuple[int, bytes]:
    """SIGTERM, then the exit status and everything it logged."""
    proc.send_signal(signal.SIGTERM)
    status = await asyncio.wait_for(proc.wait(), 20)
    return status, await watch.finish()
