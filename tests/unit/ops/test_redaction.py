"""Redaction of secrets in every form a URL takes on the wire, in a log or an echoed body.

The forms are made by the real tools: yarl (what aiohttp sends), urllib's
quoting, json and orjson; the secret pieces must be gone from each.
"""

from __future__ import annotations

import io
import json
import logging
import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import orjson
import pytest
import yarl

from shipper.ops.logs import JsonFormatter, SecretFilter
from shipper.ops.redaction import Redactor, url_secrets

FLOW_ID = "5ecf10we1d0a4b7c9e8f00112233abcd"
SIG = "sIgAlpha%7eSigBravo%2fSigCharlie%20SigDelta+SigEcho%7ESigFoxtrot"
FLOW = (
    "https://prod-07.westus.logic.azure.com:443/workflows/"
    f"{FLOW_ID}/triggers/manual/paths/invoke?api-version=2016-06-01"
    f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
)
SLACK = "https://hooks.slack.com/services/T0SecTeam1/B0SecHook2/xoxSecretOne%7eSecretTwo"
TEAMS = (
    "https://acme.webhook.office.com/webhookb2/6f1c3a4e-1111-2222-3333-444455556666"
    "@7a2b3c4d-aaaa-bbbb-cccc-ddddeeeeffff/IncomingWebhook/0123456789abcdef0123456789abcdef"
    "/9e8d7c6b-1111-2222-3333-444455556666/V2abcdefghijklmnopqrstuvwxyz0123456789ABCD"
)
URLS = (FLOW, SLACK, TEAMS)


def pieces(url: str) -> list[str]:
    """The secret runs of ``url``: letters and digits, 5 or more, outside the host and
    the words every such URL has."""
    parts = yarl.URL(url)
    plain = unquote_plus(parts.raw_path) + " " + unquote_plus(parts.raw_query_string)
    common = {"workflows", "triggers", "manual", "paths", "invoke", "version", "services"}
    common |= {"webhookb2", "incomingwebhook"}
    runs = re.split(r"[^A-Za-z0-9]+", plain)
    return [r for r in runs if len(r) >= 5 and r.lower() not in common and not r.isdigit()]


def json_escaped(text: str) -> str:
    """As a JSON encoder that escapes "/" and "&" writes it (PHP, Go's html-safe mode)."""
    return json.dumps(text).replace("/", "\\/").replace("&", "\\u0026")


def forms(url: str) -> dict[str, str]:
    """What an endpoint may echo of ``url``: the wire form and its decodings and escapes."""
    wire = yarl.URL(url)
    raw = wire.raw_path_qs
    return {
        "configured": url,
        "yarl": str(wire),
        "raw path and query": raw,
        "decoded": wire.path_qs,
        "unquote_plus": unquote_plus(raw),
        "encoded whole": quote(str(wire), safe=""),
        "encoded as a query value": quote_plus(raw),
        "lower-case hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), raw),
        "lower-cased": str(wire).lower(),
        "upper-cased": str(wire).upper(),
        "double-encoded": quote(raw, safe="/?&="),
        "json": json.dumps(str(wire)),
        "json ascii": json.dumps(unquote(raw) + " ü", ensure_ascii=True),
        "json with \\/ and \\u0026": json_escaped(str(wire)),
        "json of the decoded": json_escaped(wire.path_qs),
        "orjson": orjson.dumps({"url": str(wire)}).decode(),
        "every query value": " ".join(wire.query.values()),
        "every query value, raw": " ".join(
            p.partition("=")[2] for p in wire.raw_query_string.split("&")
        ),
        "every path segment": " ".join(wire.parts),
        "every raw path segment": " ".join(wire.raw_parts),
        "JSON-escaped percent": raw.replace("%", "\\u0025"),
    }


def leaked(url: str, text: str) -> list[str]:
    return [p for p in pieces(url) if p.lower() in text.lower()]


CASES = [(url, name, text) for url in URLS for name, text in forms(url).items()]


@pytest.mark.parametrize(
    ("url", "form", "text"), CASES, ids=[f"{u.split('/')[2]}-{f}" for u, f, _ in CASES]
)
def test_every_form_of_the_url_is_redacted(url: str, form: str, text: str) -> None:
    assert pieces(url), "the test must look for something"
    secrets = SecretFilter(URLS)
    body = f"400 Bad Request: no flow at {text} (request id 42)"
    scrubbed = secrets.scrub(body)
    assert not leaked(url, scrubbed), f"{form}: {scrubbed}"
    assert scrubbed.startswith("400 Bad Request: no flow at ")
    assert scrubbed.endswith("(request id 42)")


def test_the_wire_differs_from_the_config() -> None:
    """yarl re-encodes: the configured text alone is not what an endpoint sees."""
    raw = yarl.URL(FLOW).raw_path_qs
    assert "%7e" in FLOW and "%7e" not in raw and "~" in raw
    assert "sp=/triggers/manual/run" in raw


def test_a_whole_url_becomes_its_host_and_a_tail_an_ellipsis() -> None:
    secrets = SecretFilter([SLACK])
    assert (
        secrets.scrub(f"posting to {SLACK} failed") == "posting to https://hooks.slack.com/… failed"
    )
    raw = yarl.URL(SLACK).raw_path_qs
    assert secrets.scrub(f"POST {raw} HTTP/1.1") == "POST /… HTTP/1.1"


def test_each_secret_query_value_and_path_segment_is_a_secret_of_its_own() -> None:
    found = {secret for secret, _ in url_secrets(FLOW)}
    assert unquote(SIG) in found
    assert FLOW_ID in found
    assert "1.0" not in found and "2016-06-01" not in found
    assert {"T0SecTeam1", "B0SecHook2", "xoxSecretOne~SecretTwo"} <= {
        s for s, _ in url_secrets(SLACK)
    }
    teams = {s for s, _ in url_secrets(TEAMS)}
    assert "6f1c3a4e-1111-2222-3333-444455556666" in teams
    assert not {"triggers", "manual", "invoke"} & found


def test_short_and_common_values_are_left_alone() -> None:
    secrets = SecretFilter(URLS)
    line = "channel infra: Teams Workflows answered 400 (api-version 2016-06-01, sv=1.0, manual)"
    assert secrets.scrub(line) == line


def test_a_registered_token_is_redacted_in_every_form() -> None:
    secrets = SecretFilter()
    token = "xoxb-1234567890-abcdefGHIJ/kl mn"
    secrets.add_secret(token)
    for text in (token, quote(token, safe=""), quote_plus(token), json.dumps(token)):
        assert "abcdefghij" not in secrets.scrub(f"Authorization: Bearer {text}").lower()
    assert secrets.scrub("no secret here") == "no secret here"


def test_overlapping_secrets_leave_nothing() -> None:
    redactor = Redactor([("abcdefgh12", "<a>"), ("gh12345678xyz", "<b>")])
    assert redactor.scrub("xx abcdefgh12345678xyz yy") == "xx <b> yy"


def test_non_ascii_secrets_in_percent_and_json_forms() -> None:
    redactor = Redactor([("geheimnis-überall-😀", "…")])
    for text in (
        "geheimnis-überall-😀",
        quote("geheimnis-überall-😀"),
        json.dumps("geheimnis-überall-😀"),
    ):
        assert "geheimnis" not in redactor.scrub(f"x {text} y"), text


def test_a_log_record_is_scrubbed_in_message_fields_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter(URLS))
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    wire = yarl.URL(FLOW)
    try:
        try:
            raise ValueError(f"cannot post to {wire}")
        except ValueError:
            logger.exception(
                "channel %s: %s",
                "infra",
                json_escaped(str(wire)),
                extra={"reason": f"echo {wire.raw_path_qs}", "channel": "infra"},
            )
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert not leaked(FLOW, out), out
    entry = orjson.loads(out)
    assert entry["channel"] == "infra"
    assert entry["reason"] == "echo /…"
    assert (
        "ValueError: cannot post to https://prod-07.westus.logic.azure.com/…" in entry["exception"]
    )


def test_a_very_long_url_is_registered_and_found() -> None:
    url = "https://relay.example.com/in/" + "a1B2" * 2500 + "?token=" + "Zz9" * 100
    secrets = SecretFilter([url])
    assert secrets.scrub(f"x {yarl.URL(url)} y") == "x https://relay.example.com/… y"
