"""Fuzzing routing with hostile input: random globs, actions and JSON-ish lines.

Hypothesis writes globs (stars, ``?``, sets, negated sets, ranges) and actions
and checks the router against a plain glob matcher and the skimmer's widened
pattern for never missing a match; then whole blocks of random lines (odd
values, lone surrogates, NaN, broken JSON with a readable action, deep nesting)
go through the intake twice, skimming blocks and parsing every line, under a
random configuration: no exception, the same events routed to the same
channels both ways, and every routed event can be stored and rendered for
every kind of channel. Time is measured in ``bench/hostile_lines.py``, never
asserted here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.config.model import ChannelConfig, Config
from shipper.config.severity import SEVERITY_NAMES, Severity
from shipper.routing.intake import Intake
from shipper.routing.route import Router
from shipper.routing.skim import glob_to_bytes_pattern
from shipper.sinks import render
from shipper.sources.lines import LineSplitter
from shipper.spool.records import decode_record, encode_record
from tests.support.config import load_config

BASE = load_config(Path(__file__).resolve().parents[3] / "config.example.toml", {}, posts=False)

# Each glob token with what it matches; "[" appears only as the start of a set.
TOKENS = {
    "a": lambda c: c == "a",
    "b": lambda c: c == "b",
    ".": lambda c: c == ".",
    "_": lambda c: c == "_",
    "]": lambda c: c == "]",
    "?": lambda c: True,
    "[ab]": lambda c: c in "ab",
    "[!a]": lambda c: c != "a",
    "[a-b]": lambda c: "a" <= c <= "b",
    "[]]": lambda c: c == "]",
    "[!]]": lambda c: c != "]",
    "*": None,
}
ALPHABET = "ab._]-"

glob_tokens = st.lists(st.sampled_from(sorted(TOKENS)), min_size=1, max_size=10)
actions = st.text(ALPHABET, max_size=30)


def reference_match(tokens: list[str], action: str) -> bool:
    """Whole-string glob matching by dynamic programming, token by token."""
    reachable = {0}
    for token in tokens:
        test = TOKENS[token]
        if test is None:
            start = min(reachable, default=len(action) + 1)
            reachable = set(range(start, len(action) + 1))
        else:
            reachable = {i + 1 for i in reachable if i < len(action) and test(action[i])}
    return len(action) in reachable


def channel(name: str, globs: list[str], exclude: list[str], severity: Severity) -> ChannelConfig:
    return ChannelConfig(
        name, "webhook", "https://x.example.com", None, severity, tuple(globs), tuple(exclude)
    )


@settings(max_examples=400, deadline=None)
@given(globs=st.lists(glob_tokens, min_size=1, max_size=3), action=actions)
def test_router_and_skim_pattern_match_as_globs_do(globs: list[list[str]], action: str) -> None:
    texts = ["".join(tokens) for tokens in globs]
    expected = any(reference_match(tokens, action) for tokens in globs)
    router = Router([channel("c", texts, [], Severity.DEBUG)])
    assert router.could_take(action) is expected
    assert router.route(action, Severity.INFO) == (("c",) if expected else ())
    for tokens, text in zip(globs, texts, strict=True):
        if reference_match(tokens, action):
            assert re.fullmatch(glob_to_bytes_pattern(text), action.encode()), (text, action)


@settings(max_examples=200, deadline=None)
@given(tokens=glob_tokens, action=actions, exclude=glob_tokens)
def test_exclude_vetoes_as_a_glob_does(tokens: list[str], action: str, exclude: list[str]) -> None:
    router = Router([channel("c", ["".join(tokens)], ["".join(exclude)], Severity.HIGH)])
    expected = reference_match(tokens, action) and not reference_match(exclude, action)
    assert router.route(action, Severity.CRITICAL) == (("c",) if expected else ())
    assert router.route(action, Severity.MEDIUM) == ()


def quoted(text: str) -> str:
    return orjson.dumps(text).decode()


def deep(depth: int, kind: str) -> str:
    return kind[0] * depth + "1" + kind[1] * depth


values = st.one_of(
    st.sampled_from(
        ["1", "null", '"x"', "NaN", "-Infinity", "1e400", '"\\ud800"', '"a\\udc00b"', "[]", "{}"]
    ),
    st.builds(deep, st.integers(0, 1000), st.sampled_from(["[]", ['{"a":', "}"]])),
    st.builds(quoted, st.text(ALPHABET + '"\\é', max_size=8)),
)
other_member = st.one_of(
    st.builds(lambda k, v: f"{quoted(k)}:{v}", st.sampled_from(["x", "context", "user"]), values),
    st.builds(lambda v: f'"context":{{"k":{v}}}', values),
)
member = st.one_of(
    st.builds(lambda a: f'"action":{quoted(a)}', actions),
    st.builds(lambda s: f'"severity":{quoted(s)}', st.sampled_from([*SEVERITY_NAMES, " Error"])),
    other_member,
)
tails = st.sampled_from(["", "", "", ",", ", oops", "}", '"', "\udcff", "\\"])
lines = st.builds(
    lambda ms, tail: ("{" + ",".join(ms) + tail + "}").encode("utf-8", "surrogateescape"),
    st.lists(member, max_size=5),
    tails,
)
configs = st.lists(
    st.tuples(
        st.lists(glob_tokens, min_size=1, max_size=3),
        st.sampled_from(list(Severity)),
    ),
    min_size=1,
    max_size=3,
)


def make_config(rules: list[tuple[list[list[str]], Severity]], default: Severity) -> Config:
    channels = tuple(
        channel(f"c{i}", ["".join(t) for t in globs], [], severity)
        for i, (globs, severity) in enumerate(rules)
    )
    return dataclasses.replace(BASE, channels=channels, default_severity=default)


@settings(max_examples=150, deadline=None)
@given(
    rules=configs,
    default=st.sampled_from([Severity.DEBUG, Severity.INFO]),
    block=st.lists(lines, min_size=1, max_size=20),
    cut=st.integers(min_value=50, max_value=5000),
)
def test_skimming_and_parsing_every_line_route_alike(
    rules: list[tuple[list[list[str]], Severity]],
    default: Severity,
    block: list[bytes],
    cut: int,
) -> None:
    config = make_config(rules, default)
    data = b"\n".join(block) + b"\n"
    splitter = LineSplitter(config.source.max_line_bytes)
    chunks = [splitter.feed(data[i : i + cut]) for i in range(0, len(data), cut)]
    skimming, parsing = Intake(config), Intake(config)
    skimmed = [r for chunk in chunks for r in skimming.process(chunk)]
    parsed = [r for chunk in chunks for r in parsing.process(chunk.as_list())]
    assert [(r.event.line, r.event.action, r.channels) for r in skimmed] == [
        (r.event.line, r.event.action, r.channels) for r in parsed
    ]
    assert skimming.stats.lines_read == parsing.stats.lines_read == len(block)
    for routed in parsed:
        alert = routed.alert
        assert decode_record(encode_record(alert)) == alert
        for kind in ("slack", "teams", "webhook"):
            target = dataclasses.replace(BASE.channels[0], kind=kind)
            orjson.dumps({"channel": "x", "payload": render(target, [alert, alert]).payload})


@settings(max_examples=150, deadline=None)
@given(
    rules=configs,
    action=actions,
    rest=st.lists(other_member, max_size=4),
    tail=tails,
    cut=st.integers(min_value=50, max_value=5000),
)
def test_no_other_field_can_hide_an_event(
    rules: list[tuple[list[list[str]], Severity]],
    action: str,
    rest: list[str],
    tail: str,
    cut: int,
) -> None:
    # Whatever follows them (odd values, deep nesting, a broken end), an action and a
    # severity that a channel takes are routed to exactly the channels whose globs match.
    config = make_config(rules, Severity.INFO)
    members = [f'"action":{quoted(action)}', '"severity":"critical"', *rest]
    line = ("{" + ",".join(members) + tail + "}").encode("utf-8", "surrogateescape")
    expected = tuple(
        f"c{i}"
        for i, (globs, _) in enumerate(rules)
        if any(reference_match(tokens, action) for tokens in globs)
    )
    data = b'{"action":"x.y"}\n' + line + b"\n"
    splitter = LineSplitter(config.source.max_line_bytes)
    chunks = [splitter.feed(data[i : i + cut]) for i in range(0, len(data), cut)]
    for lines in (chunks, [chunk.as_list() for chunk in chunks]):
        intake = Intake(config)
        routed = [r for chunk in lines for r in intake.process(chunk) if r.event.line == 2]
        assert [r.channels for r in routed] == ([expected] if expected else [])
        for r in routed:
            assert r.alert.action == action
            decode_record(encode_record(r.alert))
