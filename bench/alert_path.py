#!/usr/bin/env python3
"""What one alert costs ``shipper run``, thread by thread, without the noise of the machine.

At a sidecar's steady rate most of shipper's CPU goes to the alerts, one post each,
and a shared machine's noise hides a change of a few per cent in it. This runs the
real ``shipper run`` under callgrind (an exact instruction count) on a live log that
``bench/peer``'s fake webhook receives, and writes one alert of ``config.example.toml``
at a time: each write waits until the one before was delivered, then for the next
tick, so every alert is read, stored, posted and answered alone, as at a sidecar's
rate, and the same work happens in every run.

Run it twice with two alert counts; the difference per alert leaves out the imports,
the start and the stop (the timers that fire once a tick are counted in every alert):

    python bench/alert_path.py 40
    python bench/alert_path.py 80

It prints the instructions of each thread (the event loop's first) and their total.
Compare builds by putting another checkout's ``shipper`` first on ``PYTHONPATH``.
valgrind must be installed (Debian's ``valgrind``).

Usage: python bench/alert_path.py ALERTS [--tick SECONDS] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peer"))

import run as peer  # noqa: E402  (bench/peer/run.py: its fake, corpus and shipper config)

START_WAIT = 300.0  # seconds for the first alert under callgrind: imports and start


def alerts(count: int) -> list[tuple[bytes, list[peer.Route]]]:
    """``count`` lines of the corpus that the example config sends somewhere, with their
    routes, warm-up line first."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        source = peer.corpus(Path(tmp), 50_000, 7)
        with source.open("rb") as f:
            for raw in f:
                routes = peer.routes_of(raw)
                if routes:
                    found.append((raw, routes))
                    if len(found) > count:
                        break
    return found


def wait_for(fake: peer.Fake, wanted: set[peer.Route], deadline: float) -> None:
    while not wanted <= fake.arrivals().keys():
        if time.monotonic() > deadline:
            sys.exit(f"not delivered in time: {sorted(wanted)}")
        time.sleep(0.01)


def totals(out: Path) -> dict[str, int]:
    """Instructions by thread from callgrind's files (``callgrind.out.PID-NN``)."""
    found = {}
    for path in sorted(out.glob("callgrind.out.*")):
        for row in path.read_text(errors="replace").splitlines():
            if row.startswith(("summary:", "totals:")):
                found[path.name.rsplit("-", 1)[-1]] = int(row.split()[1])
                break
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("alerts", type=int)
    parser.add_argument("--tick", type=float, default=0.3)
    parser.add_argument("--keep", type=Path, help="leave callgrind's files in this folder")
    parser.add_argument(
        "--calls", type=Path, help="no callgrind: cProfile's stats of the event loop to this file"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None and not args.calls:
        sys.exit("valgrind is not installed (Debian: apt install valgrind)")
    peer.compile_shipper()
    lines = alerts(args.alerts)
    fake = peer.Fake()
    try:
        with tempfile.TemporaryDirectory(prefix="alert-path-") as tmp:
            work = Path(tmp)
            (work / "out").mkdir()
            out = args.keep or work / "cg"
            out.mkdir(parents=True, exist_ok=True)
            for old in out.glob("callgrind.out.*"):
                old.unlink()
            log = work / "audit.jsonl"
            log.touch()
            config = peer.shipper_config(work, log, fake.port)
            exe = shutil.which("shipper") or str(Path(sys.executable).parent / "shipper")
            cmd = [
                "valgrind", "--tool=callgrind", "--separate-threads=yes",
                f"--callgrind-out-file={out}/callgrind.out.%p",
                exe, "run", "-c", str(config),
            ]  # fmt: skip
            if args.calls:
                cmd = [sys.executable, "-m", "cProfile", "-o", str(args.calls), "-m", "shipper"]
                cmd += ["run", "-c", str(config)]
            err = (work / "out" / "shipper.err").open("wb")
            proc = subprocess.Popen(cmd, stdout=err, stderr=err)
            fd = os.open(log, os.O_WRONLY | os.O_APPEND)
            try:
                raw, routes = lines[0]
                os.write(fd, raw)
                wait_for(fake, set(routes), time.monotonic() + START_WAIT)
                tick = time.monotonic()
                for raw, routes in lines[1:]:
                    tick += args.tick
                    time.sleep(max(0.0, tick - time.monotonic()))
                    os.write(fd, raw)
                    wait_for(fake, set(routes), time.monotonic() + 60)
                time.sleep(args.tick)
            finally:
                os.close(fd)
                proc.send_signal(signal.SIGTERM)
                proc.wait(120)
            by_thread = totals(out)
    finally:
        fake.close()
    if args.calls:
        return
    if not by_thread:
        sys.exit("callgrind wrote no counts")
    for name, count in by_thread.items():
        print(f"thread {name}: {count:,} instructions")
    print(f"total: {sum(by_thread.values()):,} instructions for {args.alerts} alerts")


if __name__ == "__main__":
    main()
