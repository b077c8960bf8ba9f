"""The systemd unit, its sample config and environment file.

The directives the issue requires are read from the unit file; ``systemd/check-unit``
(systemd-analyze verify and security, as CI runs it) runs when systemd-analyze is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shipper.ops.server import MAX_CONNECTIONS, RESERVED_FILES, connection_cap
from tests.deploy.files import (
    CHECK_UNIT,
    ENV_EXAMPLE,
    SYSTEMD_CONFIG,
    UNIT,
    read_env_file,
    read_unit,
    values,
    variables_in,
)
from tests.support.config import load_config

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd; .ci/run does)",
)


def service() -> list[tuple[str, str]]:
    return read_unit()["Service"]


def one(key: str) -> str:
    found = values(service(), key)
    assert len(found) == 1, f"{key}= appears {len(found)} times"
    return found[0]


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)", value)
    assert match, value
    return int(match[1]) * (60 if match[2] == "min" else 1)


def test_it_is_a_notify_service_with_reload_and_a_watchdog() -> None:
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert one("ExecStart") == "/usr/local/bin/shipper run -c /etc/shipper/config.toml"
    assert values(service(), "ExecReload")[-1] == "/bin/kill -HUP $MAINPID"
    assert seconds(one("WatchdogSec")) >= 10
    assert one("Restart") == "on-failure"
    assert "network-online.target" in values(read_unit()["Unit"], "After")
    assert values(read_unit()["Install"], "WantedBy") == ["multi-user.target"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("StateDirectory", "shipper"),
        ("EnvironmentFile", "/etc/shipper/shipper.env"),
        ("UMask", "0077"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
    ],
)
def test_hardening_directive(key: str, expected: str) -> None:
    assert one(key) == expected


def test_sockets_system_calls_and_memory_are_limited() -> None:
    assert set(one("RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert values(service(), "SystemCallFilter")[0] == "@system-service"
    assert re.fullmatch(r"\d+[KMG]", one("MemoryMax"))
    # Webhooks are on the internet: outbound addresses must not be denied.
    assert not values(service(), "IPAddressDeny")
    assert not values(service(), "PrivateNetwork")


def test_open_files_are_set_by_the_unit_above_what_shipper_needs() -> None:
    # shipper cannot raise its own limit under this filter: the unit has to set it.
    assert "@resources" in values(service(), "SystemCallFilter")[1]
    limit = int(one("LimitNOFILE"))
    assert connection_cap(limit) == MAX_CONNECTIONS
    assert limit >= 4 * (RESERVED_FILES + MAX_CONNECTIONS)


def test_a_stop_after_dead_letters_is_not_a_failed_unit() -> None:
    assert one("SuccessExitStatus") == "3"
    assert one("RestartPreventExitStatus") == "2"


def test_the_sample_config_loads_with_the_env_files_variables() -> None:
    env_vars = read_env_file()
    text = SYSTEMD_CONFIG.read_text(encoding="utf-8")
    assert variables_in(text) == set(env_vars)
    environ = {name: f"https://hooks.example.invalid/{name}" for name in env_vars}
    config = load_config(SYSTEMD_CONFIG, environ)
    # The directory StateDirectory=shipper makes, named so that hand-run commands find it.
    assert config.source.state_dir == Path("/var/lib") / one("StateDirectory")
    assert config.source.path == "/var/log/app/audit.jsonl"
    assert config.metrics_listen == ("127.0.0.1", 9816)
    assert config.delivery.drain_timeout < seconds(one("TimeoutStopSec"))
    assert "https://" not in text


def test_the_env_example_holds_only_placeholders() -> None:
    placeholders = read_env_file(ENV_EXAMPLE)
    assert placeholders
    assert set(placeholders.values()) == {"REPLACE_ME"}


@needs_systemd_analyze
def test_check_unit_passes_verify_and_the_exposure_threshold() -> None:
    result = run_check_unit()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "systemd-analyze verify: ok" in result.stdout
    exposure = re.search(r"Overall exposure level for shipper\.service: (\d+\.\d)", result.stdout)
    assert exposure, result.stdout
    assert float(exposure[1]) <= 2.0


@needs_systemd_analyze
@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("UMask=0077", "UMask=0077\nProtectHome=maybe"), "verify complained"),
        (("CapabilityBoundingSet=\n", ""), ""),
    ],
    ids=["bad-directive", "weaker-hardening"],
)
def test_check_unit_fails_a_worse_unit(
    tmp_path: Path, change: tuple[str, str], complaint: str
) -> None:
    original, replacement = change
    text = UNIT.read_text(encoding="utf-8")
    assert original in text
    unit = tmp_path / "shipper.service"
    unit.write_text(text.replace(original, replacement), encoding="utf-8")
    result = run_check_unit(unit)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (complaint or "exposure above 2.0") in result.stderr


def run_check_unit(*args: Path) -> subprocess.CompletedProcess[str]:
    # The venv's bin first, so the script finds this checkout's shipper for verify.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        [str(CHECK_UNIT), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=60,
        check=False,
    )
