"""Skimming a block for the lines a channel could take routes exactly as a full parse does.

Hypothesis writes blocks of adversarial lines (the action key nested, spelled
with ``\\u`` escapes, with blanks around the colon, duplicated, not a string,
missing; severities as aliases, odd case, missing, not strings; lines that are
not JSON, arrays, cut short, not UTF-8, not ASCII, too long, CRLF) and checks
that the intake given ``Lines`` (which skims) routes every line as the intake
given the same lines one by one (which parses each in full).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.config.model import ChannelConfig, Config, Fields
from shipper.config.severity import Severity
from shipper.routing.intake import Intake
from shipper.routing.skim import Skimmer, glob_to_bytes_pattern
from shipper.sources.lines import Block, LineSplitter, TooLong
from tests.support.config import load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.toml"
BASE = load_config(EXAMPLE, {}, posts=False)


def channel(
    name: str, actions: tuple[str, ...], exclude: tuple[str, ...] = (), min_sev: str = "debug"
) -> ChannelConfig:
    severity = Severity[min_sev.upper()]
    return ChannelConfig(name, "webhook", "https://x.example.com", None, severity, actions, exclude)


def config(*channels: ChannelConfig, max_line_bytes: int = 400) -> Config:
    source = dataclasses.replace(BASE.source, max_line_bytes=max_line_bytes)
    return dataclasses.replace(BASE, channels=tuple(channels), source=source)


CONFIGS = {
    "example": dataclasses.replace(BASE, source=config().source),
    "globs": config(
        channel("sec", ("login.*", "mfa_?ethod.*", "api_[tx]oken.*"), ("login.ok",), "medium"),
        channel("ops", ("release.promote", "[!a]pp.get", "odd[.x"), min_sev="high"),
    ),
    "catch-all": config(channel("all", ("*",), min_sev="high")),
    "catch-all-and-globs": config(
        channel("all", ("*",), ("app.*",), "medium"),
        channel("sec", ("login.*", "api_[tx]oken.*"), min_sev="debug"),
    ),
    # The default (info) reaches this channel: every line could go to it, nothing skims.
    "catch-all-from-info": config(channel("all", ("*",), min_sev="info")),
}

ACTIONS = [
    "login.complete",
    "login.ok",
    "login",
    "Login.complete",
    "login.complete.x",
    "app.get",
    "bpp.get",
    "release.promote",
    "release.promotes",
    "mfa_method.enroll",
    "mfa_xethod.enroll",
    "api_token.create",
    "api_xoken.create",
    "odd[.x",
    "deploy_approval_request.create",
    "user.update_roles",
    "",
    "logïn.complete",
]
# The one kind of bad line a skim may skip unreported: broken inside its braces.
INNER_BROKEN = b'{"action":"app.get","x":}'
SEVERITIES = [
    "high",
    "HIGH",
    " warn ",
    "debug",
    "critical",
    "bogus",
    "info",
    "emerg",
    "Error",
    "WARNING\t",
    "\x1fcrit",
    "low",
    "medium ",
    "hig",
    "highs",
    "notice",
]


def string(text: str, escaped: bool) -> str:
    if not escaped:
        return orjson.dumps(text).decode()
    return '"' + "".join(f"\\u{ord(c):04x}" for c in text) + '"'


blank = st.sampled_from(["", " ", "\t", " \r "])


def line_strategies(escapes: bool) -> st.SearchStrategy[bytes]:
    """JSON-ish lines; without ``escapes``, ASCII with no backslash, which is what skims."""
    names = ACTIONS if escapes else [a for a in ACTIONS if a.isascii()]
    value = st.one_of(
        st.builds(string, st.sampled_from(names), st.booleans() if escapes else st.just(False)),
        st.sampled_from(["5", "null", "true", '{"a":1}', '["login.complete"]']),
    )
    keys = ['"action"', '"\\u0061ction"', '"actio\\u006e"'] if escapes else ['"action"']
    action = st.builds(
        lambda k, b1, b2, v: f"{k}{b1}:{b2}{v}", st.sampled_from(keys), blank, blank, value
    )
    severity_keys = ['"severity"', '"s\\u0065verity"'] if escapes else ['"severity"']
    severity = st.one_of(
        st.builds(
            lambda k, b1, b2, s: f"{k}{b1}:{b2}{string(s, False)}",
            st.sampled_from(severity_keys),
            blank,
            blank,
            st.sampled_from(SEVERITIES),
        ),
        st.sampled_from(['"severity":4', '"severity":null', '"severity":["high"]']),
    )
    fillers = ['"msg":"action"', '"user":"ann"', '"n":1', '"action":"x"}']
    if escapes:
        fillers += ['"note":"a \\"quoted\\" word"', '"who":"José"']
    nested = st.builds(lambda m: f'"context":{{{m}}}', st.one_of(action, severity))
    members = st.lists(st.one_of(action, action, severity, st.sampled_from(fillers), nested))
    json_line = st.builds(
        lambda ms, b: ("{" + b + ",".join(ms[:6]) + b + "}").encode(), members, blank
    )
    odd = [
        b"",
        b"   ",
        b"not json at all",
        b'["action","login.complete"]',
        b'{"action":"login.complete"',
        b'{"action":"login.complete","severity":"high"}\r',
        INNER_BROKEN,
        b'{"action":"login.complete","severity":"high","pad":"' + b"x" * 500 + b'"}',
        b'{"action":"login.complete","severity":"high"}',
        b'{"action":"app.get","severity":"\thigh"}',
        b'{"action":"app.get","severity" :"HIGH \x0b"}',
    ]
    if escapes:
        odd.append(b'{"action":"login.complete","u":"\xff"}')
    return st.one_of(json_line, json_line, st.sampled_from(odd))


blocks = st.one_of(
    st.lists(line_strategies(escapes=False), min_size=1, max_size=30),
    st.lists(line_strategies(escapes=True), min_size=1, max_size=30),
)


def routes(
    config: Config, lines: object
) -> tuple[list[tuple[int, str, str, tuple[str, ...]]], int]:
    intake = Intake(config)
    out = [
        (r.event.line, r.event.action, r.event.severity.label, r.channels)
        for r in intake.process(lines)  # type: ignore[arg-type]
    ]
    return out, intake.stats.lines_read


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=300, deadline=None)
@given(lines=blocks, cut=st.integers(min_value=20, max_value=4000))
def test_skimming_routes_as_a_full_parse(name: str, lines: list[bytes], cut: int) -> None:
    config = CONFIGS[name]
    data = b"\n".join(lines) + b"\n"
    splitter = LineSplitter(config.source.max_line_bytes)
    chunks = [splitter.feed(data[i : i + cut]) for i in range(0, len(data), cut)]
    one_by_one = [line for chunk in chunks for line in chunk.as_list()]
    skimmed = [r for chunk in chunks for r in routes(config, chunk)[0]]
    assert skimmed == routes(config, one_by_one)[0]
    assert sum(routes(config, chunk)[1] for chunk in chunks) == len(one_by_one)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=200, deadline=None)
@given(lines=blocks, cut=st.integers(min_value=20, max_value=4000))
def test_skimming_reports_every_bad_line_not_in_braces(
    name: str, lines: list[bytes], cut: int
) -> None:
    # Only a line broken inside its braces ({"action":"x",}) may be skipped unreported.
    config = CONFIGS[name]
    data = b"\n".join(lines) + b"\n"
    splitter = LineSplitter(config.source.max_line_bytes)
    chunks = [splitter.feed(data[i : i + cut]) for i in range(0, len(data), cut)]
    skimming, outside, everything = Intake(config), Intake(config), Intake(config)
    for chunk in chunks:
        list(skimming.process(chunk))
        list(everything.process(chunk.as_list()))
        list(outside.process([(n, d) for n, d in chunk.as_list() if not in_braces(d)]))
    for reason in set(everything.stats.rejected) | set(skimming.stats.rejected):
        reported = skimming.stats.rejected[reason]
        assert outside.stats.rejected[reason] <= reported <= everything.stats.rejected[reason]


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=300, deadline=None)
@given(lines=blocks)
def test_a_block_skimmed_to_nothing_is_one_process_routes_nothing_from(
    name: str, lines: list[bytes]
) -> None:
    # What the reading thread passes over with no batch must be what ``process`` would
    # have dropped, counted the same, whatever the lines hold.
    config = CONFIGS[name]
    seen = LineSplitter(config.source.max_line_bytes).feed(b'{"action":"app.get"}\n' * 100)
    splitter = LineSplitter(config.source.max_line_bytes, first_line=101)
    chunk = splitter.feed(b"\n".join(lines) + b"\n")
    quick, full = Intake(config), Intake(config)
    for intake in (quick, full):
        list(intake.process(seen))  # past the schema's sample
    routed = list(full.process(chunk))
    parts = chunk.parts
    if not (len(parts) == 1 and isinstance(parts[0], Block)):
        return
    if quick.skims_to_nothing(parts[0]):
        assert routed == []
        assert quick.stats == full.stats
    else:
        assert quick.stats.lines_read == 100  # not passed over: counted by ``process`` alone


def test_no_block_is_passed_over_before_the_schema_sample_is_seen() -> None:
    intake = Intake(CONFIGS["example"])
    block = Block(1, b'{"action":"app.get"}\n' * 3, 3)
    assert not intake.skims_to_nothing(block)  # the schema check must see these lines
    list(intake.process(LineSplitter(1000).feed(b'{"action":"app.get"}\n' * 100)))
    assert intake.skims_to_nothing(block)
    assert (intake.stats.lines_read, intake.stats.lines_skimmed) == (103, 103)
    assert not intake.skims_to_nothing(Block(104, b'{"action":"login.complete"}\n', 1))
    assert intake.stats.lines_read == 103


def in_braces(data: bytes | TooLong) -> bool:
    return isinstance(data, bytes) and data.startswith(b"{") and data.endswith(b"}")


def test_the_example_log_is_skimmed() -> None:
    config = CONFIGS["example"]
    wanted = b'{"timestamp":"t","action" : "login.complete","severity":"info"}\n'
    other = b'{"timestamp":"t","action":"app.get","severity":"debug"}\n'
    data = other * 10 + wanted + other * 5
    intake = Intake(config)
    (routed,) = list(intake.process(LineSplitter(10_000).feed(data)))
    assert (routed.event.line, routed.channels) == (11, ("security",))
    assert intake.stats.lines_read == 16
    assert intake.stats.lines_skimmed == 15


def test_what_turns_skimming_off() -> None:
    block = Block(1, b'{"action":"app.get"}\n', 1)
    dotted = Skimmer(Fields(action=("event", "action")), ["login.*"])
    assert dotted.wanted(block) is None
    plain = Skimmer(Fields(), ["login.*"])
    assert plain.wanted(block) == []
    assert plain.wanted(Block(1, b'{"action":"app.get","p":"C:\\\\"}\n', 1)) is None
    assert plain.wanted(Block(1, '{"action":"app.get","u":"\u00e9"}\n'.encode(), 1)) is None
    # A channel taking any action, from a severity the default does not reach: skims.
    severe = Skimmer(Fields(), ["login.*"], Severity.HIGH, Severity.INFO)
    two = Block(1, b'{"action":"app.get","severity":" Error "}\n{"action":"app.get"}\n', 2)
    assert severe.wanted(two) == [(1, b'{"action":"app.get","severity":" Error "}')]
    # ... but not when the default reaches it, or the severity field is nested.
    assert Skimmer(Fields(), [], Severity.INFO, Severity.INFO).wanted(block) is None
    nested = Fields(severity=("meta", "severity"))
    assert Skimmer(nested, [], Severity.HIGH, Severity.INFO).wanted(block) is None


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        ("login.*", ["login.", "login.x.y"], ["login", "xlogin.a"]),
        ("a?c", ["abc", "a.c"], ["ac", "abbc"]),
        ("[!x]pp", ["app", "xpp"], ["pp"]),  # a set is widened to any one character
        ("odd[.x", ["odd[.x"], ["odd.x"]),
        ("a.b", ["a.b"], ["axb"]),
    ],
)
def test_glob_patterns_find_at_least_the_glob(
    glob: str, matches: list[str], misses: list[str]
) -> None:
    pattern = re.compile(glob_to_bytes_pattern(glob) + b"$")
    assert all(pattern.match(m.encode()) for m in matches)
    assert not any(pattern.match(m.encode()) for m in misses)
