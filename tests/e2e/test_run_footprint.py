"""A started ``shipper run`` holds no module it has no use for (issue 16: peak RSS).

typer coerces options through pydantic, which held 8 MB of a run's memory for its whole
life; ``cli.main`` converts plain options itself. The check reads the running process's
memory map: deterministic, no timing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.cli import clean_env, shipper, start_watched, stop_watched


def _config(tmp_path: Path) -> Path:
    log = tmp_path / "audit.jsonl"
    log.touch()
    config = tmp_path / "shipper.toml"
    config.write_text(
        f'[source]\npath = "{log}"\nstate_dir = "{tmp_path / "state"}"\n'
        '[channels.security]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
    )
    return config


async def test_a_started_run_has_not_loaded_pydantic(tmp_path: Path) -> None:
    config = _config(tmp_path)
    proc, watch = await start_watched(
        config, clean_env(), "--log-level", "info", "--log-format", "text"
    )
    try:
        maps = await asyncio.to_thread(Path(f"/proc/{proc.pid}/maps").read_text)
    finally:
        status, _ = await stop_watched(proc, watch)
    assert "pydantic" not in maps
    assert status == 0


def test_a_bad_option_value_is_still_typers_error(tmp_path: Path) -> None:
    done = shipper("run", "-c", str(_config(tmp_path)), "--log-level", "loud")
    assert done.returncode == 2
    assert b"Invalid value for '--log-level'" in done.stderr
    assert b"'loud' is not one of 'debug', 'info', 'warning', 'error'" in done.stderr
