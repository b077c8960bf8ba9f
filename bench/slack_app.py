#!/usr/bin/env python3
"""The Slack app kind's cost: events a second to a local fake Web API, and CPU per 1,000 events.

One process renders batches of ``batch_max`` alerts with the ``slack_app`` sink
and delivers them through the real ``Poster`` and the kind's exchange, one
after another as a channel's worker does; a child process serves a minimal
Slack Web API on 127.0.0.1 (``ok`` with a growing ``ts``), so its CPU is not
counted. Pacing is switched off (a clock that does not wait): this measures
shipper's own cost, not Slack's one message a second. Variants, run
interleaved in the same rounds: the incoming webhook kind (``slack``) as the
baseline, ``slack_app`` without threads, with ``thread_by`` where every event
is a new conversation (a committed, fsynced SQLite row a message), and with
ten conversations (a reply and a ``chat.update`` a message).

Usage: python bench/slack_app.py [--events 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.config.severity import Severity
from shipper.delivery.poster import Poster
from shipper.routing.event import Alert
from shipper.sinks import sink_for
from shipper.sinks.answers import Delivered
from shipper.sinks.slack_app import SlackAppSettings

TOKEN = "xoxb-1-2-benchmarktoken"


def serve(port: int) -> None:
    counter = itertools.count(1)

    async def method(request: web.Request) -> web.Response:
        await request.read()
        if request.match_info["method"] == "hook":
            return web.Response(text="ok")
        return web.json_response(
            {"ok": True, "channel": "C0BENCH001", "ts": f"1.{next(counter):06d}"}
        )

    app = web.Application()
    app.router.add_route("*", "/api/{method}", method)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class NoWait:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


def alerts(n: int, conversations: int | None) -> list[Alert]:
    out = []
    for i in range(n):
        key = f"req-{i if conversations is None else i % conversations}"
        action = "deploy_approval_request.created"
        raw = {"action": action, "context": {"request_id": key, "i": i}}
        out.append(
            Alert(
                i + 1,
                raw,
                action,
                Severity.HIGH,
                "bob@example.com",
                "pending",
                "2026-12-01T14:02:00Z",
                (("request_id", key), ("service", "payments")),
            )
        )
    return out


async def deliver(
    channel: ChannelConfig, batch: Sequence[Alert], state: Path
) -> tuple[float, float, int]:
    sink = sink_for(channel)
    async with Poster(clock=NoWait(), state_dir=state) as poster:
        start, cpu = time.perf_counter(), time.process_time()
        todo, messages = list(batch), 0
        while todo:
            rendered = sink.render(channel, todo[: channel.delivery.batch_max])
            outcome = await poster.post(channel, sink, rendered)
            assert isinstance(outcome, Delivered), outcome.reason
            del todo[: rendered.count]
            messages += 1
        return time.perf_counter() - start, time.process_time() - cpu, messages


def variants(url: str) -> dict[str, tuple[ChannelConfig, int | None]]:
    delivery = DeliveryConfig(timeout=10.0, batch_max=20)

    def app(thread_by: tuple[str, ...] | None) -> ChannelConfig:
        settings = SlackAppSettings(TOKEN, "C0BENCH001", url, thread_by)
        return ChannelConfig("bench", "slack_app", None, delivery=delivery, settings=settings)

    by = ("context", "request_id")
    return {
        "slack (webhook)": (
            ChannelConfig("bench", "slack", f"{url}/hook", delivery=delivery),
            None,
        ),
        "slack_app": (app(None), None),
        "slack_app thread_by, new threads": (app(by), None),
        "slack_app thread_by, 10 threads": (app(by), 10),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    time.sleep(1.0)  # the child binds its port; a benchmark, not a test
    url = f"http://127.0.0.1:{port}/api"
    results: dict[str, list[tuple[float, float, int]]] = {}
    try:
        for _ in range(args.rounds):
            for name, (channel, conversations) in variants(url).items():
                with tempfile.TemporaryDirectory() as state:
                    batch = alerts(args.events, conversations)
                    results.setdefault(name, []).append(
                        asyncio.run(deliver(channel, batch, Path(state) / "kinds"))
                    )
    finally:
        server.terminate()
    print(f"{args.events} events, {args.rounds} rounds (median); shared machine, pacing off")
    print(f"{'variant':36} {'events/s':>9} {'msgs':>6} {'CPU ms/1000 ev':>15}")
    for name, runs in results.items():
        wall = sorted(r[0] for r in runs)[len(runs) // 2]
        cpu = sorted(r[1] for r in runs)[len(runs) // 2]
        print(
            f"{name:36} {args.events / wall:9.0f} {runs[0][2]:6d} {cpu * 1e6 / args.events:15.1f}"
        )


if __name__ == "__main__":
    main()
