"""What an end-to-end test hands the real CLI: a config file and audit lines.

Every config has one skeleton: ``[source]`` (the log to tail from its
beginning, if any, and the test's own ``state_dir``), ``[delivery]``, then the
channel tables. A test file states only the values its tests depend on, so
the skeleton is written here once.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.e2e.cli import clean_env
from tests.integration.fake_webhook import FakeWebhook

# The channel most tests deliver to; its URL comes from $SIEM_URL.
SIEM_WEBHOOK = '[channels.siem]\nkind = "webhook"\nurl = "${SIEM_URL}"\n'


def config_file(
    tmp_path: Path,
    *,
    delivery: str,
    channels: str,
    log: Path | None = None,
    state: Path | None = None,
    source: str = "",
) -> Path:
    """Write ``tmp_path/shipper.toml``; ``state`` defaults to ``tmp_path/state``."""
    tail = f'path = "{log}"\nstart_at = "beginning"\n' if log is not None else ""
    config = tmp_path / "shipper.toml"
    config.write_text(f"""
[source]
{tail}{source}state_dir = "{state if state is not None else tmp_path / "state"}"
[delivery]
{delivery}
{channels}
""")
    return config


def audit_line(
    seq: int, action: str = "user.lock", severity: str = "high", **fields: object
) -> bytes:
    """One JSON audit line that routes by ``action`` and ``severity``; ``seq`` tells lines apart."""
    return orjson.dumps({"action": action, "severity": severity, "seq": seq, **fields}) + b"\n"


def fake_env(fake: FakeWebhook, **paths: str) -> dict[str, str]:
    """``clean_env`` with each variable set to the fake's URL for a path."""
    return clean_env({name: fake.to(path) for name, path in paths.items()})
