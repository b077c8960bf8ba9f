"""What a reload changes: the old config against the new one, and ``[metrics]`` parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipper.config.model import DEFAULT_UNHEALTHY_AFTER, Config
from shipper.config.reload import plan_reload
from shipper.config.severity import Severity
from shipper.errors import ConfigError
from tests.support.config import load_config

ENV = {"HOME": "/home/u", "A_URL": "https://a.example.com/x", "B_URL": "https://b.example.com/y"}

BASE = """
[source]
path = "/var/log/a.jsonl"
state_dir = "/var/lib/shipper"
[metrics]
listen = "127.0.0.1:9816"
[channels.keep]
kind = "webhook"
url = "${A_URL}"
min_severity = "high"
"""
DROP = '[channels.drop]\nkind = "slack"\nurl = "${A_URL}"\n'


def load(tmp_path: Path, text: str, name: str = "c.toml", drop: str = DROP) -> Config:
    path = tmp_path / name
    path.write_text(text + drop)
    return load_config(path, ENV)


def test_an_identical_config_changes_nothing(tmp_path: Path) -> None:
    old = load(tmp_path, BASE)
    plan = plan_reload(old, load(tmp_path, BASE, "d.toml"))
    assert (plan.added, plan.removed, plan.changed, plan.rerouted) == ((), (), (), ())
    assert plan.warnings == ()
    assert not plan.is_listen_changed
    assert plan.summary == "no channel changed"


def test_added_removed_rerouted_and_changed_channels(tmp_path: Path) -> None:
    old = load(tmp_path, BASE)
    new_text = BASE.replace(
        'min_severity = "high"', 'min_severity = "medium"\nactions = ["user.*"]'
    )
    new = load(tmp_path, new_text, "d.toml", '[channels.new]\nkind = "teams"\nurl = "${B_URL}"\n')
    plan = plan_reload(old, new)
    assert [c.name for c in plan.added] == ["new"]
    assert plan.removed == ("drop",)
    assert [c.name for c in plan.rerouted] == ["keep"]
    assert plan.changed == ()
    assert plan.config.channel("keep").min_severity is Severity.MEDIUM  # type: ignore[union-attr]
    assert plan.summary == "added new; removed drop; rerouted keep"


@pytest.mark.parametrize(
    "change",
    ['url = "${B_URL}"', 'label = "#sec"', "batch_max = 5", 'timeout = "3s"', "max_rate = 2"],
)
def test_delivery_settings_give_the_channel_a_new_worker(tmp_path: Path, change: str) -> None:
    old = load(tmp_path, BASE)
    table = '[channels.drop]\nkind = "slack"\n'
    drop = table + (change if change.startswith("url") else f'url = "${{A_URL}}"\n{change}') + "\n"
    plan = plan_reload(old, load(tmp_path, BASE, "d.toml", drop))
    assert [c.name for c in plan.changed] == ["drop"]
    assert plan.rerouted == () and plan.added == () and plan.removed == ()


def test_source_and_spool_size_wait_for_a_restart(tmp_path: Path) -> None:
    old = load(tmp_path, BASE)
    new_text = BASE.replace("/var/log/a.jsonl", "/var/log/b.jsonl").replace(
        'min_severity = "high"', 'min_severity = "high"\nspool_max_bytes = "1MiB"'
    )
    plan = plan_reload(old, load(tmp_path, new_text, "d.toml"))
    assert plan.config.source == old.source, "the open source is kept"
    assert plan.config.channel("keep") == old.channel("keep"), "the open spool keeps its size"
    assert plan.changed == ()
    assert plan.warnings == (
        "source.path: changed; this takes effect at the next restart",
        "channels.keep.spool_max_bytes: the change takes effect at the next restart "
        "(the backlog is open)",
    )


def test_a_changed_listen_address_moves_the_server(tmp_path: Path) -> None:
    old = load(tmp_path, BASE)
    plan = plan_reload(old, load(tmp_path, BASE.replace("9816", "9817"), "d.toml"))
    assert plan.is_listen_changed
    assert plan.config.metrics_listen == ("127.0.0.1", 9817)


def test_unhealthy_after_defaults_and_parses(tmp_path: Path) -> None:
    assert load(tmp_path, BASE).unhealthy_after == DEFAULT_UNHEALTHY_AFTER == 300
    config = load(tmp_path, BASE.replace("[metrics]\n", '[metrics]\nunhealthy_after = "90s"\n'))
    assert config.unhealthy_after == 90


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('unhealthy_after = "soon"', 'metrics.unhealthy_after: "soon" is not a duration'),
        ("unhealthy_after = 0", "metrics.unhealthy_after: must be longer than zero"),
        ('unhealthy = "5m"', "metrics.unhealthy"),
    ],
)
def test_metrics_problems_name_their_key(tmp_path: Path, line: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, BASE.replace("[metrics]\n", f"[metrics]\n{line}\n"))
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_a_changed_missing_after_says_it_waits_for_a_restart(tmp_path: Path) -> None:
    old = load(tmp_path, BASE)
    new_text = BASE.replace(
        'path = "/var/log/a.jsonl"', 'path = "/var/log/a.jsonl"\nmissing_after = "1m"'
    )
    plan = plan_reload(old, load(tmp_path, new_text, "d.toml"))
    assert plan.config.source == old.source
    assert plan.warnings == (
        "source.missing_after: changed; this takes effect at the next restart",
    )
