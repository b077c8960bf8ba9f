"""A state directory another local user could steer, and channel names that share files,
through the real CLI.

Each test plants what an attacker (or a careless operator) could leave in
``state_dir`` (a link to a file they want overwritten or read, a FIFO, a
directory in place of a file, a directory that others own or may write to)
and checks that ``shipper run`` or ``shipper replay`` refuses it at start with
exit status 2 and a message naming the path and the fix, leaving the linked
file as it was. The tests run as root, which owns everything: "another user"
is uid 65534, made the owner with ``chown``.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.e2e.cli import clean_env, free_port, shipper
from tests.e2e.inputs import audit_line, config_file
from tests.integration.fake_webhook import FakeWebhook, Reply

HOOK = "/hooks/siemSECRET"
SEGMENT = "spool/siem/00000000000000000001.seg"
VICTIM_TEXT = b"a file shipper must never touch\n"
OTHER_UID = 65534


def write_config(tmp_path: Path, url: str, channels: str = "") -> Path:
    delivery = (
        'retry_initial = "50ms"\nretry_max = "100ms"\ndrain_timeout = "2s"\n'
        'timeout = "1s"\ngive_up_after = "1s"'
    )
    table = f'{channels or "[channels.siem]"}\nkind = "webhook"\nurl = "{url}"'
    return config_file(tmp_path, delivery=delivery, channels=table)


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}{HOOK}"


def private_dirs(path: Path) -> Path:
    """``path`` and its missing parents, mode 0700 whatever the umask."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700)
        directory.chmod(0o700)
    return path


def victim(tmp_path: Path) -> Path:
    """A file outside the state directory that an attacker wants overwritten or read."""
    path = tmp_path / "victim"
    path.write_bytes(VICTIM_TEXT)
    path.chmod(0o600)
    return path


def event(i: int = 1) -> bytes:
    return audit_line(i)


def assert_refused(result: subprocess.CompletedProcess[bytes], *needles: str) -> str:
    """Exit status 2, no traceback, and a message holding each of ``needles``."""
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr
    for needle in needles:
        assert needle in stderr, stderr
    return stderr


# --- finding 5: two channels, one backlog -------------------------------------------------


def test_two_channels_whose_names_share_files_are_refused(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        unreachable(),
        channels=f"""
[channels."sec ops"]
kind = "webhook"
url = "{unreachable()}"
[channels.sec_ops]""",
    )
    for args in (("check",), ("run", "--input", "-")):
        result = shipper(*args, "-c", str(config), stdin=event())
        assert_refused(result, "channels.sec_ops", '"sec ops"', '"sec_ops"', "rename one")
    assert not (tmp_path / "state").exists()


def test_a_channel_name_too_long_for_its_files_is_refused(tmp_path: Path) -> None:
    name = "a" * 229
    config = write_config(tmp_path, unreachable(), channels=f"[channels.{name}]")
    assert_refused(shipper("check", "-c", str(config)), f"channels.{name}", "at most 228")


# --- finding 6: the state directory itself ------------------------------------------------


def test_a_state_dir_writable_by_others_is_refused(tmp_path: Path) -> None:
    state = private_dirs(tmp_path / "state")
    state.chmod(0o777)
    config = write_config(tmp_path, unreachable())
    result = shipper("run", "-c", str(config), "--input", "-", stdin=event())
    assert_refused(result, f"{state} is writable by its group and other users", "chmod 700")
    assert os.listdir(state) == []


def test_a_state_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    state = private_dirs(tmp_path / "state")
    os.chown(state, OTHER_UID, OTHER_UID)
    config = write_config(tmp_path, unreachable())
    result = shipper("run", "-c", str(config), "--input", "-", stdin=event())
    uid, gid = os.geteuid(), os.getegid()
    assert_refused(result, f"belongs to uid {OTHER_UID}", f"chown -R {uid}:{gid} {state}")
    assert os.listdir(state) == []


def _writable_by_others(path: Path) -> None:
    private_dirs(path).chmod(0o777)


def _owned_by_another_user(path: Path) -> None:
    os.chown(private_dirs(path), OTHER_UID, OTHER_UID)


def _linked_elsewhere(path: Path) -> None:
    elsewhere = private_dirs(path.parent.parent / "elsewhere")
    private_dirs(path.parent)
    path.symlink_to(elsewhere)


@pytest.mark.parametrize("where", ["spool", "spool/siem", "dead-letter", "replay"])
@pytest.mark.parametrize(
    "plant",
    [_writable_by_others, _owned_by_another_user, _linked_elsewhere],
    ids=["writable-by-others", "another-owner", "symlink"],
)
def test_a_directory_shipper_uses_that_another_user_could_steer_is_refused(
    tmp_path: Path, where: str, plant: Callable[[Path], None]
) -> None:
    state = private_dirs(tmp_path / "state")
    plant(state / where)
    config = write_config(tmp_path, unreachable())
    result = shipper("run", "-c", str(config), "--input", "-", stdin=event())
    assert_refused(result, str(state / where))
    assert not (tmp_path / "elsewhere").exists() or os.listdir(tmp_path / "elsewhere") == []


# --- finding 6: files in it ---------------------------------------------------------------


def _symlink_to_victim(path: Path, target: Path) -> str:
    path.symlink_to(target)
    return "is a symbolic link"


def _fifo(path: Path, target: Path) -> str:
    os.mkfifo(path, 0o600)
    return "is a FIFO"


def _directory(path: Path, target: Path) -> str:
    path.mkdir(mode=0o700)
    return "is a directory"


@pytest.mark.parametrize(
    "where",
    [
        SEGMENT,
        "position.json",
        "lock",
        "dead-letter/siem.jsonl",
        "replay/siem.1700000000000000000.jsonl",
    ],
)
@pytest.mark.parametrize("plant", [_symlink_to_victim, _fifo, _directory])
def test_a_file_shipper_uses_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, where: str, plant: Callable[[Path, Path], str]
) -> None:
    """A segment linked to a root-owned file was truncated and overwritten, a FIFO hung the
    start, a directory ended in a traceback: now each is a start-up error naming the file."""
    target = victim(tmp_path)
    state = private_dirs(tmp_path / "state")
    path = state / where
    private_dirs(path.parent)
    what = plant(path, target)
    config = write_config(tmp_path, unreachable())
    # The deadline catches a FIFO that hangs the start (the bug): a failure, not a hang.
    result = shipper("run", "-c", str(config), "--input", "-", stdin=event(), timeout=30)
    assert_refused(result, f"{path} {what}", "mv ")
    assert target.read_bytes() == VICTIM_TEXT
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_lock_linked_to_a_missing_file_does_not_create_it(tmp_path: Path) -> None:
    state = private_dirs(tmp_path / "state")
    wanted = tmp_path / "cron.d-entry"
    (state / "lock").symlink_to(wanted)
    config = write_config(tmp_path, unreachable())
    result = shipper("run", "-c", str(config), "--input", "-", stdin=event())
    assert_refused(result, f"{state / 'lock'} is a symbolic link")
    assert not wanted.exists()


def test_a_directory_in_place_of_the_cursor_is_refused(tmp_path: Path) -> None:
    state = private_dirs(tmp_path / "state")
    private_dirs(state / "spool" / "siem" / "cursor")
    config = write_config(tmp_path, unreachable())
    result = shipper("run", "-c", str(config), "--input", "-", stdin=event())
    assert_refused(result, f"{state / 'spool' / 'siem' / 'cursor'} is a directory")


@pytest.mark.parametrize("name", ["cursor", ".cursor.tmp"])
def test_a_link_where_the_cursor_is_written_is_replaced_never_written_through(
    tmp_path: Path, name: str
) -> None:
    """The cursor is rewritten at every start (temporary file, rename): a link at either
    name is replaced by the new file; the file it points to is neither read nor written."""
    target = victim(tmp_path)
    spool = private_dirs(tmp_path / "state" / "spool" / "siem")
    (spool / name).symlink_to(target)
    config = write_config(tmp_path, unreachable())
    shipper("run", "-c", str(config), "--input", "-", stdin=b"")
    assert target.read_bytes() == VICTIM_TEXT
    assert stat.S_ISREG((spool / "cursor").lstat().st_mode)
    assert not os.path.lexists(spool / ".cursor.tmp")


# --- replay -------------------------------------------------------------------------------


@pytest.mark.parametrize("plant", [_symlink_to_victim, _fifo, _directory])
def test_replay_refuses_a_dead_letter_file_that_is_not_a_regular_file(
    tmp_path: Path, plant: Callable[[Path, Path], str]
) -> None:
    """A FIFO hung ``replay``; a link was handed to the run, which read the linked file."""
    target = victim(tmp_path)
    dead = private_dirs(tmp_path / "state" / "dead-letter") / "siem.jsonl"
    what = plant(dead, target)
    config = write_config(tmp_path, unreachable())
    result = shipper("replay", "siem", "-c", str(config), timeout=30)
    assert_refused(result, f"{dead} {what}")
    assert os.path.lexists(dead)
    assert not (tmp_path / "state" / "replay").exists()
    assert target.read_bytes() == VICTIM_TEXT


def test_replay_refuses_a_state_dir_writable_by_others(tmp_path: Path) -> None:
    dead = private_dirs(tmp_path / "state" / "dead-letter") / "siem.jsonl"
    dead.write_bytes(b"{}\n")
    (tmp_path / "state").chmod(0o777)
    config = write_config(tmp_path, unreachable())
    assert_refused(shipper("replay", "siem", "-c", str(config)), "chmod 700")
    assert dead.read_bytes() == b"{}\n"


# --- what shipper creates -----------------------------------------------------------------


@pytest.fixture
async def refusing() -> AsyncIterator[FakeWebhook]:
    async with FakeWebhook(Reply(400, "no")) as server:
        yield server


async def test_every_directory_shipper_creates_is_0700_and_every_file_0600(
    tmp_path: Path, refusing: FakeWebhook
) -> None:
    """Under a lax umask too: the events in backlogs and dead letters are the owner's only."""
    config = write_config(tmp_path, refusing.to(HOOK))
    env = clean_env({"SHIPPER_LOG_LEVEL": "info"})

    def run_then_replay() -> None:
        old = os.umask(0o002)
        try:
            ran = shipper("run", "-c", str(config), "--input", "-", stdin=event(), env=env)
            replayed = shipper("replay", "siem", "-c", str(config), env=env)
        finally:
            os.umask(old)
        assert ran.returncode != 2, ran.stderr.decode()
        assert replayed.returncode == 0, replayed.stderr.decode()

    await asyncio.to_thread(run_then_replay)
    state = tmp_path / "state"
    assert os.listdir(state / "replay"), "the dead letter was not written and replayed"
    modes = {
        str(path.relative_to(state)): stat.S_IMODE(path.lstat().st_mode)
        for path in [state, *state.rglob("*")]
    }
    assert all(
        mode == (0o700 if (state / name).is_dir() else 0o600) for name, mode in modes.items()
    ), modes
