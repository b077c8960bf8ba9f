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
- ``asyncio``: the same work in a callback of an event loop's ``add_reader``.

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
from pathlib import Path

HERE = Path(__file__).resolve().parent

READER = r"""
import asyncio, ctypes, os, resource, sys, threading, time
import orjson

path, seconds, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
blocking = mode == "thread"
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
    for line in lines:
        if b'"severity":"high"' in line:
            orjson.loads(line)
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


before = resource.getrusage(resource.RUSAGE_SELF)
print("ready", flush=True)
if blocking:
    threading.Thread(target=in_thread, daemon=True).start()
    time.sleep(seconds)
else:
    async def main() -> None:
        asyncio.get_running_loop().add_reader(ifd, on_readable)
        await asyncio.sleep(seconds)

    asyncio.run(main())
after = resource.getrusage(resource.RUSAGE_SELF)
used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(f"{used / seconds * 100:.2f} {state['lines']}", flush=True)
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


def measure(mode: str, source: list[bytes], rate: int, seconds: float) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory(prefix="wake-floor-") as tmp:
        path = Path(tmp) / "audit.jsonl"
        path.touch()
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(path), str(seconds + 0.5), mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout is not None
        reader.stdout.readline()  # "ready"
        writes = write_live(path, source, rate, seconds)
        cpu, lines = reader.stdout.readline().split()
        reader.wait()
        return float(cpu), int(lines), writes


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
    for mode in ("thread", "asyncio"):
        cpu, lines, writes = measure(mode, corpus, args.rate, args.seconds)
        print(f"{mode:8} {cpu:5.2f}% of one core ({lines} lines read, {writes} writes)")


if __name__ == "__main__":
    main()
