"""Routing: thresholds, whole-action globs, exclusions, fan-out."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.routing.route import Router
from tests.support.config import load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.toml"


def channel(
    name: str,
    actions: tuple[str, ...] = ("*",),
    exclude: tuple[str, ...] = (),
    min_severity: Severity = Severity.DEBUG,
) -> ChannelConfig:
    return ChannelConfig(
        name, "webhook", "https://x.example.com", None, min_severity, actions, exclude
    )


@pytest.fixture(scope="module")
def example() -> Router:
    return Router(load_config(EXAMPLE, {}, posts=False).channels)


@pytest.mark.parametrize(
    ("action", "severity", "expected"),
    [
        ("login.complete", Severity.INFO, ("security",)),
        ("login.complete", Severity.DEBUG, ()),
        ("login.oauth_failed", Severity.MEDIUM, ("security",)),
        ("login.user_not_authorized", Severity.HIGH, ()),
        ("mfa_method.delete", Severity.HIGH, ("security",)),
        ("api_token.create", Severity.MEDIUM, ("security",)),
        ("user.update_roles", Severity.HIGH, ("security",)),
        ("user.lock", Severity.MEDIUM, ()),
        ("deploy_approval_request.create", Severity.INFO, ("infrastructure", "deploy-approvals")),
        ("deploy_approval_request.create", Severity.DEBUG, ("deploy-approvals",)),
        ("release.promote", Severity.HIGH, ("infrastructure",)),
        ("release.list", Severity.HIGH, ()),
        ("app.list", Severity.CRITICAL, ()),
    ],
)
def test_example_routing(
    example: Router, action: str, severity: Severity, expected: tuple[str, ...]
) -> None:
    assert example.route(action, severity) == expected


def test_globs_match_the_whole_action_and_cross_dots() -> None:
    router = Router(
        [
            channel("a", ("login.*",)),
            channel("b", ("*.failed",)),
            channel("c", ("user.?ock",)),
            channel("d", ("api_token.[cd]*",)),
        ]
    )
    assert router.route("login.a.b.failed", Severity.INFO) == ("a", "b")
    assert router.route("xlogin.a", Severity.INFO) == ()
    assert router.route("user.lock", Severity.INFO) == ("c",)
    assert router.route("user.locks", Severity.INFO) == ()
    assert router.route("api_token.create", Severity.INFO) == ("d",)
    assert router.route("api_token.rotate", Severity.INFO) == ()


def test_globs_are_case_sensitive() -> None:
    router = Router([channel("a", ("Login.*",))])
    assert router.route("login.complete", Severity.INFO) == ()
    assert router.route("Login.complete", Severity.INFO) == ("a",)


def test_exclude_vetoes_and_threshold_applies() -> None:
    router = Router(
        [channel("noc", exclude=("*.list", "http.request"), min_severity=Severity.MEDIUM)]
    )
    assert router.route("app.list", Severity.HIGH) == ()
    assert router.route("http.request", Severity.CRITICAL) == ()
    assert router.route("user.lock", Severity.MEDIUM) == ("noc",)
    assert router.route("user.lock", Severity.LOW) == ()


def test_regex_characters_in_globs_are_literal() -> None:
    router = Router([channel("a", ("a+b.(x)",))])
    assert router.route("a+b.(x)", Severity.INFO) == ("a",)
    assert router.route("aab.(x)", Severity.INFO) == ()
