"""Where the tailed file was read up to: a file's identity, and saving that position durably.

A ``FilePosition`` names a file by more than its path: its device and inode,
and a fingerprint (sha256) of its first bytes, so that after a restart the
tailer can tell "the same file, grown" from "a new file under the old name"
(rotation) and from "the same inode, truncated and rewritten" (copytruncate).
``save_position`` replaces the position file atomically (temporary file,
fsync, rename, fsync of the directory), so a crash leaves either the old or
the new position, never a mix. A run saves it after every batch it stores,
so ``PositionFile`` makes that cheap: the document is padded to one 512-byte
sector and overwritten in place with one ``pwrite`` (no temporary file, no
rename, no fsync on the way; ``sync`` makes it durable, the run does so within
a second). A write of one sector at offset 0 is not torn by a power loss,
the assumption PostgreSQL makes of its ``pg_control``; a document that does
not fit (a very long path, many channels) is saved atomically as before.
Either way the file is one JSON document, and a ``kill -9`` never undoes a
save the kernel has. The JSON carries a format version and a
checksum of its own fields, so truncation or garbage is detected on load
(``PositionError``) instead of silently restarting somewhere wrong.

A position is saved with ``spool_ends``: where each channel's spool ended when
it was saved (segment, offset). After a crash between a spool's fsync and the
next save, whatever a spool holds past its saved end came from the lines read
again after the restart; the pipeline uses that to queue them only once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipper.durable import open_private, read_private, write_atomic
from shipper.errors import PositionError

# How much of a file's head identifies it. 1 KiB holds several audit lines, each
# with a timestamp, so two different logs practically never share it.
FINGERPRINT_BYTES = 1024
FORMAT = "shipper.file-position"
VERSION = 2
_FIELDS = ("path", "dev", "inode", "fingerprint", "fingerprint_len", "offset", "line")


@dataclass(frozen=True)
class FilePosition:
    """Where to resume reading one tailed file.

    ``offset`` is just past the last complete line consumed and ``line`` counts
    the lines consumed from this file. ``fingerprint`` is the sha256 hex digest
    of the file's first ``fingerprint_len`` bytes; a length of 0 means the file
    was empty and has no identity beyond its device and inode yet.
    """

    path: str
    dev: int
    inode: int
    fingerprint: str
    fingerprint_len: int
    offset: int
    line: int


SpoolEnds = Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class Checkpoint:
    """A saved position, and where each channel's spool ended when it was saved."""

    position: FilePosition
    spool_ends: SpoolEnds = field(default_factory=dict)


def fingerprint_of(data: bytes) -> str:
    """The fingerprint of a file's head, as stored in a ``FilePosition``."""
    return hashlib.sha256(data).hexdigest()


def read_head(fd: int, length: int = FINGERPRINT_BYTES) -> bytes:
    """Up to ``length`` bytes from the start of ``fd``, without moving its offset."""
    head = b""
    while len(head) < length:
        chunk = os.pread(fd, length - len(head), len(head))
        if not chunk:
            break
        head += chunk
    return head


def is_same_file(fd: int, st: os.stat_result, pos: FilePosition) -> bool:
    """Whether the open file ``fd`` (whose ``fstat`` is ``st``) is the file ``pos`` describes.

    Same device and inode, and its first ``fingerprint_len`` bytes hash to the
    saved fingerprint. A file now shorter than that was truncated: not the same.
    """
    if (st.st_dev, st.st_ino) != (pos.dev, pos.inode) or st.st_size < pos.fingerprint_len:
        return False
    head = read_head(fd, pos.fingerprint_len)
    return len(head) == pos.fingerprint_len and fingerprint_of(head) == pos.fingerprint


def load_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint saved at ``path``; ``None`` when there is none.

    Raises ``PositionError`` when the file exists but is unreadable, truncated,
    not ours, or fails its checksum.
    """
    try:
        raw = read_private(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PositionError(path, f"cannot be read: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PositionError(path, "not valid JSON (truncated or corrupt)") from exc
    if not isinstance(doc, dict):
        raise PositionError(path, "not a JSON object")
    version = doc.get("version")
    if doc.get("format") != FORMAT or version != VERSION:
        raise PositionError(path, f"unknown format {doc.get('format')!r} {version!r}")
    body = {name: doc.get(name) for name in (*_FIELDS, "spool_ends")}
    if doc.get("checksum") != _checksum(body):
        raise PositionError(path, "checksum mismatch (corrupt)")
    ends = _validated_ends(path, body.pop("spool_ends", {}))
    return Checkpoint(_validated(path, body), ends)


def save_position(path: Path, pos: FilePosition, spool_ends: SpoolEnds | None = None) -> None:
    """Replace the checkpoint saved at ``path``, atomically and durably."""
    write_atomic(path, json.dumps(_document(pos, spool_ends), indent=1).encode() + b"\n")


def _document(pos: FilePosition, spool_ends: SpoolEnds | None) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies, and this runs after every stored batch.
    body: dict[str, Any] = {name: getattr(pos, name) for name in _FIELDS}
    body["spool_ends"] = {name: list(end) for name, end in (spool_ends or {}).items()}
    return {"format": FORMAT, "version": VERSION, **body, "checksum": _checksum(body)}


SECTOR_BYTES = 512


class PositionFile:
    """The checkpoint file of a run, kept open and overwritten in place (module docstring).

    ``save`` is one ``pwrite`` once the file holds a sector-sized document; the
    first save, and any that does not fit a sector, replace the file atomically
    and durably. ``sync`` (blocking: call it in a thread) makes in-place saves
    durable. Raises ``OSError``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self.is_synced = True

    def save(self, pos: FilePosition, spool_ends: SpoolEnds | None = None) -> bool:
        """Save; ``True`` when it was written in place (and is owed a ``sync``)."""
        data = json.dumps(_document(pos, spool_ends), separators=(",", ":")).encode()
        if len(data) >= SECTOR_BYTES:
            self.close()
            save_position(self.path, pos, spool_ends)
            return False
        data = data.ljust(SECTOR_BYTES - 1) + b"\n"
        if self._fd < 0:
            write_atomic(self.path, data)
            self._fd = open_private(self.path, os.O_WRONLY)
            return False
        if os.pwrite(self._fd, data, 0) != len(data):
            raise OSError(0, "short write")
        self.is_synced = False
        return True

    def sync(self) -> None:
        if self._fd >= 0 and not self.is_synced:
            self.is_synced = True  # a save that lands meanwhile sets it back
            try:
                os.fdatasync(self._fd)
            except OSError:
                self.is_synced = False
                raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _checksum(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _validated(path: Path, body: dict[str, Any]) -> FilePosition:
    if not isinstance(body["path"], str) or not isinstance(body["fingerprint"], str):
        raise PositionError(path, "path and fingerprint must be strings")
    for name in ("dev", "inode", "fingerprint_len", "offset", "line"):
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PositionError(path, f"{name} must be a non-negative integer")
    if body["fingerprint_len"] > FINGERPRINT_BYTES:
        raise PositionError(path, f"fingerprint_len above {FINGERPRINT_BYTES}")
    return FilePosition(**body)


def _validated_ends(path: Path, ends: Any) -> dict[str, tuple[int, int]]:
    if not isinstance(ends, dict):
        raise PositionError(path, "spool_ends must be an object")
    checked: dict[str, tuple[int, int]] = {}
    for name, end in ends.items():
        if (
            not isinstance(end, list)
            or len(end) != 2
            or not all(type(n) is int and n >= 0 for n in end)
        ):
            raise PositionError(path, f"spool_ends.{name} must be two non-negative integers")
        checked[name] = (end[0], end[1])
    return checked
