#!/usr/bin/env python3
"""Routing speed side by side: shipper against jq, a plain Python loop and the orjson floor.

Makes the corpus with bench/gen_audit.py (``gen_audit.py N``) unless it
exists, then times, in one run and interleaved (best of ``--repeat``):

- ``jq``: ``jq -c 'select(...)'`` with the same severity thresholds and globs;
- ``python-json``: ``json.loads`` and ``fnmatch`` per pattern, the script people write;
- ``orjson-floor``: a loop that only parses each line with ``orjson.loads``;
- ``orjson-regex``: orjson, one compiled regex per channel and a dict of severities;
- ``shipper route --stats``;
- ``deliver floor`` (``deliver_floor.py``): shipper's routing and renderers and
  aiohttp posts, with no backlog, no position, no logs: the least a single
  process can do for what ``run`` does; ``deliver floor, forked``: the same
  with a forked child reading and skimming (its peak RSS column is the larger
  process only; the script prints both processes' PSS);
- ``shipper run`` reading the corpus on stdin, every channel pointed at a webhook
  on 127.0.0.1 that accepts at once (no pacing), until everything is delivered.

Each is a separate process under ``/usr/bin/time -v``; the table gives wall time,
the ratio to the orjson floor, lines per second and peak RSS.

Usage: python bench/compare.py [N] [--repeat K] [--corpus PATH] [--skip-jq] [--skip-run] [--fast]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "bench" / "gen_audit.py"
CONFIG = ROOT / "config.example.toml"
DELIVER_FLOOR = ROOT / "bench" / "deliver_floor.py"
RANKS = {"debug": 0, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


@dataclass
class Rule:
    min_rank: int
    globs: list[str]


def example_rules() -> tuple[list[Rule], int]:
    """The example config's channels, as (threshold, globs) for the hand-written contenders."""
    sys.path.insert(0, str(ROOT))
    from shipper.config.load import load_config

    config = load_config(CONFIG, {}, posts=False)
    rules = [Rule(int(c.min_severity), list(c.actions)) for c in config.channels]
    return rules, int(config.default_severity)


def glob_regex(glob: str) -> str:
    """A glob as an anchored regex both Python and jq (Oniguruma) read the same way."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)


def jq_program(rules: list[Rule], default: int) -> str:
    ranks = "{" + ",".join(f'"{k}":{v}' for k, v in RANKS.items()) + "}"
    tests = " or ".join(
        f"($r >= {r.min_rank} and (.action | test({jq_string(r.globs)})))" for r in rules
    )
    return f'({ranks}[.severity // ""] // {default}) as $r | select({tests})'


def jq_string(globs: list[str]) -> str:
    return json.dumps("^(" + "|".join(map(glob_regex, globs)) + ")$")


PYTHON_JSON = """
import fnmatch, json, sys
RULES = {rules!r}
RANKS = {ranks!r}
n = 0
for line in open(sys.argv[1], "rb"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    rank = RANKS.get(e.get("severity"), {default})
    action = e.get("action") or ""
    for min_rank, globs in RULES:
        if rank >= min_rank and any(fnmatch.fnmatchcase(action, g) for g in globs):
            n += 1
print(n)
"""

ORJSON_FLOOR = """
import orjson, sys
for line in open(sys.argv[1], "rb"):
    orjson.loads(line)
"""

ORJSON_REGEX = """
import orjson, re, sys
RULES = [(m, re.compile(p)) for m, p in {patterns!r}]
RANKS = {ranks!r}
n = 0
for line in open(sys.argv[1], "rb"):
    e = orjson.loads(line)
    rank = RANKS.get(e.get("severity"), {default})
    action = e.get("action") or ""
    for min_rank, pattern in RULES:
        if rank >= min_rank and pattern.fullmatch(action):
            n += 1
print(n)
"""


@dataclass
class Measured:
    seconds: float
    rss_kb: int


def timed(
    argv: Sequence[str], *, stdin: Path | None = None, env: dict[str, str] | None = None
) -> Measured:
    """Run ``argv`` under ``/usr/bin/time -v``; its wall time and peak RSS."""
    with tempfile.NamedTemporaryFile("r") as report:
        with open(stdin or os.devnull, "rb") as src:
            done = subprocess.run(
                ["/usr/bin/time", "-v", "-o", report.name, *argv],
                stdin=src,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
        text = report.read()
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    assert wall and rss, text
    hours, minutes, seconds = wall.groups()
    return Measured(int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), int(rss.group(1)))


class AcceptingWebhook:
    """Answers every post at once, as Slack, Teams and plain webhooks do on success."""

    def __init__(self) -> None:
        self.posts = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def hook(request: web.Request) -> web.Response:
            await request.read()
            self.posts += 1
            kind = request.match_info["kind"]
            return web.Response(text={"slack": "ok", "teams": "1"}.get(kind, ""))

        async def start() -> None:
            app = web.Application()
            app.router.add_post("/{kind}/{name}", hook)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()


def run_config(tmp: Path, port: int) -> Path:
    """The example config, every URL on the local webhook, no pacing, state in ``tmp``."""
    text = CONFIG.read_text()
    text = re.sub(
        r'^url = "\$\{(\w+)\}"',
        lambda m: f'url = "http://127.0.0.1:{port}/{kind_of(text, m.start())}/{m.group(1)}"',
        text,
        flags=re.M,
    )
    text = text.replace("[delivery]\n", "[delivery]\nmax_rate = 0\n", 1)
    text = re.sub(r"^state_dir = .*$", "", text, flags=re.M)
    text = text.replace("[source]\n", f'[source]\nstate_dir = "{tmp / "state"}"\n', 1)
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


def kind_of(text: str, at: int) -> str:
    return re.findall(r'^kind = "(\w+)"', text[:at], flags=re.M)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--skip-jq", action="store_true")
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--fast", action="store_true", help="only the floor, route and run")
    args = parser.parse_args()

    corpus = args.corpus or Path(tempfile.gettempdir()) / f"shipper-audit-{args.lines}.jsonl"
    if not corpus.exists():
        print(f"writing {corpus} with {GENERATOR.name} {args.lines} ...", file=sys.stderr)
        with corpus.open("wb") as out:
            subprocess.run(
                [sys.executable, str(GENERATOR), str(args.lines)], stdout=out, check=True
            )
    lines = sum(1 for _ in corpus.open("rb"))
    rules, default = example_rules()
    py = sys.executable
    shipper = shutil.which("shipper") or str(Path(py).parent / "shipper")
    webhook = AcceptingWebhook()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        scripts = {
            "python-json": PYTHON_JSON.format(
                rules=[(r.min_rank, r.globs) for r in rules], ranks=RANKS, default=default
            ),
            "orjson-floor": ORJSON_FLOOR,
            "orjson-regex": ORJSON_REGEX.format(
                patterns=[(r.min_rank, "|".join(map(glob_regex, r.globs))) for r in rules],
                ranks=RANKS,
                default=default,
            ),
        }
        for name, code in scripts.items():
            (tmp / f"{name}.py").write_text(code)
        contenders: dict[str, tuple[list[str], Path | None]] = {}
        if not args.skip_jq and shutil.which("jq"):
            contenders["jq"] = (["jq", "-c", jq_program(rules, default), str(corpus)], None)
        for name in scripts:
            contenders[name] = ([py, str(tmp / f"{name}.py"), str(corpus)], None)
        contenders["shipper route --stats"] = (
            [shipper, "route", "-c", str(CONFIG), "--stats", str(corpus)],
            None,
        )
        if not args.skip_run:
            contenders["deliver floor"] = ([py, str(DELIVER_FLOOR), "RUN_CONFIG"], corpus)
            contenders["deliver floor, forked"] = (
                [py, str(DELIVER_FLOOR), "RUN_CONFIG", "--forked"],
                corpus,
            )
            contenders["shipper run (stdin)"] = ([shipper, "run", "-c", "RUN_CONFIG"], corpus)

        if args.fast:
            keep = ("orjson-floor", "shipper route --stats", "deliver floor", "shipper run (stdin)")
            contenders = {k: v for k, v in contenders.items() if k in keep}
        best: dict[str, Measured] = {}
        rounds: list[dict[str, float]] = []
        for round_ in range(args.repeat):
            rounds.append({})
            for name, (argv, stdin) in contenders.items():
                if "RUN_CONFIG" in argv:
                    run_dir = tmp / f"{name.replace(' ', '-').replace(',', '')}{round_}"
                    run_dir.mkdir()
                    argv = [
                        a if a != "RUN_CONFIG" else str(run_config(run_dir, webhook.port))
                        for a in argv
                    ]
                got = timed(argv, stdin=stdin)
                rounds[-1][name] = got.seconds
                if name not in best or got.seconds < best[name].seconds:
                    best[name] = got
                print(f"  {name}: {got.seconds:.2f} s", file=sys.stderr)

    floor = best["orjson-floor"].seconds
    print(f"\n{lines:,} lines, {corpus.stat().st_size / 1e6:.0f} MB; best of {args.repeat}")
    print(f"{'':24} {'seconds':>8} {'x floor':>8} {'lines/s':>11} {'peak RSS':>9}")
    for name, m in best.items():
        print(
            f"{name:24} {m.seconds:8.2f} {m.seconds / floor:8.2f} "
            f"{lines / m.seconds:11,.0f} {m.rss_kb / 1024:7.1f} MB"
        )
    # The machine drifts by tens of percent within minutes: a ratio of two contenders
    # timed seconds apart, in the same round, is steadier than a ratio of two bests.
    pairs = [("shipper route --stats", "orjson-floor")]
    if not args.skip_run:
        pairs += [("deliver floor", "shipper route --stats")]
        pairs += [("shipper run (stdin)", "shipper route --stats")]
    print(f"\nper-round ratios (median of {args.repeat}):")
    for top, bottom in pairs:
        if top in best and bottom in best:
            ratios = sorted(r[top] / r[bottom] for r in rounds)
            listed = ", ".join(f"{x:.2f}" for x in ratios)
            print(f"  {top} / {bottom}: {statistics.median(ratios):.2f} ({listed})")
    if not args.skip_run:
        print(f"webhook posts received: {webhook.posts:,}")


if __name__ == "__main__":
    main()
