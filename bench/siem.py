#!/usr/bin/env python3
"""Events a second and CPU per 1,000 events of ``shipper run`` into each SIEM kind.

For each kind (``datadog``, ``sentinel``, and ``webhook`` as the baseline),
``shipper run`` reads N audit events from stdin (every one routed to the one
channel, batches of 500) and delivers them to the kind's fake on 127.0.0.1,
served by this process (``tests/integration/fake_*.py``, which check what the
services check: gzip, sizes, the API key, tokens), then drains and exits. The
time is the run's wall clock from start to exit; the CPU is the child's user +
system time (``RUSAGE_CHILDREN``), so the fakes' own work is not counted.
Kinds run interleaved, ROUNDS rounds, and the median is printed: on a shared
machine compare the rows with each other, not with another day's.

Usage: python bench/siem.py [N] [ROUNDS]   (defaults 20000 and 3; from the repo root)
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.fake_azure import (  # noqa: E402
    CLIENT,
    DCR,
    SECRET,
    STREAM,
    TENANT,
    FakeAzure,
)
from tests.integration.fake_datadog import API_KEY, FakeDatadog  # noqa: E402
from tests.integration.fake_webhook import FakeWebhook, Reply  # noqa: E402

SHIPPER = Path(sys.executable).parent / "shipper"
DELIVERY = 'batch_max = 500\nretry_initial = "10ms"\nretry_max = "50ms"\n'
CHANNELS = {
    "webhook": '[channels.out]\nkind = "webhook"\nurl = "{url}/hook"\n',
    "datadog": (
        '[channels.out]\nkind = "datadog"\napi_key = "${{DD_KEY}}"\n'
        'url = "{url}/api/v2/logs"\ntags = ["env:bench"]\n'
    ),
    "sentinel": (
        '[channels.out]\nkind = "sentinel"\nurl = "{url}"\nauthority = "{url}"\n'
        f'dcr_id = "{DCR}"\nstream = "{STREAM}"\ntenant_id = "{TENANT}"\n'
        f'client_id = "{CLIENT}"\nclient_secret = "${{{{AZ_SECRET}}}}"\n'
    ),
}


def corpus(n: int, directory: Path) -> bytes:
    path = directory / "audit.jsonl"
    with path.open("wb") as out:
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "gen_audit.py"), str(n)], stdout=out, check=True
        )
    return path.read_bytes()


def delivered(kind: str, fake: object) -> int:
    if isinstance(fake, FakeDatadog):
        return len(fake.logs)
    if isinstance(fake, FakeAzure):
        return len(fake.rows)
    assert isinstance(fake, FakeWebhook)
    return sum(len(r.json) if isinstance(r.json, list) else 1 for r in fake.requests)


async def one_run(kind: str, lines: bytes, n: int, directory: Path) -> tuple[float, float]:
    """Seconds and CPU seconds of one ``shipper run`` of ``lines`` into ``kind``'s fake."""
    fakes = {
        "webhook": FakeWebhook(Reply(200, "ok")),
        "datadog": FakeDatadog(),
        "sentinel": FakeAzure(),
    }
    fake = fakes[kind]
    async with fake:  # type: ignore[attr-defined]
        state = Path(tempfile.mkdtemp(dir=directory))
        config = state / "shipper.toml"
        channel = CHANNELS[kind].format(url=fake.url)  # type: ignore[attr-defined]
        config.write_text(f'[source]\nstate_dir = "{state}"\n[delivery]\n{DELIVERY}{channel}')
        env = {"DD_KEY": API_KEY, "AZ_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            str(SHIPPER),
            "run",
            "-c",
            str(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        _, err = await proc.communicate(lines)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert proc.returncode == 0, err.decode()[-2000:]
        got = delivered(kind, fake)
        assert got == n, f"{kind}: {got} of {n} delivered"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        lines = corpus(n, directory)
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in CHANNELS}
        for _ in range(rounds):
            for kind in CHANNELS:
                results[kind].append(await one_run(kind, lines, n, directory))
    print(f"{n} events a run, {rounds} rounds interleaved, medians")
    print(f"{'kind':<10} {'events/s':>10} {'CPU ms / 1,000 events':>22}")
    for kind, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"{kind:<10} {n / wall:>10,.0f} {cpu * 1000 / (n / 1000):>22.1f}")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    asyncio.run(main(count, repeat))
