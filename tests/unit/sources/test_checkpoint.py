"""The saved file position: atomic save, checked load, and a file's identity."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.errors import PositionError
from shipper.sources.position import (
    FINGERPRINT_BYTES,
    Checkpoint,
    FilePosition,
    fingerprint_of,
    is_same_file,
    load_checkpoint,
    read_head,
    save_position,
)
from tests.support.position import load_position

POS = FilePosition(
    path="/var/log/audit.jsonl",
    dev=2049,
    inode=123456,
    fingerprint=fingerprint_of(b'{"a":1}\n'),
    fingerprint_len=8,
    offset=8,
    line=1,
)


def with_checksum(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the checksum its fields call for: a well-formed file, whatever it says."""
    names = [name for name in (*POS.__dict__, "spool_ends") if name in doc]
    body = json.dumps({n: doc[n] for n in names}, sort_keys=True, separators=(",", ":"))
    return {**doc, "checksum": "sha256:" + hashlib.sha256(body.encode()).hexdigest()}


def test_missing_file_is_no_position(tmp_path: Path) -> None:
    assert load_position(tmp_path / "position.json") is None


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "position.json"
    save_position(path, POS)
    assert load_position(path) == POS
    moved = FilePosition(**{**POS.__dict__, "offset": 99, "line": 7})
    save_position(path, moved)
    assert load_position(path) == moved
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["position.json"]


@given(
    path=st.text(min_size=1, max_size=40),
    numbers=st.lists(st.integers(min_value=0, max_value=2**63), min_size=4, max_size=4),
    fp_len=st.integers(min_value=0, max_value=FINGERPRINT_BYTES),
)
def test_round_trip_any_values(path: str, numbers: list[int], fp_len: int) -> None:
    pos = FilePosition(path, numbers[0], numbers[1], "ab" * 32, fp_len, numbers[2], numbers[3])
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "position.json"
        save_position(target, pos)
        assert load_position(target) == pos


def test_a_stray_temporary_file_from_a_crash_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "position.json"
    save_position(path, POS)
    # A crash mid-save leaves a half-written temporary file next to the real one.
    stray = tmp_path / ".position.json.tmp"
    stray.write_bytes(b'{"format": "shipper.file-po')
    assert load_position(path) == POS
    later = FilePosition(**{**POS.__dict__, "offset": 50, "line": 3})
    save_position(path, later)
    assert load_position(path) == later
    assert not stray.exists()


def test_a_failed_save_leaves_the_old_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "position.json"
    save_position(path, POS)

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        save_position(path, FilePosition(**{**POS.__dict__, "offset": 1000}))
    monkeypatch.undo()
    assert load_position(path) == POS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["position.json"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not valid JSON"),
        (b'{"format": "shipper.file-position", "vers', "not valid JSON"),
        (b"\x00\x00\x00\x00", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"format": "other", "version": 1}', "unknown format"),
        (b'{"format": "shipper.file-position", "version": 3}', "unknown format"),
    ],
)
def test_garbage_is_reported_not_guessed(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "position.json"
    path.write_bytes(content)
    with pytest.raises(PositionError, match=reason) as info:
        load_position(path)
    assert info.value.path == path
    assert str(path) in str(info.value)


def test_an_edited_value_fails_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "position.json"
    save_position(path, POS)
    doc = json.loads(path.read_bytes())
    doc["offset"] = 7
    path.write_text(json.dumps(doc))
    with pytest.raises(PositionError, match="checksum"):
        load_position(path)


def test_a_well_formed_but_invalid_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "position.json"
    save_position(path, POS)
    doc = json.loads(path.read_bytes())
    doc["offset"] = -1
    path.write_text(json.dumps(with_checksum(doc)))
    with pytest.raises(PositionError, match="offset must be a non-negative integer"):
        load_position(path)


def test_an_unreadable_position_is_a_position_error(tmp_path: Path) -> None:
    path = tmp_path / "position.json"
    path.mkdir()  # reading a directory fails even for root
    with pytest.raises(PositionError, match="cannot be read"):
        load_position(path)


def _position_of(path: Path, data: bytes, offset: int) -> FilePosition:
    st = path.stat()
    head = data[:FINGERPRINT_BYTES]
    return FilePosition(str(path), st.st_dev, st.st_ino, fingerprint_of(head), len(head), offset, 0)


def test_identity_is_device_inode_and_first_bytes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    data = b"".join(b'{"n": %d}\n' % n for n in range(300))
    path.write_bytes(data)
    pos = _position_of(path, data, len(data))
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_head(fd) == data[:FINGERPRINT_BYTES]
        assert is_same_file(fd, os.fstat(fd), pos)
        # Same inode, rewritten in place (copytruncate, then new lines): not the same file.
        path.write_bytes(b'{"other": 1}\n' * 200)
        assert not is_same_file(fd, os.fstat(fd), pos)
        # Same inode, truncated below the fingerprinted prefix.
        path.write_bytes(b"")
        assert not is_same_file(fd, os.fstat(fd), pos)
    finally:
        os.close(fd)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(data)
    fd = os.open(copy, os.O_RDONLY)
    try:
        assert not is_same_file(fd, os.fstat(fd), pos)  # same bytes, another inode
    finally:
        os.close(fd)


def test_a_short_file_is_identified_by_the_bytes_it_had(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"n": 1}\n')
    pos = _position_of(path, b'{"n": 1}\n', 9)
    assert pos.fingerprint_len == 9
    with path.open("ab") as f:
        f.write(b'{"n": 2}\n' * 200)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert is_same_file(fd, os.fstat(fd), pos)  # it grew: still the same file
    finally:
        os.close(fd)


def test_spool_ends_are_saved_with_the_position(tmp_path: Path) -> None:
    path = tmp_path / "position.json"
    save_position(path, POS, {"siem": (3, 4096), "slack": (1, 0)})
    assert load_checkpoint(path) == Checkpoint(POS, {"siem": (3, 4096), "slack": (1, 0)})
    save_position(path, POS)
    assert load_checkpoint(path) == Checkpoint(POS, {})


def test_a_version_1_position_is_an_unknown_format(tmp_path: Path) -> None:
    # Version 1 (no spool_ends) was never released: nothing reads it.
    path = tmp_path / "position.json"
    doc = {"format": "shipper.file-position", "version": 1, **POS.__dict__}
    path.write_text(json.dumps(with_checksum(doc)))
    with pytest.raises(PositionError, match="unknown format"):
        load_checkpoint(path)


@pytest.mark.parametrize("ends", [[], {"siem": [1]}, {"siem": [1, -2]}, {"siem": ["1", 2]}])
def test_bad_spool_ends_are_refused(tmp_path: Path, ends: object) -> None:
    path = tmp_path / "position.json"
    save_position(path, POS)
    doc = json.loads(path.read_text())
    doc["spool_ends"] = ends
    path.write_text(json.dumps(with_checksum(doc)))
    with pytest.raises(PositionError, match="spool_ends"):
        load_checkpoint(path)
