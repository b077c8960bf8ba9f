#!/usr/bin/env python3
"""The least one process can do for ``shipper run``: route, render, post; nothing else.

Reads stdin in 512 KiB chunks and routes it with shipper's own ``Intake``
(the skimming ``route`` uses), renders batches of ``batch_max`` alerts with
shipper's renderers and posts them with one ``aiohttp`` session, one
sequential worker per channel, as ``run`` does, full batches only until the
input ends (the fewest posts). It keeps no backlog on disk,
saves no position, logs nothing, never retries and holds every waiting alert
in memory: what ``run`` costs beyond this is the price of its guarantees.

Usage: python bench/deliver_floor.py CONFIG < events.jsonl   (used by compare.py)
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import orjson

from shipper.config import ChannelConfig, load_config
from shipper.event import Alert
from shipper.formats import render
from shipper.intake import Intake
from shipper.sources.lines import LineSplitter

CHUNK_BYTES = 512 * 1024


async def deliver(config_path: Path) -> int:
    config = load_config(config_path, os.environ)
    intake = Intake(config)
    queues: dict[str, list[Alert]] = {c.name: [] for c in config.channels}
    arrived = {c.name: asyncio.Event() for c in config.channels}
    ended = False
    posts = 0

    async def worker(session: aiohttp.ClientSession, channel: ChannelConfig) -> None:
        nonlocal posts
        queue = queues[channel.name]
        while queue or not ended:
            # Full batches only until the input ends, as run's lingering gives when it
            # catches up: the fewest posts.
            if len(queue) < channel.delivery.batch_max and not ended:
                arrived[channel.name].clear()
                await arrived[channel.name].wait()
                continue
            rendered = render(channel, queue[: channel.delivery.batch_max])
            assert channel.url is not None
            async with session.post(
                channel.url,
                data=orjson.dumps(rendered.payload),
                headers={"Content-Type": "application/json"},
            ) as answer:
                await answer.read()
                if answer.status >= 300:
                    raise SystemExit(f"{channel.name}: HTTP {answer.status}")
            del queue[: rendered.count]
            posts += 1

    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(worker(session, c)) for c in config.channels]
        splitter = LineSplitter(config.source.max_line_bytes)
        fd = sys.stdin.fileno()
        while chunk := await asyncio.to_thread(os.read, fd, CHUNK_BYTES):
            for routed in intake.process(splitter.feed(chunk)):
                for name in routed.channels:
                    queues[name].append(routed.alert)
                    arrived[name].set()
        for routed in intake.process(splitter.finish()):
            for name in routed.channels:
                queues[name].append(routed.alert)
        ended = True
        for event in arrived.values():
            event.set()
        await asyncio.gather(*workers)
    return posts


def main() -> None:
    posts = asyncio.run(deliver(Path(sys.argv[1])))
    print(f"{posts} posts", file=sys.stderr)


if __name__ == "__main__":
    main()
