"""A tailed file that stays missing, and what ``check`` can tell of a start without making
one (issue 15, findings 2 and 9)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from shipper.ops.status import SourceState, Status, health
from shipper.routing.intake import IntakeStats
from shipper.run.preflight import source_path_problem, state_dir_problem
from shipper.run.source_watch import REPEAT_MIN, SourceWatch

T0 = 1_700_000_000.0


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_missing_file_turns_waiting_after_missing_after_and_warns_again_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = SourceWatch(Path("/var/log/gw/audit.jsonl"))
    state = SourceState.READING
    with caplog.at_level(logging.INFO, logger="shipper.run.source_watch"):
        for second in range(30):
            state = watch.check(True, T0 + second, 10.0, state)
            assert state is (SourceState.READING if second < 10 else SourceState.WAITING)
        assert len(warnings(caplog)) == 1, "once at missing_after"
        for second in range(30, 10 * 60):
            state = watch.check(True, T0 + second, 10.0, state)
        # then at most once every REPEAT_MIN: bounded however long it lasts
        assert len(warnings(caplog)) == 1 + (10 * 60 - 10) // int(REPEAT_MIN)
        assert "still missing after" in warnings(caplog)[0]
        state = watch.check(False, T0 + 600, 10.0, state)
    assert state is SourceState.READING
    assert watch.missing_since is None
    assert "found after" in caplog.records[-1].getMessage()


def test_a_stopping_run_stays_stopping() -> None:
    watch = SourceWatch(Path("/x/a"))
    assert watch.check(True, T0, 1.0, SourceState.STOPPING) is SourceState.STOPPING
    assert watch.check(True, T0 + 5, 1.0, SourceState.STOPPING) is SourceState.STOPPING


def test_healthz_reports_the_source_waiting() -> None:
    status = Status("/x/a", SourceState.WAITING, IntakeStats(), (), T0, T0 - 400)
    is_healthy, body = health(status, unhealthy_after=300)
    assert not is_healthy
    assert body["source"]["state"] == "waiting"
    assert body["source"]["missing_since"] == "2023-11-14T22:06:40+00:00"


def test_source_path_problem_names_a_missing_directory(tmp_path: Path) -> None:
    assert source_path_problem(None) is None
    assert source_path_problem(str(tmp_path / "audit.jsonl")) is None, "the file may come later"
    problem = source_path_problem(str(tmp_path / "gatway" / "audit.jsonl"))
    assert problem is not None
    assert problem.startswith(f"source.path: the directory {tmp_path / 'gatway'} does not exist")


def test_state_dir_problem_checks_without_creating(tmp_path: Path) -> None:
    missing = tmp_path / "a" / "b"
    assert state_dir_problem(missing) is None
    assert not (tmp_path / "a").exists(), "nothing created"
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = state_dir_problem(blocker / "state")
    assert (
        problem
        == f"source.state_dir: {blocker / 'state'} cannot be created: {blocker} is not a directory"
    )
    assert "is a regular file, not a directory" in (state_dir_problem(blocker) or "")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    os.chmod(shared, 0o777)
    assert "writable by its group and other users" in (state_dir_problem(shared) or "")
    os.chmod(shared, 0o700)
    assert state_dir_problem(shared) is None
    (shared / "position.json").symlink_to("/etc/passwd")
    assert "position.json is a symbolic link" in (state_dir_problem(shared) or "")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    assert (
        state_dir_problem(dangling) == f"source.state_dir: {dangling} is a symbolic link to nothing"
    )
