"""Checkpoints on real spools: what a resave makes durable before it writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

import pytest

from shipper.delivery.channels import ChannelSet
from shipper.run.checkpoints import Checkpoints
from shipper.sources.position import FilePosition, load_checkpoint
from shipper.spool.spool import Spool
from tests.support.alerts import make_alert


@dataclasses.dataclass
class Channels:
    spools: dict[str, Spool]


async def test_a_resave_commits_the_spools_before_it_saves_their_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = await Spool.open(tmp_path / "a", name="a")
    checkpoints = Checkpoints(tmp_path / "position.json", cast(ChannelSet, Channels({"a": spool})))
    at = FilePosition("/var/log/audit.jsonl", 1, 2, "", 0, offset=100, line=1)
    checkpoints.save(at, now=True)
    # A group the store wrote and owes a sync (sync_after): in the file, not durable yet.
    await spool.append([make_alert(2, "user.login")])
    spool.write()
    order: list[str] = []
    commit, save = spool.commit, checkpoints._file.save

    async def committed() -> None:
        order.append("commit")
        await commit()

    def saved(*args: object) -> bool:
        order.append("save")
        return save(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(spool, "commit", committed)
    monkeypatch.setattr(checkpoints._file, "save", saved)
    await checkpoints.resave()
    assert order == ["commit", "save"], "the ends saved never pass what is durable"
    checkpoints.close()
    loaded = load_checkpoint(tmp_path / "position.json")
    assert loaded is not None
    assert loaded.spool_ends == {"a": (spool.end.segment, spool.end.offset)}
    await spool.aclose()
