"""``--help`` of every command at 80 columns: nothing eaten or cut, an example, the exit codes
(issue 15, finding 11)."""

from __future__ import annotations

import pytest

from tests.e2e.cli import clean_env, shipper

COMMANDS = ((), ("run",), ("test",), ("check",), ("route",), ("replay",))


def help_of(*command: str) -> str:
    env = clean_env({"COLUMNS": "80", "TERM": "xterm-256color", "FORCE_COLOR": "1"})
    result = shipper(*command, "--help", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "shipper")
def test_help_has_an_example_and_the_exit_codes_within_80_columns(
    command: tuple[str, ...],
) -> None:
    text = help_of(*command)
    assert "Examples:\n    " in text
    assert "Exit status:\n    0  " in text
    assert "\n    2  " in text
    assert "<bool>" not in text, "a flag takes no value"
    assert "\x1b[" not in text, "plain text, whatever the terminal"
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert not too_long
    assert "/etc/shipper/config.toml" in text, "the config lookup, whole"


def test_run_help_keeps_source_path_and_its_exit_codes() -> None:
    text = help_of("run")
    assert "[source].path" in text
    assert "Default: .path" not in text
    for code in ("0  everything delivered", "1  work left queued", "3  the rest delivered"):
        assert code in text
    assert "my-gateway | shipper run -c shipper.toml --input -" in text
