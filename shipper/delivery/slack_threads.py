"""Where a Slack app channel's threads are: conversation key -> (Slack channel, ts), on disk.

One SQLite file per shipper channel in the state directory's ``kinds/``
(``slack_app.<channel>.threads.sqlite3``), so the map survives restarts and
``kill -9``: every change is a committed transaction (write-ahead log, ``synchronous=FULL``)
before the exchange reports the post delivered, and so before the event
leaves the backlog. Each entry keeps the first message as posted (compressed):
``chat.update`` replaces a message's whole content, and the status line is
redrawn on it. Keys are hashes (``sinks.slack_app.thread_key``), never the
event's value. Bounded: entries older than ``max_age`` are dropped, and past
``max_entries`` the oldest are. The file is created 0600 and never through a
link (``shipper.durable``); one that SQLite cannot read is moved aside and a new
one started: replies then start new threads, they are never refused.
Blocking: call it from a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shipper.durable import ensure_private_dir, open_private

log = logging.getLogger(__name__)

MAX_ENTRIES = 100_000
MAX_AGE = 30 * 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    key TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    created REAL NOT NULL,
    last TEXT NOT NULL,
    parent BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS threads_created ON threads (created);
"""


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation's first message: where it is, what it showed, and the fingerprint of
    the last request delivered into it (to recognise one sent again after a crash)."""

    channel: str
    ts: str
    created: float
    last: str
    parent: dict[str, Any]


class ThreadStore:
    """The threads of one channel; see the module docstring."""

    def __init__(
        self, path: Path, *, max_entries: int = MAX_ENTRIES, max_age: float = MAX_AGE
    ) -> None:
        self.path = path
        self._max_entries = max_entries
        self._max_age = max_age
        self._lock = threading.Lock()
        self._db = self._open()

    def get(self, key: str, now: float) -> Thread | None:
        """The thread of ``key``, unless it is unknown or too old."""
        with self._lock:
            row = self._db.execute(
                "SELECT channel, ts, created, last, parent FROM threads WHERE key = ?", (key,)
            ).fetchone()
        if row is None or row[2] < now - self._max_age:
            return None
        try:
            parent = orjson.loads(zlib.decompress(row[4]))
        except (zlib.error, orjson.JSONDecodeError):
            return None
        return Thread(row[0], row[1], row[2], row[3], parent)

    def put(
        self, key: str, channel: str, ts: str, fingerprint: str, parent: object, now: float
    ) -> None:
        """Remember a new thread (committed when this returns), dropping what is past the bounds."""
        blob = zlib.compress(orjson.dumps(parent), 6)
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO threads VALUES (?, ?, ?, ?, ?, ?)",
                (key, channel, ts, now, fingerprint, blob),
            )
            self._db.execute("DELETE FROM threads WHERE created < ?", (now - self._max_age,))
            # One count a new thread (about one a second at most) is cheap next to the fsync.
            count = self._db.execute("SELECT count(*) FROM threads").fetchone()[0]
            if count > self._max_entries:
                self._db.execute(
                    "DELETE FROM threads WHERE key IN "
                    "(SELECT key FROM threads ORDER BY created, rowid LIMIT ?)",
                    (count - self._max_entries,),
                )

    def mark(self, key: str, fingerprint: str) -> None:
        """Record ``fingerprint`` as the last request delivered into ``key``'s thread."""
        with self._lock, self._db:
            self._db.execute("UPDATE threads SET last = ? WHERE key = ?", (fingerprint, key))

    def forget(self, key: str) -> None:
        """Drop ``key``'s thread (Slack no longer has its first message)."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM threads WHERE key = ?", (key,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM threads").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _open(self) -> sqlite3.Connection:
        ensure_private_dir(self.path.parent)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.error(
                "%s cannot be read (%s); moved to %s and started afresh: events of "
                "conversations begun before now start new threads",
                self.path,
                exc,
                aside.name,
            )
            os.replace(self.path, aside)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        # Created here, 0600 and not through a link; SQLite then opens the checked file
        # (in a private directory no one else can plant a link in meanwhile).
        os.close(open_private(self.path, os.O_RDWR | os.O_CREAT))
        db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
        try:
            # A commit is on disk once the write-ahead log is synced: a crash or a power cut
            # after it keeps the thread (in the default journal mode the journal's removal,
            # which marks a commit, is not synced to its directory).
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM threads").fetchone()
        except BaseException:
            db.close()
            raise
        db.isolation_level = "DEFERRED"
        return db
