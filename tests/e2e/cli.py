"""Run the installed ``shipper`` console script in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config.example.toml"
SAMPLE = ROOT / "examples" / "audit-sample.jsonl"
SHIPPER = Path(sys.executable).parent / "shipper"

# Variables the example config reads; the tests pass them explicitly when they need them.
WEBHOOK_VARS = (
    "SLACK_SECURITY_WEBHOOK_URL",
    "TEAMS_INFRA_WEBHOOK_URL",
    "SLACK_DEPLOY_APPROVALS_WEBHOOK_URL",
    "SHIPPER_CONFIG",
)


def clean_env(extra: Mapping[str, str] | None = None, state: Path | None = None) -> dict[str, str]:
    """The test's environment without any webhook variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in WEBHOOK_VARS}
    if state is not None:
        env["XDG_STATE_HOME"] = str(state)
        env.pop("STATE_DIRECTORY", None)
    env.update(extra or {})
    return env


def shipper(
    *args: str,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``shipper ARGS`` to completion and return what it printed."""
    return subprocess.run(
        [str(SHIPPER), *args],
        input=stdin,
        capture_output=True,
        env=dict(env) if env is not None else clean_env(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
