#!/usr/bin/env python3
"""``shipper run`` to a local fake Splunk HEC: events a second and CPU per 1,000 events.

Each round runs the installed CLI on N audit events from stdin (batch_max 500,
the kind's default) to ``tests/integration/fake_hec.py`` served on 127.0.0.1
by this process, once per mode, interleaved so that a shared machine's load
falls on every mode alike:

- ``plain``: no indexer acknowledgement (HEC's 200 ends a request);
- ``acks``: acknowledgement on, each ack reported at the first query;
- ``acks-late``: acknowledgement on, each ack reported at the third query
  (about 0.35 s after the post, with the 0.05 s first poll doubling).

events/s is N over the run's wall time (start to exit, start-up included);
CPU is the child's user + system time (``wait4``) per 1,000 events. The
median of the rounds is printed, with the spread.

Usage: python bench/splunk.py [N] [ROUNDS]     (defaults 20000 and 3)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.fake_hec import TOKEN, FakeHec  # noqa: E402

SHIPPER = Path(sys.executable).parent / "shipper"
MODES = ("plain", "acks", "acks-late")


def events(n: int) -> bytes:
    line = (
        '{{"action":"login.complete","severity":"high","seq":{n},'
        '"timestamp":"2026-11-30T12:00:00.{ms:03d}Z","user":"alice@example.com",'
        '"status":"ok","context":{{"ip":"203.0.113.7","request_id":"req-{n:08d}"}}}}\n'
    )
    return "".join(line.format(n=i, ms=i % 1000) for i in range(n)).encode()


def config(directory: Path, acks: bool) -> Path:
    path = directory / "shipper.toml"
    path.write_text(
        f'[source]\nstate_dir = "{directory / "state"}"\n'
        '[delivery]\ndrain_timeout = "600s"\n'
        '[channels.siem]\nkind = "splunk"\nurl = "${HEC_URL}"\ntoken = "${HEC_TOKEN}"\n'
        f"acknowledgements = {'true' if acks else 'false'}\n"
    )
    return path


async def one_run(mode: str, data: bytes, n: int) -> float:
    """Events a second of one run (its CPU is read by the caller, from the children's times)."""
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeHec(acks=mode != "plain") as hec:
            hec.ack_after_queries = 2 if mode == "acks-late" else 0
            env = {**os.environ, "HEC_URL": hec.url, "HEC_TOKEN": TOKEN}
            path = config(Path(tmp), mode != "plain")
            started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                str(SHIPPER), "run", "-c", str(path), "--log-level", "warning",
                stdin=asyncio.subprocess.PIPE, env=env,
            )  # fmt: skip
            await proc.communicate(data)
            wall = time.perf_counter() - started
            # The child is reaped by asyncio: its CPU shows in os.times()'s children.
            if proc.returncode != 0:
                raise SystemExit(f"{mode}: shipper exited {proc.returncode}")
            if len(hec.indexed) != n:
                raise SystemExit(f"{mode}: {len(hec.indexed)} of {n} events indexed")
    return n / wall


def children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    data = events(n)
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    cpus: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(rounds):
        for mode in MODES:
            before = children_cpu()
            rates[mode].append(await one_run(mode, data, n))
            cpus[mode].append((children_cpu() - before) / n * 1000)
    print(f"{n} events, {rounds} rounds, batch_max 500; median (min-max)")
    print(f"{'mode':<10} {'events/s':>22} {'CPU ms / 1,000 events':>26}")
    for mode in MODES:
        r, c = rates[mode], cpus[mode]
        print(
            f"{mode:<10} {statistics.median(r):>10,.0f} ({min(r):,.0f}-{max(r):,.0f})"
            f" {statistics.median(c) * 1000:>12.1f} ({min(c) * 1000:.1f}-{max(c) * 1000:.1f})"
        )


if __name__ == "__main__":
    asyncio.run(main())
