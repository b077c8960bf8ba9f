"""Channel names as file names, and the state directory's trust rules: private directories,
files opened without following links and only if regular, atomic writes that never write
through a planted link. Real files; the tests run as root, so "another user" is uid 65534."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipper.config.channel_files import MAX_FILE_NAME, channel_name_problems, file_name_for
from shipper.delivery.deadletter import DeadLetters
from shipper.durable import (
    UntrustedPathError,
    ensure_private_dir,
    open_private,
    read_private,
    write_atomic,
)
from shipper.errors import ConfigError, SpoolError, StateError
from shipper.routing.event import Alert
from shipper.spool.spool import Spool
from shipper.spool.state import StateDir
from tests.support.alerts import make_alert
from tests.support.config import load_config

OTHER_UID = 65534
SECRET = b"not shipper's to touch\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim"
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def lax_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


def private(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


# --- channel names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "file_name"),
    [
        ("security", "security"),
        ("deploy-approvals", "deploy-approvals"),
        ("sec ops", "sec_ops"),
        ("../ops/alerts", "_ops_alerts"),
        (".hidden", "hidden"),
        ("", "_"),
        (".", "_"),
        ("..", "_"),
        ("émoji🔥", "_moji_"),
    ],
)
def test_the_released_mapping_keeps_every_file_where_it_was(name: str, file_name: str) -> None:
    assert file_name_for(name) == file_name


@pytest.mark.parametrize(
    ("first", "second"),
    [("sec ops", "sec_ops"), (".hidden", "hidden"), ("..", "."), ("", "_"), ("é", "ü")],
)
def test_names_that_fold_to_one_file_name_are_refused_naming_both(first: str, second: str) -> None:
    problems = channel_name_problems([first, second, "other"])
    assert len(problems) == 1
    assert problems[0].startswith(f"channels.{second}: ")
    assert f'"{first}"' in problems[0] and f'"{file_name_for(first)}"' in problems[0]


def test_names_differing_in_case_or_allowed_characters_are_distinct() -> None:
    assert channel_name_problems(["Sec", "sec", "sec-ops", "sec.ops", "sec_ops"]) == []


def test_a_name_too_long_for_its_longest_file_is_refused() -> None:
    assert MAX_FILE_NAME == 228  # 255 less ".<20 digits>.jsonl", a replay file's suffix
    assert channel_name_problems(["a" * MAX_FILE_NAME]) == []
    (problem,) = channel_name_problems(["a" * (MAX_FILE_NAME + 1)])
    assert "229 characters" in problem and "at most 228" in problem


def test_the_config_refuses_channels_that_share_files(tmp_path: Path) -> None:
    path = tmp_path / "shipper.toml"
    path.write_text("""
[channels."sec ops"]
kind = "webhook"
url = "https://example.com/a"
[channels.sec_ops]
kind = "webhook"
url = "https://example.com/b"
""")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"HOME": str(tmp_path)})
    assert [p.split(":")[0] for p in caught.value.problems] == ["channels.sec_ops"]


# --- directories ----------------------------------------------------------------------------


def test_created_directories_are_0700_whatever_the_umask(tmp_path: Path, lax_umask: None) -> None:
    ensure_private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("mode", "who"),
    [(0o777, "its group and other users"), (0o770, "its group"), (0o702, "other users")],
)
def test_a_directory_others_may_write_to_is_refused(tmp_path: Path, mode: int, who: str) -> None:
    directory = private(tmp_path / "d")
    directory.chmod(mode)
    with pytest.raises(UntrustedPathError, match=f"writable by {who} .*chmod 700 {directory}"):
        ensure_private_dir(directory)


def test_a_readable_directory_is_accepted(tmp_path: Path) -> None:
    directory = private(tmp_path / "d")
    directory.chmod(0o755)
    ensure_private_dir(directory)


def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = private(tmp_path / "d")
    os.chown(directory, OTHER_UID, OTHER_UID)
    with pytest.raises(UntrustedPathError, match=f"belongs to uid {OTHER_UID}.*chown -R"):
        ensure_private_dir(directory)


def test_a_link_to_a_directory_is_followed_only_when_asked(tmp_path: Path) -> None:
    private(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UntrustedPathError, match="is a symbolic link, not a directory"):
        ensure_private_dir(tmp_path / "link")
    ensure_private_dir(tmp_path / "link", follow=True)  # the state dir as configured


def test_a_file_in_place_of_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").write_text("")
    with pytest.raises(UntrustedPathError, match="is a regular file, not a directory"):
        ensure_private_dir(tmp_path / "d")


# --- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_WRONLY | os.O_APPEND | os.O_CREAT])
def test_a_link_is_never_opened(tmp_path: Path, victim: Path, flags: int) -> None:
    (tmp_path / "f").symlink_to(victim)
    with pytest.raises(UntrustedPathError, match="f is a symbolic link, not a regular file"):
        open_private(tmp_path / "f", flags)
    assert victim.read_bytes() == SECRET


def test_a_dangling_link_is_not_created_through(tmp_path: Path) -> None:
    (tmp_path / "f").symlink_to(tmp_path / "wanted")
    with pytest.raises(UntrustedPathError, match="symbolic link"):
        open_private(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    assert not (tmp_path / "wanted").exists()


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_WRONLY, os.O_RDWR | os.O_CREAT])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, flags: int) -> None:
    os.mkfifo(tmp_path / "f")
    with pytest.raises(UntrustedPathError, match="is a FIFO, not a regular file"):
        open_private(tmp_path / "f", flags)


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_WRONLY | os.O_CREAT])
def test_a_directory_is_refused(tmp_path: Path, flags: int) -> None:
    (tmp_path / "f").mkdir()
    with pytest.raises(UntrustedPathError, match="is a directory, not a regular file"):
        open_private(tmp_path / "f", flags)


def test_a_socket_is_refused(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "s"))
        with pytest.raises(UntrustedPathError, match="is a socket"):
            open_private(tmp_path / "s", os.O_WRONLY)


def test_a_new_file_is_0600_and_blocking(tmp_path: Path, lax_umask: None) -> None:
    fd = open_private(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        assert os.get_blocking(fd)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
    finally:
        os.close(fd)


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_private(tmp_path / "missing")


def test_write_atomic_replaces_a_link_at_the_temporary_name(tmp_path: Path, victim: Path) -> None:
    (tmp_path / ".f.tmp").symlink_to(victim)
    write_atomic(tmp_path / "f", b"new")
    assert victim.read_bytes() == SECRET
    assert (tmp_path / "f").read_bytes() == b"new"
    assert not os.path.lexists(tmp_path / ".f.tmp")


def test_write_atomic_replaces_a_link_at_the_name_itself(tmp_path: Path, victim: Path) -> None:
    (tmp_path / "f").symlink_to(victim)
    write_atomic(tmp_path / "f", b"new")
    assert victim.read_bytes() == SECRET
    assert not (tmp_path / "f").is_symlink() and (tmp_path / "f").read_bytes() == b"new"


@pytest.mark.parametrize("name", ["f", ".f.tmp"])
def test_write_atomic_refuses_a_directory(tmp_path: Path, name: str) -> None:
    (tmp_path / name).mkdir()
    with pytest.raises(UntrustedPathError, match=f"{name} is a directory"):
        write_atomic(tmp_path / "f", b"new")


# --- the state directory, dead letters, a spool ---------------------------------------------


def alert() -> Alert:
    return make_alert(1, "a", raw={"action": "a"})


def test_a_dead_letter_link_is_not_appended_to(tmp_path: Path, victim: Path) -> None:
    letters = DeadLetters(tmp_path)
    private(letters.directory)
    letters.path_for("ops").symlink_to(victim)
    with pytest.raises(UntrustedPathError, match=r"ops\.jsonl is a symbolic link"):
        letters.write("ops", [alert()], "refused", 1)
    assert victim.read_bytes() == SECRET


def test_a_dead_letter_directory_others_may_write_to_is_refused(tmp_path: Path) -> None:
    letters = DeadLetters(tmp_path)
    private(letters.directory).chmod(0o777)
    with pytest.raises(UntrustedPathError, match="writable by"):
        letters.write("ops", [alert()], "refused", 1)
    assert os.listdir(letters.directory) == []


async def test_a_spool_with_a_linked_segment_does_not_open(tmp_path: Path, victim: Path) -> None:
    spool_dir = private(tmp_path / "spool")
    (spool_dir / "00000000000000000001.seg").symlink_to(victim)
    with pytest.raises(SpoolError, match=r"00000000000000000001\.seg is a symbolic link"):
        await Spool.open(spool_dir, name="ops")
    assert await asyncio.to_thread(victim.read_bytes) == SECRET


def test_prepare_creates_a_private_state_dir(tmp_path: Path, lax_umask: None) -> None:
    StateDir(tmp_path / "state").prepare()
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert os.listdir(tmp_path / "state") == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("spool/stray", "is a regular file, not a directory"),
        ("dead-letter/ops.jsonl", "is a symbolic link"),
        ("replay/ops.1.jsonl", "is a symbolic link"),
        ("position.json", "is a symbolic link"),
    ],
)
def test_prepare_refuses_what_shipper_would_use_when_it_is_not_what_it_seems(
    tmp_path: Path, victim: Path, entry: str, problem: str
) -> None:
    state = private(tmp_path / "state")
    path = state / entry
    private(path.parent)
    if entry.endswith("stray"):
        path.write_text("")
    else:
        path.symlink_to(victim)
    with pytest.raises(StateError, match=f"refusing the state directory .*{entry} {problem}"):
        StateDir(state).prepare()


def test_replay_counts_and_moves_a_regular_dead_letter_file(tmp_path: Path) -> None:
    state = StateDir(private(tmp_path / "state"))
    dead = private(tmp_path / "state" / "dead-letter") / "ops.jsonl"
    dead.write_bytes(b"{}\n{}\n")
    assert state.queue_replay("ops", dead) == 2
    assert not dead.exists()
    (moved,) = state.pending_replays("ops")
    assert moved.read_bytes() == b"{}\n{}\n"
    assert state.queue_replay("ops", dead) is None
