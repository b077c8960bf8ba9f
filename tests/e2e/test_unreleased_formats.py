"""State files in layouts that were never released are not read: the run falls back as for damage.

A version-1 position file (no ``spool_ends``) is an unknown format now: ``shipper run``
warns that the saved read position is unusable and starts where ``start_at`` says,
as it does for a corrupt one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.test_durability import event, received, start, stop, write_config
from tests.integration.fake_webhook import FakeWebhook, Reply


@pytest.fixture
async def fake() -> AsyncIterator[FakeWebhook]:
    async with FakeWebhook(Reply(204, "")) as server:
        yield server


def version_1_position(log: Path, offset: int, line: int) -> bytes:
    """A well-formed, checksummed position file of the unreleased version 1."""
    st = log.stat()
    head = log.read_bytes()[:1024]
    body = {
        "path": str(log),
        "dev": st.st_dev,
        "inode": st.st_ino,
        "fingerprint": hashlib.sha256(head).hexdigest(),
        "fingerprint_len": len(head),
        "offset": offset,
        "line": line,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    checksum = "sha256:" + hashlib.sha256(canonical).hexdigest()
    doc = {"format": "shipper.file-position", "version": 1, **body, "checksum": checksum}
    return json.dumps(doc).encode()


async def test_a_version_1_position_is_unusable_and_start_at_applies(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    log = tmp_path / "audit.jsonl"
    lines = [event(i) for i in range(10)]
    log.write_bytes(b"".join(lines))
    config = write_config(tmp_path, log)
    config.write_text(config.read_text().replace('start_at = "beginning"', 'start_at = "end"'))
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    # Read up to line 5: a reader of version 1 would resume there and send 5-9.
    (state / "position.json").write_bytes(version_1_position(log, len(b"".join(lines[:5])), 5))
    proc = await start(config, fake)
    with log.open("ab") as f:
        f.write(b"".join(event(i) for i in range(10, 13)))
    await fake.wait_for(lambda reqs: set(received(reqs)) >= {10, 11, 12}, 30)
    err = (await stop(proc)).decode()
    assert "saved read position is unusable" in err, err
    assert "unknown format" in err, err
    assert set(received(fake.requests)) == {10, 11, 12}
