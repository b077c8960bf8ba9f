#!/usr/bin/env python3
"""Flood control's effect: a flood of one action and a deploy approval behind it.

Runs the installed ``shipper run`` on stdin against a fake Slack on 127.0.0.1
that takes one message a second and answers 429 (``Retry-After: 1``) to the
rest, as Slack does. Input: ``--events`` failed logins (one action), then one
``deploy_approval_request.created``. For each mode it reports the messages
Slack accepted, the 429s, and the approval's delay: from writing it to shipper's
stdin until Slack accepted the message that holds it.

- ``on``: the chat default (``burst_limit = 10`` per 60 s per action).
- ``off``: ``burst_limit = 0``. The approval waits behind every batch of the
  flood; past ``--cap`` seconds the run is stopped and the delay is estimated
  from the messages still ahead of it at the rate measured so far.

Not a test: timings depend on the machine (and its load; say so with the figures).

Usage: python bench/flood.py [--events 20000] [--rounds 3] [--cap 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiohttp import web

SHIPPER = Path(sys.executable).parent / "shipper"
APPROVAL = b"deploy_approval_request.created"


class Slack:
    """One message a second; 429 to the rest."""

    def __init__(self) -> None:
        self.accepted = 0
        self.refused = 0
        self.events_ahead = 0
        self.approval_at: float | None = None
        self.approved = asyncio.Event()
        self._last: float | None = None
        self.app = web.Application()
        self.app.router.add_post("/hook", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.monotonic()
        if self._last is not None and now - self._last < 1.0:
            self.refused += 1
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": "1"})
        self._last = now
        self.accepted += 1
        if APPROVAL in body and self.approval_at is None:
            self.approval_at = now
            self.approved.set()
        return web.Response(text="ok")


def lines(events: int) -> bytes:
    flood = b"".join(
        orjson.dumps(
            {
                "action": "login.password_failed",
                "severity": "medium",
                "user": f"attacker{i % 50}",
                "context": {"ip": f"203.0.113.{i % 250}", "seq": i},
            }
        )
        + b"\n"
        for i in range(events)
    )
    approval = orjson.dumps({"action": APPROVAL.decode(), "severity": "info", "user": "alice"})
    return flood + approval + b"\n"


async def one_run(mode: str, events: int, cap: float) -> dict[str, object]:
    slack = Slack()
    runner = web.AppRunner(slack.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "shipper.toml"
        limit = "burst_limit = 0\n" if mode == "off" else ""
        config.write_text(
            f'[source]\nstate_dir = "{tmp}/state"\n[delivery]\ndrain_timeout = "5s"\n'
            f'[channels.security]\nkind = "slack"\nurl = "http://127.0.0.1:{port}/hook"\n{limit}'
        )
        env = {**os.environ, "XDG_STATE_HOME": tmp}
        proc = await asyncio.create_subprocess_exec(
            str(SHIPPER),
            "run",
            "-c",
            str(config),
            "--input",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        assert proc.stdin is not None
        proc.stdin.write(lines(events))
        await proc.stdin.drain()
        written = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(slack.approved.wait(), cap)
        elapsed = time.monotonic() - written
        accepted_by_now = slack.accepted
        proc.stdin.close()
        if slack.approval_at is None:
            proc.kill()
        await proc.wait()
    await runner.cleanup()
    messages: object = slack.accepted
    if slack.approval_at is not None:
        delay = f"{slack.approval_at - written:.1f} s"
    else:
        messages = f"{slack.accepted} in {cap:.0f} s, {-(-(events + 1) // 20)} needed"
        # Each message carries batch_max (20) events; at the rate seen so far.
        rate = accepted_by_now / elapsed
        ahead = (events + 1) / 20 - accepted_by_now
        delay = f"> {cap:.0f} s (about {(elapsed + ahead / rate) / 60:.0f} min at {rate:.2f} msg/s)"
    return {
        "mode": mode,
        "messages": messages,
        "refused_429": slack.refused,
        "approval_delay": delay,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cap", type=float, default=60.0)
    args = parser.parse_args()
    for round_ in range(args.rounds):
        for mode in ("on", "off"):
            result = await one_run(mode, args.events, args.cap)
            print(f"round {round_ + 1}: {orjson.dumps(result).decode()}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
