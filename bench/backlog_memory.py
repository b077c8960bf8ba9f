#!/usr/bin/env python3
"""Peak memory of `shipper run` while a backlog builds for a channel that is down.

Pipes N matching events (default 200,000) into `shipper run` whose only channel
points at a closed port on 127.0.0.1, so nothing is delivered and every event
waits in the on-disk spool; the run drains for `drain_timeout` and exits 1.
Prints the peak RSS of the shipper process as `/usr/bin/time` reports it (the
child of a small process: measured from this script's own fork, the peak would
count the events this script generated), the spool size on disk and the events
queued.

Usage: python bench/backlog_memory.py [N]
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    shipper = shutil.which("shipper") or str(Path(sys.executable).parent / "shipper")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = root / "shipper.toml"
        config.write_text(f"""
[source]
state_dir = "{root / "state"}"
[delivery]
retry_initial = "1s"
drain_timeout = "1s"
[channels.down]
kind = "webhook"
url = "http://127.0.0.1:{closed_port()}/hook"
""")
        data = b"".join(
            orjson.dumps(
                {
                    "action": "login.complete",
                    "severity": "info",
                    "user": f"u{i}@x.com",
                    "status": "success",
                    "context": {"app": "auth", "seq": i},
                }
            )
            + b"\n"
            for i in range(n)
        )
        started = time.monotonic()
        rss_file = root / "rss"
        proc = subprocess.Popen(
            [
                "/usr/bin/time",
                "-o",
                str(rss_file),
                "-f",
                "%M",
                shipper,
                "run",
                "-c",
                str(config),
                "--log-level",
                "error",
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(data)
        proc.stdin.close()
        err = proc.stderr.read()
        code = proc.wait()
        elapsed = time.monotonic() - started
        peak_kib = int(rss_file.read_text().split()[-1])
        spool = root / "state" / "spool" / "down"
        size = sum(p.stat().st_size for p in spool.glob("*.seg"))
        print(f"events piped:        {n:,} ({len(data) / 2**20:.1f} MiB)")
        print(f"exit code:           {code} (1: work left queued)")
        print(f"peak RSS:            {peak_kib / 1024:.1f} MiB")
        print(f"spool on disk:       {size / 2**20:.1f} MiB")
        print(f"wall time:           {elapsed:.1f} s")
        if err:
            print(err.decode()[-500:], file=sys.stderr)


if __name__ == "__main__":
    main()
