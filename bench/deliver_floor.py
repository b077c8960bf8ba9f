#!/usr/bin/env python3
"""The least one process can do for ``shipper run``: route, render, post; nothing else.

Reads stdin in 512 KiB chunks and routes it with shipper's own ``Intake``
(the skimming ``route`` uses), renders batches of ``batch_max`` alerts with
shipper's renderers and posts them with one ``aiohttp`` session, one
sequential worker per channel, as ``run`` does, full batches only until the
input ends (the fewest posts). It keeps no backlog on disk, saves no
position, logs nothing, never retries and holds every waiting alert in
memory: what ``run`` costs beyond this is the price of its guarantees.

``--forked`` tries the one design left for using a second core: a child
forked after the imports reads and skims stdin and pipes the lines that may
match to the parent, which parses, routes, renders and posts them. It prints
the peak proportional set size (PSS: shared pages split between the two) of
each process, since ``/usr/bin/time`` reports only the larger one.

Usage: python bench/deliver_floor.py CONFIG [--forked] < events.jsonl   (used by compare.py)
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import aiohttp
import orjson

from shipper.config.load import load_config
from shipper.config.model import ChannelConfig, Config
from shipper.routing.event import Alert
from shipper.routing.intake import Intake, Routed
from shipper.sinks import render
from shipper.sources.lines import Block, Line, LineSplitter

CHUNK_BYTES = 512 * 1024


class Deliverer:
    """A queue and a posting worker per channel."""

    def __init__(self, config: Config) -> None:
        self.channels = config.channels
        self.queues: dict[str, list[Alert]] = {c.name: [] for c in config.channels}
        self.arrived = {c.name: asyncio.Event() for c in config.channels}
        self.ended = False
        self.posts = 0
        self.on_post: Callable[[], None] = lambda: None

    def add(self, routed: Iterable[Routed]) -> None:
        for one in routed:
            for name in one.channels:
                self.queues[name].append(one.alert)
                self.arrived[name].set()

    def end(self) -> None:
        self.ended = True
        for event in self.arrived.values():
            event.set()

    async def worker(self, session: aiohttp.ClientSession, channel: ChannelConfig) -> None:
        queue, arrived = self.queues[channel.name], self.arrived[channel.name]
        while queue or not self.ended:
            # Full batches only until the input ends, as run's lingering gives when it
            # catches up: the fewest posts.
            if len(queue) < channel.delivery.batch_max and not self.ended:
                arrived.clear()
                await arrived.wait()
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
            self.posts += 1
            self.on_post()


async def deliver(config: Config) -> int:
    intake = Intake(config)
    deliverer = Deliverer(config)
    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(deliverer.worker(session, c)) for c in config.channels]
        splitter = LineSplitter(config.source.max_line_bytes)
        fd = sys.stdin.fileno()
        while chunk := await asyncio.to_thread(os.read, fd, CHUNK_BYTES):
            deliverer.add(intake.process(splitter.feed(chunk)))
        deliverer.add(intake.process(splitter.finish()))
        deliverer.end()
        await asyncio.gather(*workers)
    return deliverer.posts


def skim_stdin(intake: Intake, max_line_bytes: int, out_fd: int) -> None:
    """The forked child: write ``number<TAB>line`` for every line that may match."""
    with os.fdopen(out_fd, "wb", buffering=1 << 16) as out:
        splitter = LineSplitter(max_line_bytes)
        fd = sys.stdin.fileno()
        while chunk := os.read(fd, CHUNK_BYTES):
            for part in splitter.feed(chunk).parts:
                lines: Iterable[Line]
                if isinstance(part, Block):
                    wanted = intake.skimmer.wanted(part)
                    lines = part.lines() if wanted is None else wanted
                else:
                    lines = [part]
                for number, data in lines:
                    if data is not None:
                        out.write(b"%d\t%s\n" % (number, data))


def pss_mb(pid: int) -> int:
    """The process's PSS in MB; 0 once it has exited (the child ends before the posts)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


async def deliver_forked(config: Config) -> int:
    intake = Intake(config)
    read_end, write_end = os.pipe()
    gc.freeze()  # keep the parent's objects out of the child's copy-on-write faults
    child = os.fork()
    if child == 0:
        os.close(read_end)
        skim_stdin(intake, config.source.max_line_bytes, write_end)
        os._exit(0)
    os.close(write_end)
    deliverer = Deliverer(config)
    peaks = {"parent": 0, "child": 0}

    def sample() -> None:
        if deliverer.posts % 16 == 0:
            peaks["parent"] = max(peaks["parent"], pss_mb(os.getpid()))
            peaks["child"] = max(peaks["child"], pss_mb(child))

    deliverer.on_post = sample
    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(deliverer.worker(session, c)) for c in config.channels]
        reader = asyncio.StreamReader(limit=1 << 22)
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", 0)
        )
        rest = b""
        while data := await reader.read(1 << 18):
            *records, rest = (rest + data).split(b"\n")
            lines: list[Line] = []
            for record in records:
                number, _, line = record.partition(b"\t")
                lines.append((int(number), line))
            deliverer.add(intake.process(lines))
        deliverer.end()
        await asyncio.gather(*workers)
    await asyncio.to_thread(os.waitpid, child, 0)
    print(f"peak PSS: parent {peaks['parent']} MB, child {peaks['child']} MB", file=sys.stderr)
    return deliverer.posts


def main() -> None:
    config = load_config(Path(sys.argv[1]), os.environ)
    run = deliver_forked if "--forked" in sys.argv[2:] else deliver
    posts = asyncio.run(run(config))
    print(f"{posts} posts", file=sys.stderr)


if __name__ == "__main__":
    main()
