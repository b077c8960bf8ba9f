"""A kind of destination is known to the config only through what its sink declares.

A toy kind defined here, with a key and defaults of its own, loads through the
real ``load_config`` with no change to the config stage: a new destination is
its sink module and its row in ``sinks.SINKS``, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipper.config.kinds import KindSpec
from shipper.config.load import load_config
from shipper.config.values import Problems, read_string
from shipper.errors import ConfigError
from shipper.sinks import SINKS


@dataclass(frozen=True)
class ToyLimits:
    max_rate: float | None = 2.5
    batch_max: int = 500


@dataclass(frozen=True)
class ToySettings:
    token: str | None
    colour: str


class ToyKind:
    kind = "toy"
    limits = ToyLimits()
    config_keys = frozenset({"token", "colour"})
    required_keys = frozenset({"token"})

    def parse_settings(
        self,
        body: Mapping[str, Any],
        prefix: str,
        environ: Mapping[str, str],
        problems: Problems,
        *,
        posts: bool,
    ) -> ToySettings:
        token = read_string(body, "token", prefix, environ, problems) if "token" in body else None
        colour = body.get("colour", "blue")
        if colour not in ("blue", "green"):
            problems.error(f"{prefix}colour: must be blue or green")
        return ToySettings(token, colour)


KINDS: dict[str, KindSpec] = {**SINKS, "toy": ToyKind()}


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path, {"TOY_TOKEN": "t0k"}, kinds=KINDS)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def test_a_new_kind_loads_with_its_own_settings_and_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[channels.t]\nkind = "toy"\ntoken = "${TOY_TOKEN}"\ncolour = "green"\n'
        '[channels.s]\nkind = "slack"\nurl = "https://hooks.slack.com/services/T/B/x"\n',
    )
    toy, slack = config.channel("t"), config.channel("s")
    assert toy.settings == ToySettings("t0k", "green")
    assert toy.url is None
    assert (toy.delivery.max_rate, toy.delivery.batch_max) == (2.5, 500)
    assert (slack.delivery.max_rate, slack.delivery.batch_max) == (1.0, 20)
    assert slack.settings is None


def test_delivery_keys_given_for_all_channels_override_the_kinds_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "[delivery]\nbatch_max = 7\n"
        '[channels.t]\nkind = "toy"\ntoken = "x"\n'
        '[channels.u]\nkind = "toy"\ntoken = "x"\nbatch_max = 3\n',
    )
    assert config.channel("t").delivery.batch_max == 7
    assert config.channel("t").delivery.max_rate == 2.5
    assert config.channel("u").delivery.batch_max == 3


def test_the_kinds_own_keys_are_checked(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[channels.t]\nkind = "toy"\ncolour = "red"\nurl = "https://x.example"\n'
        '[channels.s]\nkind = "slack"\nurl = "https://hooks.slack.com/services/T/B/x"\n'
        'colour = "blue"\n',
    )
    assert "channels.t.token: missing; toy channels need it" in found
    assert "channels.t.colour: must be blue or green" in found
    assert any(p.startswith("channels.t.url: toy channels have no url") for p in found)
    assert "channels.s.colour: slack channels have no colour (it is a key of toy channels)" in (
        found
    )


def test_kinds_not_passed_in_are_unknown(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[channels.t]\nkind = "toy"\ntoken = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, kinds=SINKS)
    assert caught.value.problems[0].startswith('channels.t.kind: unknown kind "toy"')
