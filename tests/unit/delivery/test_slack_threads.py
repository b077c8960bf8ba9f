"""The Slack app's thread store: durable across reopening, bounded, private, never via a link."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from shipper.delivery.slack_threads import ThreadStore
from shipper.durable import UntrustedPathError

PARENT = {"text": "request", "blocks": [{"type": "divider"}]}


def test_a_thread_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "kinds" / "t.sqlite3"
    store = ThreadStore(path)
    store.put("k1", "C1", "1.000001", "fp1", PARENT, now=100.0)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    assert modes == {"t.sqlite3": 0o600, "t.sqlite3-wal": 0o600, "t.sqlite3-shm": 0o600}
    store.close()
    again = ThreadStore(path)
    thread = again.get("k1", now=200.0)
    assert thread is not None
    assert (thread.channel, thread.ts, thread.last, thread.parent) == (
        "C1",
        "1.000001",
        "fp1",
        PARENT,
    )
    again.mark("k1", "fp2")
    assert (again.get("k1", now=200.0) or thread).last == "fp2"
    again.forget("k1")
    assert again.get("k1", now=200.0) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_oldest_entries_are_dropped_past_the_bounds(tmp_path: Path) -> None:
    store = ThreadStore(tmp_path / "t.sqlite3", max_entries=3, max_age=1000.0)
    for n in range(5):
        store.put(f"k{n}", "C1", f"{n}.1", "fp", PARENT, now=float(n))
    assert len(store) == 3
    assert store.get("k0", now=10.0) is None and store.get("k1", now=10.0) is None
    assert store.get("k4", now=10.0) is not None
    # Too old to be a thread's parent any more: unknown, and dropped at the next write.
    assert store.get("k2", now=1003.0) is None
    store.put("k9", "C1", "9.1", "fp", PARENT, now=1003.5)
    assert len(store) == 2, "k2 and k3 (older than 1000s at 1003.5) dropped; k4 and k9 kept"
    assert store.get("k4", now=1003.5) is not None


def test_a_link_in_its_place_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"precious")
    (tmp_path / "kinds").mkdir(mode=0o700)
    os.symlink(target, tmp_path / "kinds" / "t.sqlite3")
    with pytest.raises(UntrustedPathError):
        ThreadStore(tmp_path / "kinds" / "t.sqlite3")
    assert target.read_bytes() == b"precious"


def test_an_unreadable_file_is_moved_aside_and_a_new_one_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    path.chmod(0o600)
    with caplog.at_level(logging.ERROR):
        store = ThreadStore(path)
    assert len(store) == 0
    assert (tmp_path / "t.sqlite3.unreadable").exists()
    assert "start new threads" in caplog.text
