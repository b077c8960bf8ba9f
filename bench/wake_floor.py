#!/usr/bin/env python3
"""Python's floor for reading a live log one write at a time, beside ``shipper run``'s own cost.

A live log is written a line or two at a time, and a tail that reads each write
as it comes wakes once per write. This measures what the wake-ups alone cost in
Python, with none of shipper's work: two bare readers of the same growing file,
each in a process of its own, each run while a writer appends RATE lines a
second (``bench/gen_audit.py`` lines, a line or two per write, as
``bench/peer/run.py`` does):

- ``thread``: a thread blocked in ``read`` on an inotify descriptor, then
  ``fstat``, ``pread`` and a split into lines, and an orjson parse of the lines
  that hold ``"severity":"high"``;
- ``asyncio``: the same work in a callback of an event loop's ``add_reader``;
- ``post``: the thread's reading, and each line whose action one of
  ``config.example.toml``'s channels names (an ``fnmatch`` of its globs) posted
  at once as JSON by ``aiohttp`` from an event loop, to ``bench/peer``'s local
  fake: the least a Python shipper that reads every write and posts every alert
  at once can cost, with no backlog, no position and no log.

It prints each reader's CPU as a percentage of one core (user and system, from
when it is ready to read, its imports left out), and the writes made. Compare
with the reading thread's share in ``bench/peer/run.py``'s per-thread figures.

Usage: python bench/wake_floor.py [--rate 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent

READER = r"""
import asyncio, ctypes, fnmatch, os, re, resource, sys, threading, time
import orjson

path, seconds, mode, port = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
globs = sys.argv[5:]
libc = ctypes.CDLL(None, use_errno=True)
blocking = mode != "asyncio"
wanted = re.compile("|".join(fnmatch.translate(g) for g in globs) or "(?!)").match
hand_over = None  # in post mode: gives the loop the alerts of one read
ifd = libc.inotify_init1(os.O_CLOEXEC | (0 if blocking else os.O_NONBLOCK))
libc.inotify_add_watch(ifd, os.fsencode(os.path.dirname(path)), 0x002)
fd = os.open(path, os.O_RDONLY)
state = {"offset": 0, "rest": b"", "lines": 0}


def read_new() -> None:
    size = os.fstat(fd).st_size
    if size <= state["offset"]:
        return
    data = state["rest"] + os.pread(fd, size - state["offset"], state["offset"])
    state["offset"] = size
    lines = data.split(b"\n")
    state["rest"] = lines.pop()
    alerts = []
    for line in lines:
        if hand_over is None:
            if b'"severity":"high"' in line:
                orjson.loads(line)
            continue
        at = line.find(b'"action":"')
        if at >= 0 and wanted(line[at + 10 : line.find(b'"', at + 10)].decode()):
            alerts.append(orjson.loads(line))
    if alerts:
        hand_over(alerts)
    state["lines"] += len(lines)


def in_thread() -> None:
    while True:
        os.read(ifd, 65536)
        read_new()


def on_readable() -> None:
    try:
        os.read(ifd, 65536)
    except BlockingIOError:
        return
    read_new()


async def post_all(seconds: float) -> None:
    import aiohttp

    global hand_over
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[list[object]] = asyncio.Queue()
    hand_over = lambda alerts: loop.call_soon_threadsafe(queue.put_nowait, alerts)
    url = f"http://127.0.0.1:{port}/hook/floor"
    headers = {"Content-Type": "application/json"}

    async def poster(session: aiohttp.ClientSession) -> None:
        while True:
            alerts = await queue.get()
            async with session.post(url, data=orjson.dumps(alerts), headers=headers) as answer:
                await answer.read()
            state["posts"] = state.get("posts", 0) + 1

    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(poster(session))
        start()
        await asyncio.sleep(seconds)
        task.cancel()


before = resource.getrusage(resource.RUSAGE_SELF)


def start() -> None:
    global before
    before = resource.getrusage(resource.RUSAGE_SELF)
    print("ready", flush=True)
    threading.Thread(target=in_thread, daemon=True).start()


if mode == "post":
    asyncio.run(post_all(seconds))
elif blocking:
    print("ready", flush=True)
    threading.Thread(target=in_thread, daemon=True).start()
    time.sleep(seconds)
else:
    async def main() -> None:
        print("ready", flush=True)
        asyncio.get_running_loop().add_reader(ifd, on_readable)
        await asyncio.sleep(seconds)

    asyncio.run(main())
after = resource.getrusage(resource.RUSAGE_SELF)
used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(f"{used / seconds * 100:.2f} {state['lines']} {state.get('posts', 0)}", flush=True)
"""


def write_live(path: Path, source: list[bytes], rate: int, seconds: float) -> int:
    """Append ``rate`` lines a second for ``seconds``, a line or two per write; the writes."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    total, sent, writes = int(rate * seconds), 0, 0
    start = time.monotonic()
    try:
        while sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            os.write(fd, b"".join(source[i % len(source)] for i in range(sent, due)))
            sent, writes = due, writes + 1
            time.sleep(0.001)
    finally:
        os.close(fd)
    return writes


def example_globs() -> list[str]:
    """The action globs of ``config.example.toml``'s channels (a channel without any takes
    every action, which a floor of this workload need not mimic)."""
    config = tomllib.loads((HERE.parent / "config.example.toml").read_text())
    channels = config.get("channels", {})
    return sorted({g for channel in channels.values() for g in channel.get("actions", [])})


def measure(
    mode: str, source: list[bytes], rate: int, seconds: float, port: int
) -> tuple[float, int, int, int]:
    with tempfile.TemporaryDirectory(prefix="wake-floor-") as tmp:
        path = Path(tmp) / "audit.jsonl"
        path.touch()
        argv = [str(path), str(seconds + 0.5), mode, str(port), *example_globs()]
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, *argv],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout is not None
        reader.stdout.readline()  # "ready"
        writes = write_live(path, source, rate, seconds)
        cpu, lines, posts = reader.stdout.readline().split()
        reader.wait()
        return float(cpu), int(lines), writes, int(posts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not hasattr(ctypes.CDLL(None), "inotify_init1"):
        sys.exit("inotify is not available here")
    corpus = subprocess.run(
        [sys.executable, str(HERE / "gen_audit.py"), str(args.rate * 5), "--seed", "2"],
        capture_output=True,
        check=True,
    ).stdout.splitlines(keepends=True)
    fake = subprocess.Popen(
        [sys.executable, str(HERE / "peer" / "fake_bulk.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert fake.stdout is not None
        port = int(fake.stdout.readline())
        for mode in ("thread", "asyncio", "post"):
            cpu, lines, writes, posts = measure(mode, corpus, args.rate, args.seconds, port)
            made = f", {posts} posts" if mode == "post" else ""
            print(f"{mode:8} {cpu:5.2f}% of one core ({lines} lines read, {writes} writes{made})")
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    main()
