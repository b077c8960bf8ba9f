"""Group commit on real spools: order, one fsync and one position save per group, failures."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shipper.errors import BacklogFullError, SpoolError
from shipper.routing.event import Alert
from shipper.sources.position import FilePosition
from shipper.spool.spool import Spool
from shipper.spool.store import Store
from tests.support.alerts import make_alert
from tests.support.spools import open_spool


def alert(n: int) -> Alert:
    return make_alert(
        n,
        "user.login",
        actor="ann@example.com",
        status="ok",
        timestamp="2024-05-01T12:00:00Z",
        facts=(("n", str(n)),),
    )


def position(line: int) -> FilePosition:
    return FilePosition("/var/log/audit.jsonl", 1, 2, "", 0, offset=line * 100, line=line)


@dataclasses.dataclass
class Channels:
    spools: dict[str, Spool]
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


class Saves:
    """The positions saved, in order."""

    def __init__(self) -> None:
        self.saved: list[int] = []
        self.done = asyncio.Event()

    def __call__(self, at: FilePosition) -> None:
        self.saved.append(at.line)
        self.done.set()


@pytest.fixture
async def channels(tmp_path: Path) -> AsyncIterator[Channels]:
    spools = {name: await Spool.open(tmp_path / name, name=name) for name in ("a", "b")}
    yield Channels(spools)
    for spool in spools.values():
        await spool.aclose()


class Commits:
    """A spool's commits (how many records it held at each), held up while ``gate`` is
    clear: a group is then being made durable."""

    def __init__(self, spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[int] = []
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        commit = spool.commit

        async def counted() -> None:
            self.calls.append(len(spool))
            self.started.set()
            await self.gate.wait()
            await commit()

        monkeypatch.setattr(spool, "commit", counted)


def count_commits(spool: Spool, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return Commits(spool, monkeypatch).calls


async def lines_in(spool: Spool) -> list[int]:
    return [a.line for a in await spool.peek(100)]


async def test_batches_put_while_a_group_is_stored_go_together(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = Commits(channels.spools["a"], monkeypatch)
    commits.gate.clear()
    saves = Saves()
    store = Store(channels, saves)
    await store.put({"a": [alert(1)]}, position(1))
    await asyncio.wait_for(commits.started.wait(), 5)  # batch 1 is being made durable
    await store.put({"a": [alert(2)], "b": [alert(2)]}, position(2))
    await store.put({"a": [alert(3)]}, position(3))
    await store.put({}, position(4))  # no match: only the position moves
    commits.gate.set()
    await store.flush()
    assert saves.saved == [1, 4], "one save per group, the last batch's position"
    assert commits.calls == [1, 3], "one fsync per spool per group"
    assert await lines_in(channels.spools["a"]) == [1, 2, 3]
    assert await lines_in(channels.spools["b"]) == [2]


async def test_each_batch_is_stored_at_once_when_nothing_else_is_in_progress(
    channels: Channels,
) -> None:
    saves = Saves()
    store = Store(channels, saves)
    for n in range(1, 4):
        await store.put({"b": [alert(n)]}, position(n))
        await store.flush()
        assert saves.saved[-1] == n
    assert await lines_in(channels.spools["b"]) == [1, 2, 3]


async def test_stdin_batches_have_no_position_to_save(channels: Channels) -> None:
    saves = Saves()
    store = Store(channels, saves)
    await store.put({"a": [alert(1)]}, None)
    await store.flush()
    assert saves.saved == []
    assert await lines_in(channels.spools["a"]) == [1]


@pytest.mark.parametrize(
    ("batches", "alerts", "third"),
    [
        (2, 1000, {"a": [alert(3)]}),  # two batches wait
        (16, 3, {"a": [alert(3)], "b": [alert(3)]}),  # three alerts wait
    ],
)
async def test_put_waits_once_too_much_waits(
    channels: Channels,
    monkeypatch: pytest.MonkeyPatch,
    batches: int,
    alerts: int,
    third: dict[str, list[Alert]],
) -> None:
    commits = Commits(channels.spools["a"], monkeypatch)
    commits.gate.clear()
    saves = Saves()
    store = Store(channels, saves, max_waiting=batches, max_waiting_alerts=alerts)
    await store.put({"a": [alert(1)]}, position(1))
    await asyncio.wait_for(commits.started.wait(), 5)
    await store.put({"a": [alert(2)]}, position(2))
    putting = asyncio.create_task(store.put(third, position(3)))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not putting.done(), "reading pauses"
    commits.gate.set()
    await asyncio.wait_for(putting, 5)
    await store.flush()
    assert saves.saved == [1, 3]


async def test_a_channel_removed_after_routing_is_left_out(channels: Channels) -> None:
    saves = Saves()
    store = Store(channels, saves)
    removed = channels.spools.pop("b")
    await store.put({"a": [alert(1)], "b": [alert(1)]}, position(1))
    await store.flush()
    assert saves.saved == [1]
    assert len(removed) == 0
    assert await lines_in(channels.spools["a"]) == [1]


async def test_a_failure_stops_the_reading_and_comes_out_of_put_and_flush(
    channels: Channels,
) -> None:
    stopped = asyncio.Event()
    store = Store(channels, Saves(), on_failure=stopped.set)
    await channels.spools["a"].aclose()  # every write now fails
    await store.put({"a": [alert(1)]}, position(1))
    await asyncio.wait_for(stopped.wait(), 5)  # a quiet tail would wait for lines forever
    with pytest.raises(SpoolError):
        await store.put({"a": [alert(2)]}, position(2))
    with pytest.raises(SpoolError):
        await store.flush()


async def test_a_cancelled_flush_still_stores_what_was_put(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = Commits(channels.spools["a"], monkeypatch)
    commits.gate.clear()
    saves = Saves()
    store = Store(channels, saves)
    await store.put({"a": [alert(1)]}, position(1))
    await asyncio.wait_for(commits.started.wait(), 5)
    await store.put({"a": [alert(2)]}, position(2))
    flushing = asyncio.create_task(store.flush())
    await asyncio.sleep(0)
    flushing.cancel()
    await asyncio.sleep(0)
    assert not flushing.done(), "the stop waits for the group"
    commits.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert saves.saved == [1, 2]


def bytes_written(spool: Spool) -> int:
    return sum(p.stat().st_size for p in spool.directory.glob("*.seg"))


async def test_with_sync_after_groups_are_written_at_once_and_made_durable_together(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = {name: count_commits(spool, monkeypatch) for name, spool in channels.spools.items()}
    saves = Saves()
    store = Store(channels, saves, sync_after=0.5)
    await store.put({"a": [alert(1)]}, position(1))
    await store.put({"a": [alert(2)], "b": [alert(2)]}, position(2))
    await store.put({}, position(3))  # no match: only the position moves
    deadline = asyncio.get_running_loop().time() + 5
    while bytes_written(channels.spools["b"]) == 0:  # in the file: a kill -9 loses none
        assert asyncio.get_running_loop().time() < deadline, "the group was never written"
        await asyncio.sleep(0.001)
    assert bytes_written(channels.spools["a"]) > 0
    assert commits == {"a": [], "b": []}, "no fsync yet"
    assert saves.saved == [], "no position may pass what is not durable"
    await asyncio.wait_for(saves.done.wait(), 5)  # sync_after is up
    await store.flush()
    assert saves.saved == [3], "one save, the last position"
    assert commits == {"a": [2], "b": [1]}, "one fsync per spool for all three groups"
    assert await lines_in(channels.spools["a"]) == [1, 2]


async def test_with_sync_after_a_flush_makes_what_waits_durable_at_once(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = count_commits(channels.spools["a"], monkeypatch)
    saves = Saves()
    store = Store(channels, saves, sync_after=3600)
    await store.put({"a": [alert(1)]}, position(1))
    await asyncio.wait_for(store.flush(), 5)  # a stop does not wait for sync_after
    assert saves.saved == [1]
    assert commits == [1]
    await store.put({"a": [alert(2)]}, position(2))
    await asyncio.wait_for(store.flush(), 5)
    assert saves.saved == [1, 2]
    assert commits == [1, 2]


async def test_with_sync_after_an_idle_store_writes_a_batch_before_put_returns(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No turn of the event loop between a live log's alert and its channel's backlog."""
    spool = channels.spools["a"]
    commits = count_commits(spool, monkeypatch)
    saves = Saves()
    store = Store(channels, saves, sync_after=3600)
    await store.put({"a": [alert(1)]}, position(1))
    assert len(spool) == 1
    await asyncio.sleep(0)  # a turn of the event loop: the sync is still owed
    await store.put({"a": [alert(2)]}, position(2))
    assert len(spool) == 2
    assert (saves.saved, commits) == ([], []), "the sync is owed, not done"
    await asyncio.wait_for(store.flush(), 5)
    assert (saves.saved, commits) == ([2], [2]), "one sync for both"


async def test_with_sync_after_a_batch_for_a_full_backlog_waits_in_the_task_not_in_put(
    tmp_path: Path,
) -> None:
    """``put`` never waits half way through a batch: a stop's cancellation could then leave
    it half stored while later batches, and their positions, are stored after it."""
    spool = await open_spool(tmp_path / "small", max_bytes=100, name="small")
    saves = Saves()
    store = Store(Channels({"small": spool}), saves, sync_after=3600)
    await store.put({"small": [alert(1)]}, position(1))  # the first always fits
    await asyncio.sleep(0)  # a turn of the event loop: the sync is still owed
    await asyncio.wait_for(store.put({"small": [alert(2)]}, position(2)), 5)
    assert len(spool) == 1, "the second waits for room in the store's task"
    await asyncio.sleep(0)
    spool.give_up_waiting()  # as a stop does
    with pytest.raises(BacklogFullError):
        await asyncio.wait_for(store.flush(), 5)
    assert len(spool) == 1
    assert saves.saved == [], "no position passes the batch that was not stored"


async def test_with_sync_after_a_full_backlog_holds_back_the_whole_batch(
    tmp_path: Path, channels: Channels
) -> None:
    """A batch for two channels, one of them full: neither is written by ``put``."""
    small = await open_spool(tmp_path / "small", max_bytes=100, name="small")
    both = Channels({"a": channels.spools["a"], "small": small})
    store = Store(both, Saves(), sync_after=3600)
    await store.put({"small": [alert(1)]}, position(1))  # the first always fits
    await asyncio.sleep(0)  # a turn of the event loop: the sync is still owed
    await store.put({"a": [alert(2)], "small": [alert(2)]}, position(2))
    assert (len(channels.spools["a"]), len(small)) == (0, 1)
    await asyncio.sleep(0)
    small.give_up_waiting()
    with pytest.raises(BacklogFullError):
        await asyncio.wait_for(store.flush(), 5)


async def test_with_sync_after_a_batch_for_two_channels_is_written_by_put(
    channels: Channels,
) -> None:
    store = Store(channels, Saves(), sync_after=3600)
    await store.put({"a": [alert(1)], "b": [alert(1)]}, position(1))
    assert (len(channels.spools["a"]), len(channels.spools["b"])) == (1, 1)


async def test_with_sync_after_batches_put_writes_itself_are_made_durable_as_they_mount(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catch-up's batches, each written by ``put``, are fsync'd and their position saved
    once they hold ``max_waiting_alerts``, not only when ``sync_after`` is up: a crash, or
    a disk that fills, then re-reads no more than that."""
    commits = count_commits(channels.spools["a"], monkeypatch)
    saves = Saves()
    store = Store(channels, saves, max_waiting_alerts=3, sync_after=3600)
    await store.put({"a": [alert(1), alert(2)]}, position(2))
    await asyncio.sleep(0)  # a turn of the event loop: the sync is still owed
    assert (saves.saved, commits) == ([], [])
    await asyncio.wait_for(store.put({"a": [alert(3), alert(4)]}, position(4)), 5)
    assert (saves.saved, commits) == ([4], [4]), "durable before put returned"


async def test_with_sync_after_too_much_waiting_makes_it_durable_at_once(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = count_commits(channels.spools["a"], monkeypatch)
    saves = Saves()
    store = Store(channels, saves, max_waiting=2, sync_after=3600)
    await channels.lock.acquire()  # as a reload does: batches wait for the store's task
    await store.put({"a": [alert(1)]}, position(1))
    await asyncio.sleep(0)  # the task takes the batch, and waits for the lock
    await store.put({"a": [alert(2)]}, position(2))
    putting = asyncio.create_task(store.put({"a": [alert(3)]}, position(3)))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not putting.done(), "two batches wait behind the one being stored: reading pauses"
    channels.lock.release()
    await asyncio.wait_for(putting, 5)
    assert saves.saved == [3], "durable before put returned, not after sync_after"
    assert commits == [3]


async def test_a_failure_of_the_task_with_sync_after_stops_the_reading(
    channels: Channels,
) -> None:
    stopped = asyncio.Event()
    store = Store(channels, Saves(), on_failure=stopped.set, sync_after=3600)
    await channels.spools["a"].aclose()  # every write now fails
    async with channels.lock:  # as a reload would: the batch waits for the store's task
        await store.put({"a": [alert(1)]}, position(1))
    await asyncio.wait_for(stopped.wait(), 5)  # at the write, not after sync_after
    with pytest.raises(SpoolError):
        await store.flush()


async def test_a_failure_of_a_write_at_once_stops_the_reading(channels: Channels) -> None:
    stopped = asyncio.Event()
    store = Store(channels, Saves(), on_failure=stopped.set, sync_after=3600)
    await store.put({"a": [alert(1)]}, position(1))  # written; its sync owed for an hour
    await asyncio.sleep(0)  # a turn of the event loop: the sync is still owed
    await channels.spools["a"].aclose()  # every write now fails
    with pytest.raises(SpoolError):
        await store.put({"a": [alert(2)]}, position(2))
    assert stopped.is_set(), "at the write, not after sync_after"
    with pytest.raises(SpoolError):
        await store.flush()
    with pytest.raises(SpoolError):
        await store.put({"a": [alert(3)]}, position(3))


async def deliver(spool: Spool) -> None:
    """Post-and-acknowledge what the spool holds, as its channel's worker does."""
    await spool.ack(len(await spool.peek(100)))


def store_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "store"]


async def test_with_sync_after_a_sync_of_delivered_records_is_a_save_alone(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live log's alerts are posted before their sync is due: nothing a power loss could
    take would be missed, so the position is saved with no fsync, and with no task."""
    commits = count_commits(channels.spools["a"], monkeypatch)
    saves = Saves()
    store = Store(channels, saves, sync_after=0.01)
    await store.put({"a": [alert(1)]}, position(1))
    await deliver(channels.spools["a"])
    await asyncio.wait_for(saves.done.wait(), 5)
    assert store_tasks() == [], "saved in the timer's own turn of the event loop"
    assert (saves.saved, commits) == ([1], [])
    await store.flush()
    assert (saves.saved, commits) == ([1], []), "nothing was left owed"


async def test_with_sync_after_a_sync_commits_the_spools_holding_undelivered_records(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = {name: count_commits(spool, monkeypatch) for name, spool in channels.spools.items()}
    saves = Saves()
    store = Store(channels, saves, sync_after=0.01)
    await store.put({"a": [alert(1)], "b": [alert(1)]}, position(1))
    await deliver(channels.spools["b"])
    await asyncio.wait_for(saves.done.wait(), 5)
    assert saves.saved == [1]
    assert commits == {"a": [1], "b": []}, "the position never passes an unsynced record"


async def test_with_sync_after_a_sync_due_during_a_reload_waits_for_it(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = count_commits(channels.spools["a"], monkeypatch)
    saves = Saves()
    store = Store(channels, saves, sync_after=0.01)
    await store.put({"a": [alert(1)]}, position(1))
    await deliver(channels.spools["a"])
    async with channels.lock:  # as a reload holds it
        deadline = asyncio.get_running_loop().time() + 5
        while not store_tasks():  # the sync is due, and goes to the task: it must wait
            assert asyncio.get_running_loop().time() < deadline, "the sync never came due"
            await asyncio.sleep(0.001)
        for _ in range(10):
            await asyncio.sleep(0)
        assert saves.saved == [], "no save between a reload's steps"
    await asyncio.wait_for(saves.done.wait(), 5)
    assert (saves.saved, commits) == ([1], [])


@pytest.mark.parametrize("delivered", [True, False])
async def test_with_sync_after_a_failed_save_at_the_sync_stops_the_reading(
    channels: Channels, delivered: bool
) -> None:
    def save(at: FilePosition) -> None:
        raise OSError(5, "Input/output error")

    stopped = asyncio.Event()
    store = Store(channels, save, on_failure=stopped.set, sync_after=0.01)
    await store.put({"a": [alert(1)]}, position(1))
    if delivered:
        await deliver(channels.spools["a"])
    await asyncio.wait_for(stopped.wait(), 5)
    with pytest.raises(OSError, match="Input/output"):
        await store.flush()
    with pytest.raises(OSError, match="Input/output"):
        await store.put({"a": [alert(2)]}, position(2))


async def test_a_closed_store_makes_no_sync_it_owed(channels: Channels) -> None:
    """A run that ends without its last flush (it failed) saves no position afterwards:
    the next run reads those lines again."""
    saves = Saves()
    store = Store(channels, saves, sync_after=0.01)
    await store.put({"a": [alert(1)]}, position(1))
    await deliver(channels.spools["a"])
    store.close()
    await asyncio.sleep(0.05)  # past the sync's time: nothing may come of it
    assert saves.saved == []
    with pytest.raises(SpoolError, match="closed"):
        await store.flush()
