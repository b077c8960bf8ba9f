#!/usr/bin/env python3
"""Time per input byte of hostile lines, old code against new, at growing line sizes.

Each case is one crafted line (and an ordinary event after it) put through
what ``run`` does without I/O: ``Intake.process`` on the lines as the splitter
hands them over (so blocks are skimmed), then, for each routed event, its
alert, its spool record and its Slack and webhook payloads. Work linear in the
line's length shows as a flat ns/byte column; quadratic work doubles it at
each step (sizes grow 4x), cubic quadruples it.

- ``*.*_failed`` / ``*.*.*_failed`` / ``*?*?*?*_x`` / ``[!a]*.*[ab]*_failed``:
  an action of dots (or ``a.``) that almost matches, on the skim path;
- ``full path``: the same with a backslash in the line, so every line is
  parsed and the router matches the long action;
- ``many keys``: one line with ``"action":"login.a_failed",`` over and over;
- ``deep arrays``: runs of 254 nested arrays side by side (orjson reads them,
  and would not write them back);
- ``NaN values`` / ``broken line``: what orjson refuses, parsed again or scanned.

The old code is ``--old PATH``, a checkout of an earlier revision (for the one
before the hostile-input fixes: ``git worktree add /tmp/shipper-old 0b859c3``);
without it only the current code is measured. Each
case runs in its own process, stopped after ``--timeout`` seconds (the sizes
it did not reach show as "> timeout"); a size is skipped once the previous one
took more than ``--budget`` seconds (quadratic code would take 16 times as
long at the next step); an error (the old code's crash on a deep line) is
shown as such.

Usage: python bench/hostile_lines.py [--old PATH] [--max-bytes 1048576] [--budget 0.5]
       [--timeout 30] [--case NAME]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20)


def cases(size: int) -> dict[str, tuple[list[str], bytes]]:
    """Each case's action globs and its hostile line of about ``size`` bytes."""
    dots = b"." * size
    pairs = b"a." * (size // 2)
    deep = b"[" * 254 + b"]" * 254
    return {
        "*.*_failed": (["*.*_failed"], b'{"action":"' + dots + b'"}'),
        "*.*.*_failed": (["*.*.*_failed"], b'{"action":"' + dots + b'"}'),
        "*?*?*?*_x": (["*?*?*?*_x"], b'{"action":"' + b"_" * size + b'"}'),
        "[!a]*.*[ab]*_failed": (["[!a]*.*[ab]*_failed"], b'{"action":"b' + pairs + b'"}'),
        "full path *.*.*_failed": (
            ["*.*.*_failed"],
            b'{"action":"' + pairs + b'_faile","e":"\\t"}',
        ),
        "many keys": (
            ["login.*_failed"],
            b"{" + b'"action":"login.a_failed",' * (size // 26) + b'"z":1}',
        ),
        "deep arrays": (
            ["login.*"],
            b'{"action":"login.password_failed","x":['
            + b",".join([deep] * max(1, size // 509))
            + b"]}",
        ),
        "NaN values": (
            ["login.*"],
            b'{"action":"login.password_failed","x":[' + b"NaN," * (size // 4) + b"1]}",
        ),
        "broken line": (
            ["login.*"],
            b'{"action":"login.password_failed","x":"' + b"y" * size + b'",}',
        ),
    }


def worker(root: str, case: str, max_bytes: int, budget: float) -> None:
    """Run one case with the code under ``root``; print one JSON line per size."""
    sys.path.insert(0, root)
    import dataclasses

    from shipper.config.load import load_config
    from shipper.config.model import ChannelConfig, Kind
    from shipper.config.severity import Severity
    from shipper.routing.intake import Intake
    from shipper.sinks import render
    from shipper.sources.lines import LineSplitter
    from shipper.spool.records import encode_record

    base = load_config(Path(root) / "config.example.toml", {}, posts=False)
    source = dataclasses.replace(base.source, max_line_bytes=8 << 20)
    ordinary = b'{"action":"login.other_failed","severity":"high","user":"ann"}'
    kinds: tuple[tuple[str, Kind], ...] = (("hook", "webhook"), ("chat", "slack"))
    for size in (s for s in SIZES if s <= max_bytes):
        globs, line = cases(size)[case]
        channels = tuple(
            ChannelConfig(n, kind, "https://x.example.com", None, Severity.DEBUG, tuple(globs), ())
            for n, kind in kinds
        )
        config = dataclasses.replace(base, channels=channels, source=source)
        data = line + b"\n" + ordinary + b"\n"
        best, error = float("inf"), None
        for _ in range(5):  # best of a few while a try is short: fixed costs out of the way
            intake = Intake(config)
            chunk = LineSplitter(8 << 20).feed(data)
            started = time.perf_counter()
            try:
                for routed in intake.process(chunk):
                    encode_record(routed.alert)
                    for channel in channels:
                        render(channel, [routed.alert])
            except Exception as exc:
                error = type(exc).__name__
            best = min(best, time.perf_counter() - started)
            if best > 0.05:
                break
        print(json.dumps({"size": size, "bytes": len(line), "seconds": best, "error": error}))
        sys.stdout.flush()
        if best > budget:
            return


def measure(root: Path, case: str, args: argparse.Namespace) -> dict[int, str]:
    """One case's cells by size: "seconds ns/B", "crash: ...", or "> timeout"."""
    command = [sys.executable, __file__, "--worker", str(root), "--case", case]
    command += ["--max-bytes", str(args.max_bytes), "--budget", str(args.budget)]
    try:
        out = subprocess.run(
            command, capture_output=True, check=True, text=True, timeout=args.timeout
        ).stdout
        stopped = False
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stopped = True
    cells: dict[int, str] = {}
    for text in out.splitlines():
        row = json.loads(text)
        seconds = row["seconds"]
        if row["error"]:
            cells[row["size"]] = f"{seconds:9.4f} crash: {row['error']}"
        else:
            cells[row["size"]] = f"{seconds:9.4f} {seconds / row['bytes'] * 1e9:8.1f}"
    for size in (s for s in SIZES if s <= args.max_bytes and s not in cells):
        cells[size] = f"> {args.timeout:.0f} s" if stopped else "skipped (slow)"
        stopped = False
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--old", help="a checkout of older code to measure beside this one")
    parser.add_argument("--max-bytes", type=int, default=1 << 20)
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--case", action="append", help="only these cases")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.case[0], args.max_bytes, args.budget)
        return
    old_root = Path(args.old) if args.old else None
    if old_root is not None and not (old_root / "shipper").is_dir():
        parser.error(f"--old {old_root}: no shipper/ there")
    roots = {"new": ROOT} | ({"old": old_root} if old_root is not None else {})
    print(
        f"{'case':<24} {'bytes':>8} " + " ".join(f"{n + ' s':>9} {n + ' ns/B':>8}" for n in roots)
    )
    for case in args.case or list(cases(1024)):
        cells = {name: measure(root, case, args) for name, root in roots.items()}
        for size in (s for s in SIZES if s <= args.max_bytes):
            row = " ".join(f"{cells[name][size]:<18}" for name in roots)
            print(f"{case:<24} {size:>8} {row}", flush=True)


if __name__ == "__main__":
    main()
