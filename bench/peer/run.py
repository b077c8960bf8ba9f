#!/usr/bin/env python3
"""shipper against rsyslog, side by side on the same corpus and the same routing.

Contenders (each its own process, interleaved in every round, order rotated):

- ``shipper``: ``shipper run`` on the file, the channels of ``config.example.toml``
  as ``kind = "webhook"`` channels posting to a local fake (``fake_bulk.py``);
- ``rsyslog``: Debian's rsyslogd: ``imfile`` (inotify), ``mmjsonparse``, the same
  routing written as RainerScript filters (``rsyslog.conf.in``), ``omelasticsearch``
  posting bulk JSON to the same fake;
- ``rsyslog-pre`` (with ``--prefilter``): the same with a regex on the raw line
  before ``mmjsonparse``, so routine lines are never parsed.

Each round, for each contender:

- catch-up: the corpus (``bench/gen_audit.py N``) is in the file before the start;
  wall time and CPU until the last matching event is delivered;
- sustained: an empty file, then RATE lines a second appended for SECONDS, a few
  lines per write as a live log grows; CPU over that time (also per thread, in
  parentheses: the main thread, then the others, busiest first), append-to-delivery
  latency of every matching event (p50, p95), peak RSS (``VmHWM``).

Every run must deliver exactly the events the routing takes, to the same channels
(checked against a reference routing of the corpus); a run that does not fails the
bench. Per-round ratios shipper / rsyslog and their medians are printed last.
rsyslog and rsyslog-elasticsearch are installed from Debian when missing.

shipper's modules are byte-compiled first, as installing its wheel does: run from
a checkout where ``PYTHONDONTWRITEBYTECODE`` is set, it would otherwise compile
every module of its own at each start, which an installed shipper never does.

Usage: python bench/peer/run.py [--lines N] [--rounds R] [--rate L] [--seconds S]
                                [--prefilter] [--only catchup|sustained]
"""

from __future__ import annotations

import argparse
import compileall
import fnmatch
import importlib.util
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GENERATOR = ROOT / "bench" / "gen_audit.py"
EXAMPLE = ROOT / "config.example.toml"
RSYSLOGD = "/usr/sbin/rsyslogd"
ES_MODULE = "omelasticsearch.so"
RANKS = {"debug": 0, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
PREFILTER = (
    'if re_match($rawmsg, "\\"action\\":\\"(login\\\\.|mfa_method\\\\.|user\\\\.update_roles'
    '|api_token\\\\.|deploy_approval_request\\\\.|release\\\\.promote)") then {'
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
QUIET = 10.0  # seconds without a new arrival after which a wait gives up

Route = tuple[str, str]  # (channel, request_id)


# --- the two contenders ---------------------------------------------------------------


def ensure_rsyslog() -> None:
    """Install rsyslog and its Elasticsearch output from Debian if either is missing."""
    have_es = any(
        Path(d).glob(f"rsyslog/{ES_MODULE}")
        for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib")
    )
    if Path(RSYSLOGD).exists() and have_es:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("installing rsyslog and rsyslog-elasticsearch ...", file=sys.stderr)
    cmd = [*sudo, "apt-get", "install", "-y", "rsyslog", "rsyslog-elasticsearch"]
    if subprocess.run(cmd, check=False).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update"], check=True)
        subprocess.run(cmd, check=True)


def channels() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = tomllib.loads(EXAMPLE.read_text())["channels"]
    return found


def shipper_config(work: Path, log: Path, port: int) -> Path:
    text = [
        f'[source]\npath = "{log}"\nstate_dir = "{work / "out" / "state"}"\n'
        'start_at = "beginning"\n',
        '[fields]\nactor = ["user", "api_token"]\n',
    ]
    for name, ch in channels().items():
        text.append(
            f'[channels.{name}]\nkind = "webhook"\nurl = "http://127.0.0.1:{port}/hook/{name}"\n'
            f'min_severity = "{ch.get("min_severity", "debug")}"\n'
            f"actions = {orjson.dumps(ch.get('actions', ['*'])).decode()}\n"
            f"exclude = {orjson.dumps(ch.get('exclude', [])).decode()}\n"
        )
    path = work / "shipper.toml"
    path.write_text("\n".join(text))
    return path


def compile_shipper() -> Path:
    """Byte-compile the shipper package the contender imports (an editable checkout, or
    ahead of it on ``PYTHONPATH``), as pip does when it installs a wheel; its folder."""
    spec = importlib.util.find_spec("shipper")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("shipper is not importable here: install it first (README)")
    package = Path(next(iter(spec.submodule_search_locations)))
    if not compileall.compile_dir(package, quiet=1):
        sys.exit(f"could not byte-compile {package}")
    return package


def start_shipper(work: Path, log: Path, port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("shipper") or str(Path(sys.executable).parent / "shipper")
    config = shipper_config(work, log, port)
    # Not next to the log: a contender's own writes would wake its inotify watch.
    err = (work / "out" / "shipper.err").open("wb")
    return subprocess.Popen([exe, "run", "-c", str(config)], stderr=err, stdout=err)


def start_rsyslog(work: Path, log: Path, port: int, prefilter: bool) -> subprocess.Popen[bytes]:
    text = (HERE / "rsyslog.conf.in").read_text()
    for key, value in (
        ("@WORKDIR@", str(work / "out")),
        ("@LOG@", str(log)),
        ("@PORT@", str(port)),
        ("@PREFILTER@", PREFILTER if prefilter else ""),
        ("@PREFILTER_END@", "}" if prefilter else ""),
    ):
        text = text.replace(key, value)
    conf = work / "rsyslog.conf"
    conf.write_text(text)
    err = (work / "out" / "rsyslog.err").open("wb")
    cmd = [RSYSLOGD, "-n", "-f", str(conf), "-i", str(work / "rsyslog.pid")]
    return subprocess.Popen(cmd, stderr=err, stdout=err)


CONTENDERS: dict[str, Callable[[Path, Path, int], subprocess.Popen[bytes]]] = {
    "shipper": start_shipper,
    "rsyslog": lambda w, log, p: start_rsyslog(w, log, p, False),
    "rsyslog-pre": lambda w, log, p: start_rsyslog(w, log, p, True),
}


# --- the fake, the corpus, the reference routing --------------------------------------


class Fake:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "fake_bulk.py")], stdout=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def _call(self, method: str, path: str) -> bytes:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=30) as answer:
            return bytes(answer.read())

    def reset(self) -> None:
        self._call("POST", "/reset")

    def posts(self) -> int:
        return int(orjson.loads(self._call("GET", "/posts")))

    def arrivals(self) -> dict[Route, float]:
        return {(c, r): t for c, r, t in orjson.loads(self._call("GET", "/arrivals"))}

    def wait_for(
        self, wanted: set[Route], deadline: float, proc: subprocess.Popen[bytes], work: Path
    ) -> dict[Route, float]:
        """Arrivals once every wanted route arrived, at ``deadline``, or after a quiet spell.

        A contender that lost an event would otherwise hold the run until the deadline;
        nothing new arriving for ``QUIET`` seconds ends the wait as surely.
        """
        pause = 0.02
        seen, changed = -1, time.monotonic()
        while True:
            got = self.arrivals()
            now = time.monotonic()
            if len(got) != seen:
                seen, changed = len(got), now
            if wanted <= got.keys() or now > deadline or now - changed > QUIET:
                return got
            if proc.poll() is not None:
                err = next(work.glob("out/*.err")).read_text()[-2000:]
                sys.exit(f"the contender exited ({proc.returncode}):\n{err}")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def corpus(cache: Path, lines: int, seed: int) -> Path:
    path = cache / f"audit-{lines}-{seed}.jsonl"
    if not path.exists():
        with path.open("wb") as out:
            subprocess.run(
                [sys.executable, str(GENERATOR), str(lines), "--seed", str(seed)],
                stdout=out,
                check=True,
            )
    return path


def routes_of(raw: bytes) -> list[Route]:
    """Where ``config.example.toml`` sends one line (the reference for both contenders)."""
    event = orjson.loads(raw)
    sev = RANKS.get(str(event.get("severity", "info")).lower(), 1)
    action = str(event.get("action", ""))
    found = []
    for name, ch in channels_cache.items():
        if sev < RANKS[str(ch.get("min_severity", "debug"))]:
            continue
        if not any(fnmatch.fnmatchcase(action, g) for g in ch.get("actions", ["*"])):  # type: ignore[attr-defined]
            continue
        if any(fnmatch.fnmatchcase(action, g) for g in ch.get("exclude", [])):  # type: ignore[attr-defined]
            continue
        found.append((name, str(event["request_id"])))
    return found


channels_cache = channels()


def expected(path: Path) -> set[Route]:
    wanted: set[Route] = set()
    with path.open("rb") as f:
        for raw in f:
            wanted.update(routes_of(raw))
    return wanted


# --- measuring ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of each thread of ``pid``, by thread id (``pid``: the main one)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def peak_rss_mib(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return float("nan")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Result:
    wall: float = float("nan")
    cpu: float = float("nan")
    p50: float = float("nan")
    p95: float = float("nan")
    rss: float = float("nan")
    sustained_cpu: float = float("nan")  # % of one core
    # % of one core per thread while sustained: the main thread first, then the busiest
    threads: tuple[float, ...] = ()
    posts: int = 0  # requests that delivered the catch-up's events
    lost: int = 0  # events a peer lost (see check)


def check(name: str, case: str, wanted: set[Route], got: dict[Route, float]) -> int:
    """How many wanted events a peer lost; shipper losing any, or anyone delivering an
    event it should not, ends the run.

    rsyslog's omelasticsearch now and then posts a document of garbage bytes in place of
    an event (in about one run of three here): Elasticsearch rejects that item, and
    the event is lost. That is rsyslog's loss, reported with its figures; it says nothing
    about shipper, so it does not end the run.
    """
    missing, extra = wanted - got.keys(), got.keys() - wanted
    if not missing and not extra:
        return 0
    wrong = (
        f"{name} {case}: delivered {len(got)} events, expected {len(wanted)}: "
        f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} unexpected"
    )
    if name == "shipper" or extra or len(missing) > len(wanted) // 100:
        sys.exit(wrong)
    print(wrong, file=sys.stderr, flush=True)
    return len(missing)


def catch_up(name: str, fake: Fake, source: Path, wanted: set[Route]) -> Result:
    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        work = Path(tmp)
        log = work / "audit.jsonl"
        (work / "out").mkdir()
        shutil.copyfile(source, log)
        fake.reset()
        t0 = time.monotonic()
        proc = CONTENDERS[name](work, log, fake.port)
        try:
            got = fake.wait_for(wanted, time.monotonic() + 600, proc, work)
            cpu, rss = cpu_seconds(proc.pid), peak_rss_mib(proc.pid)
            posts = fake.posts()
        finally:
            stop(proc)
        lost = check(name, "catch-up", wanted, got)
        return Result(wall=max(got.values()) - t0, cpu=cpu, rss=rss, posts=posts, lost=lost)


def live_lines(source: Path) -> Iterator[bytes]:
    while True:
        with source.open("rb") as f:
            yield from f


def sustained(
    name: str, fake: Fake, source: Path, rate: int, seconds: float, round_no: int
) -> Result:
    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        work = Path(tmp)
        log = work / "audit.jsonl"
        (work / "out").mkdir()
        log.touch()
        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        proc = CONTENDERS[name](work, log, fake.port)
        try:
            # Ready once a first matching line goes through (start-up is not measured).
            probe = {
                "action": "user.update_roles",
                "severity": "high",
                "request_id": f"probe-{round_no}",
            }
            fake.reset()
            os.write(fd, orjson.dumps(probe) + b"\n")
            probe_route = {("security", f"probe-{round_no}")}
            got = fake.wait_for(probe_route, time.monotonic() + 60, proc, work)
            if not got:
                sys.exit(f"{name}: never delivered the probe line (see {work})")
            fake.reset()
            written: dict[Route, float] = {}
            lines = live_lines(source)
            total = int(rate * seconds)
            cpu0 = cpu_seconds(proc.pid)
            threads0 = thread_cpu(proc.pid)
            t0 = time.monotonic()
            sent = 0
            while sent < total:
                due = min(total, int((time.monotonic() - t0) * rate) + 1)
                chunk = [next(lines) for _ in range(due - sent)]
                now = time.monotonic()
                os.write(fd, b"".join(chunk))
                for raw in chunk:
                    if b'"action":"app.' in raw or b'"action":"http.' in raw:
                        continue  # routine: cannot match (saves parsing in the loop)
                    for route in routes_of(raw):
                        written[route] = now
                sent = due
                time.sleep(0.001)
            time.sleep(0.5)  # the last lines' delivery, inside the CPU window
            cpu = cpu_seconds(proc.pid) - cpu0
            elapsed = time.monotonic() - t0
            used = {t: s - threads0.get(t, 0.0) for t, s in thread_cpu(proc.pid).items()}
            main = used.pop(proc.pid, 0.0)
            threads = tuple(
                round(s / elapsed * 100, 2) for s in [main, *sorted(used.values(), reverse=True)]
            )
            rss = peak_rss_mib(proc.pid)
            got = fake.wait_for(set(written), time.monotonic() + 60, proc, work)
        finally:
            os.close(fd)
            stop(proc)
        lost = check(name, "sustained", set(written), got)
        lat = sorted((got[r] - written[r]) * 1000 for r in written if r in got)
        return Result(
            cpu=cpu / elapsed * 100,
            p50=statistics.median(lat),
            p95=lat[int(0.95 * (len(lat) - 1))],
            rss=rss,
            threads=tuple(t for t in threads if t >= 0.05),
            lost=lost,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--prefilter", action="store_true")
    parser.add_argument("--only", choices=("catchup", "sustained"))
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "shipper-peer")
    parser.add_argument("--contenders", default="")
    args = parser.parse_args()
    ensure_rsyslog()
    args.cache.mkdir(exist_ok=True)
    print(f"shipper byte-compiled in {compile_shipper()}")
    names = args.contenders.split(",") if args.contenders else ["shipper", "rsyslog"]
    if args.prefilter and "rsyslog-pre" not in names:
        names.append("rsyslog-pre")
    big = corpus(args.cache, args.lines, 1)
    live = corpus(args.cache, max(int(args.rate * args.seconds), 1000), 2)
    wanted = expected(big) if args.only != "sustained" else set()
    print(f"corpus {big.name}: {len(wanted)} routed events; live: {live.name}", file=sys.stderr)
    fake = Fake()
    results: dict[str, list[Result]] = {n: [] for n in names}
    try:
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                res = Result()
                if args.only != "sustained":
                    res = catch_up(name, fake, big, wanted)
                if args.only != "catchup":
                    s = sustained(name, fake, live, args.rate, args.seconds, r)
                    res.p50, res.p95, res.rss = s.p50, s.p95, s.rss
                    res.sustained_cpu, res.threads = s.cpu, s.threads
                    res.lost += s.lost
                results[name].append(res)
                print(f"round {r + 1} {name:12} {_row(res)}", file=sys.stderr, flush=True)
    finally:
        fake.close()
    report(results, names, args)


def _row(res: Result) -> str:
    sus = res.sustained_cpu
    threads = "+".join(f"{t:.1f}" for t in res.threads)
    return (
        f"catch-up wall {res.wall:6.2f} s cpu {res.cpu:6.2f} s in {res.posts} posts "
        f"| sustained cpu {sus:5.2f}% "
        f"({threads}) p50 {res.p50:6.2f} ms p95 {res.p95:6.2f} ms | peak RSS {res.rss:5.1f} MiB"
        + (f" | lost {res.lost} events" if res.lost else "")
    )


def report(results: dict[str, list[Result]], names: list[str], args: argparse.Namespace) -> None:
    metrics: list[tuple[str, Callable[[Result], float]]] = [
        ("catch-up wall", lambda r: r.wall),
        ("catch-up CPU", lambda r: r.cpu),
        ("sustained CPU", lambda r: r.sustained_cpu),
        ("latency p50", lambda r: r.p50),
        ("latency p95", lambda r: r.p95),
        ("peak RSS (sustained)", lambda r: r.rss),
    ]
    print(
        f"\n{args.rounds} rounds, {args.lines:,} lines catch-up, "
        f"{args.rate} lines/s for {args.seconds:g} s sustained\n"
    )
    for name in names:
        print(
            f"{name}: "
            + "; ".join(
                f"{m} median {statistics.median(f(r) for r in results[name]):.2f}"
                for m, f in metrics
            )
            + (f"; lost {lost} events" if (lost := sum(r.lost for r in results[name])) else "")
        )
    base = [n for n in names if n != "shipper"]
    if "shipper" not in names or not base:
        return
    print(
        "\n| case | " + " | ".join(f"shipper / {b} (per-round ratios: median)" for b in base) + " |"
    )
    print("| --- |" + " --- |" * len(base))
    for m, f in metrics:
        cells = []
        for b in base:
            ratios = [f(s) / f(o) for s, o in zip(results["shipper"], results[b], strict=True)]
            cells.append(
                f"{statistics.median(ratios):.2f} (" + ", ".join(f"{x:.2f}" for x in ratios) + ")"
            )
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
