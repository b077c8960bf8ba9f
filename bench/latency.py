#!/usr/bin/env python3
"""Append-to-post latency and idle CPU of `shipper run` tailing a file.

Starts a webhook on 127.0.0.1 that records when each event arrives, runs
`shipper run` on a file, appends N matching lines one at a time at random
intervals (50-250 ms, like a live audit log), and prints p50/p95/max of the
time from the write to the webhook receiving the event. Then lets the tailer
idle on the quiet file for IDLE seconds and prints the CPU it used meanwhile.

Usage: python bench/latency.py [N] [IDLE]
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiohttp import web


async def main(n: int, idle: float) -> None:
    arrivals: dict[int, float] = {}
    got_all = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        now = time.monotonic()
        body = orjson.loads(await request.read())
        for ev in body if isinstance(body, list) else [body]:
            arrivals.setdefault(ev["seq"], now)
        if len(arrivals) >= n:
            got_all.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    shipper = shutil.which("shipper") or str(Path(sys.executable).parent / "shipper")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log = root / "audit.jsonl"
        log.touch()
        config = root / "shipper.toml"
        config.write_text(f"""
[source]
path = "{log}"
state_dir = "{root / "state"}"
[channels.siem]
kind = "webhook"
url = "http://127.0.0.1:{port}/hook"
""")
        proc = await asyncio.create_subprocess_exec(
            shipper,
            "run",
            "-c",
            str(config),
            "--log-level",
            "warning",
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(1.5)  # let it start and open the file (not measured)
        written: dict[int, float] = {}
        rng = random.Random(1)
        with log.open("ab", buffering=0) as f:
            for seq in range(n):
                line = orjson.dumps({"action": "user.lock", "severity": "high", "seq": seq})
                written[seq] = time.monotonic()
                f.write(line + b"\n")
                await asyncio.sleep(rng.uniform(0.05, 0.25))
        await asyncio.wait_for(got_all.wait(), 30)
        cpu_before = _cpu_seconds(proc.pid)
        await asyncio.sleep(idle)
        cpu_idle = _cpu_seconds(proc.pid) - cpu_before
        proc.terminate()
        await proc.wait()
    await runner.cleanup()
    lat = sorted((arrivals[s] - written[s]) * 1000 for s in range(n))
    p95 = lat[int(0.95 * (n - 1))]
    print(f"events:        {n}")
    print(f"latency p50:   {statistics.median(lat):.1f} ms")
    print(f"latency p95:   {p95:.1f} ms")
    print(f"latency max:   {lat[-1]:.1f} ms")
    print(f"idle CPU:      {100 * cpu_idle / idle:.2f}% of one core over {idle:g} s")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 200,
            float(sys.argv[2]) if len(sys.argv) > 2 else 30.0,
        )
    )
