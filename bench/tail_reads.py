#!/usr/bin/env python3
"""What one read of a live log costs the tail's thread, without the noise of the machine.

A live log wakes shipper's reading thread once per write; on a shared machine the
thread's CPU for the same build moves by half between runs, too much to see a change
of a few per cent. This drives the real ``FileTail.follow`` with the skim and the
routing a run gives it (``config.example.toml``'s channels), synchronously: each wait
of the tail appends the next 2 or 3 lines of a ``bench/gen_audit.py`` corpus itself,
then polls the real inotify descriptor (an event is pending, so it returns at once).
So every read is a live log's read, and the same reads happen in every run.

It prints microseconds of CPU per read. Under callgrind the instruction count is
exact; run it with two read counts and take the difference per read, which leaves
out the imports (the harness's own write and join are counted in every read):

    valgrind --tool=callgrind python bench/tail_reads.py 5000
    valgrind --tool=callgrind python bench/tail_reads.py 10000

Compare builds by putting another checkout's ``shipper`` first on ``PYTHONPATH``.

Usage: python bench/tail_reads.py [READS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peer"))

import run as peer  # noqa: E402  (bench/peer/run.py: the bench's shipper config)

from shipper.config.load import load_config  # noqa: E402
from shipper.routing.event import Alert  # noqa: E402
from shipper.routing.intake import Intake  # noqa: E402
from shipper.run.storing import HandedBatches  # noqa: E402
from shipper.sinks import SINKS  # noqa: E402
from shipper.sources.file import FileTail, TailBatch  # noqa: E402
from shipper.sources.inotify import DirectoryWatch  # noqa: E402
from shipper.sources.lines import Line  # noqa: E402
from shipper.sources.position import FilePosition  # noqa: E402

CORPUS_LINES = 50_000


class _WritingWatch:
    """A ``DirectoryWatch`` whose wait first appends the next write, then polls for real."""

    def __init__(
        self, tail: FileTail, fd: int, lines: list[bytes], reads: int, real: DirectoryWatch
    ):
        self._tail, self._fd, self._lines, self._reads, self._real = tail, fd, lines, reads, real
        self.writes = 0
        self._next = 0

    def wait(self, at_most: float) -> None:
        if self.writes >= self._reads:
            self._tail.stop()
            return
        count = 3 if self.writes % 10 == 0 else 2  # 2.1 lines a write, as 2,000 lines/s gives
        start = self._next
        os.write(
            self._fd, b"".join(self._lines[(start + i) % len(self._lines)] for i in range(count))
        )
        self._next, self.writes = start + count, self.writes + 1
        self._real.wait(at_most)

    def watch(self, directory: Path) -> None:
        pass

    def wake(self) -> None:
        pass

    def close(self) -> None:
        self._real.close()


def main() -> None:
    reads = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory(prefix="tail-reads-") as tmp:
        work = Path(tmp)
        corpus = subprocess.run(
            [sys.executable, str(HERE / "gen_audit.py"), str(CORPUS_LINES), "--seed", "1"],
            capture_output=True,
            check=True,
        ).stdout.splitlines(keepends=True)
        log = work / "audit.jsonl"
        log.touch()
        (work / "out").mkdir()
        config = load_config(peer.shipper_config(work, log, 9), {}, kinds=SINKS)
        intake = Intake(config)
        handed = HandedBatches()

        def route(lines: Sequence[Line], position: FilePosition | None) -> dict[str, list[Alert]]:
            pending: dict[str, list[Alert]] = defaultdict(list)
            for routed in intake.process(lines):
                for name in routed.channels:
                    pending[name].append(routed.alert)
            return pending

        step = handed.step(route)
        handed_over = 0

        def emit(batch: TailBatch | None) -> bool:
            nonlocal handed_over
            item = step((), None) if batch is None else step(batch.lines, batch.position)
            handed_over += item is not None
            return True

        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        tail = FileTail(
            log, saved=None, start_at="end", from_beginning=False, max_line_bytes=1 << 20
        )
        watch = _WritingWatch(tail, fd, corpus, reads, DirectoryWatch.open(work))
        tail._watch = watch  # type: ignore[assignment]  # the harness's writing wait
        cpu = time.process_time()
        try:
            tail.follow(emit, lambda: None, handed.skip(intake.skims_to_nothing))
        finally:
            os.close(fd)
        cpu = time.process_time() - cpu
    print(
        f"{cpu / watch.writes * 1e6:.2f} us of CPU a read, {watch.writes} reads, "
        f"{intake.stats.lines_read} lines, {handed_over} batches handed over"
    )


if __name__ == "__main__":
    main()
