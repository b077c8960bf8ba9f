"""Secrets against an endpoint that echoes the request URL, through the real CLI.

The webhook URLs in the config differ from what goes on the wire only by
percent-encoding (``%7e`` is sent as ``~``, ``%2F`` in a query as ``/``, a space
as ``+`` or ``%20``, hex in either case). A fake endpoint on 127.0.0.1 answers
every post with 400 or 500 and echoes the URL it received (raw, decoded, or
JSON-escaped with ``\\/`` and ``\\u0026``), as its URL asks. No part of a
secret (a query value, a path secret) may appear in stderr (text or JSON logs),
``/healthz``, ``/metrics``, the state directory (dead letters), ``shipper
test``, ``shipper check`` or a refused reload's errors.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
import yarl
from aiohttp import web

from tests.e2e.cli import StderrWatch, clean_env, free_port, shipper, start_run
from tests.e2e.inputs import config_file
from tests.support.waiting import get

# Query values and path secrets, as written in the config (percent-encoded in
# places yarl re-encodes). Every alphanumeric run of 5+ characters is a secret
# piece that must never show.
FLOW_ID = "5ecf10we1d0a4b7c9e8f00112233abcd"
SIG = "sIgAlpha%7eSigBravo%2fSigCharlie%20SigDelta+SigEcho%7ESigFoxtrot"
SLACK_PATH = "T0SecTeam1/B0SecHook2/xoxSecretOne%7eSecretTwo%2FSecretThree"


@dataclass(frozen=True)
class Hook:
    """One channel: its kind, how the fake echoes its URL, and with what status."""

    name: str
    kind: str
    echo: str  # raw | decoded | json
    status: int

    @property
    def var(self) -> str:
        return f"URL_{self.name.upper()}"

    def url(self, port: int) -> str:
        tail = f"echo={self.echo}&status={self.status}"
        if self.kind == "slack":
            return f"http://127.0.0.1:{port}/services/{SLACK_PATH}?{tail}"
        # Teams Workflows, told apart from the classic connector by format = "adaptivecard".
        return (
            f"http://127.0.0.1:{port}/workflows/{FLOW_ID}/triggers/manual/paths/invoke?"
            f"{tail}&api-version=2016-06-01&sig={SIG}&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
        )

    @property
    def table(self) -> str:
        extra = 'format = "adaptivecard"\n' if self.kind == "teams" else ""
        return f'[channels.{self.name}]\nkind = "{self.kind}"\nurl = "${{{self.var}}}"\n{extra}'


HOOKS = (
    Hook("flow_raw", "teams", "raw", 400),
    Hook("flow_decoded", "teams", "decoded", 400),
    Hook("flow_json", "teams", "json", 400),
    Hook("flow_raw_down", "teams", "raw", 500),
    Hook("flow_decoded_down", "teams", "decoded", 500),
    Hook("flow_json_down", "teams", "json", 500),
    Hook("slack_raw", "slack", "raw", 400),
    Hook("slack_json_down", "slack", "json", 500),
)
# A URL that only a broken config names (under a wrong key): never registered as a channel's.
STRAY_VAR = "URL_STRAY"
STRAY_SECRET = "StrayS3cretToken"


def secret_pieces() -> list[str]:
    pieces = {FLOW_ID, STRAY_SECRET}
    for secret in (unquote(SIG), unquote(SLACK_PATH)):
        pieces.update(p for p in re.split(r"[^A-Za-z0-9]+", secret) if len(p) >= 5)
    return sorted(pieces)


PIECES = secret_pieces()


def leaked(text: str | bytes) -> list[str]:
    """The secret pieces ``text`` shows, in any case."""
    shown = (text.decode("utf-8", "replace") if isinstance(text, bytes) else text).lower()
    return [p for p in PIECES if p.lower() in shown]


def assert_no_secret(where: str, text: str | bytes) -> None:
    assert not leaked(text), f"{where} shows {leaked(text)}:\n{text[:3000]!r}"


class Leaks:
    """Every place that showed a secret: a run is checked everywhere before the test fails."""

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def check(self, where: str, text: str | bytes) -> None:
        if pieces := leaked(text):
            self.found.setdefault(where, pieces)


class EchoEndpoint:
    """Answers every request with the status its query asks for, echoing its URL."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> EchoEndpoint:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        raw = request.raw_path  # path and query exactly as they came on the wire
        self.requests.append(raw)
        echo = request.query.get("echo", "raw")
        if echo == "decoded":
            text = f"no flow at {unquote(raw)}"
        elif echo == "json":
            url = f"http://127.0.0.1:{self.port}{raw}"
            text = json.dumps({"error": {"url": url}}).replace("/", "\\/")
            text = text.replace("&", "\\u0026")
        else:
            text = f"no flow at {raw}"
        return web.Response(status=int(request.query.get("status", "400")), text=text)


@pytest.fixture
async def endpoint() -> AsyncIterator[EchoEndpoint]:
    async with EchoEndpoint() as server:
        yield server


def environment(endpoint: EchoEndpoint, tmp_path: Path) -> dict[str, str]:
    urls = {h.var: h.url(endpoint.port) for h in HOOKS}
    stray = f"https://hooks.slack.com/services/T0/B0/{STRAY_SECRET}"
    return clean_env({**urls, STRAY_VAR: stray}, state=tmp_path / "xdg")


def write_config(tmp_path: Path, hooks: Iterable[Hook], extra: str = "") -> Path:
    delivery = f"""retry_initial = "50ms"
retry_max = "200ms"
timeout = "2s"
drain_timeout = "1s"
max_rate = 0
{extra}"""
    tables = "\n".join(h.table for h in hooks)
    return config_file(tmp_path, log=tmp_path / "audit.jsonl", delivery=delivery, channels=tables)


# The same config with a URL variable put under a wrong key, and a new channel.
WRONG_KEY = f"""
[channels.stray]
kind = "slack"
url = "${{{STRAY_VAR}}}"
min_severity = "${{{STRAY_VAR}}}"
"""


def test_the_url_the_endpoint_received_differs_from_the_config(endpoint: EchoEndpoint) -> None:
    """The premise: yarl re-encodes, so the configured text alone would not be redacted."""
    url = HOOKS[0].url(endpoint.port)
    assert "%7e" in url
    assert "%7e" not in yarl.URL(url).raw_path_qs


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    # In a thread: the endpoint answers from this test's event loop meanwhile.
    result = await asyncio.to_thread(shipper, *args, env=env)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_shipper_test_never_shows_an_echoed_secret(
    tmp_path: Path, endpoint: EchoEndpoint, log_format: str
) -> None:
    config = write_config(tmp_path, HOOKS)
    env = environment(endpoint, tmp_path)
    # Every kind of echo in text; a few in JSON, which only changes how stderr is written.
    hooks = HOOKS if log_format == "text" else HOOKS[::3]
    for hook in hooks:
        code, out, err = await run_cli(
            "test",
            hook.name,
            "-c",
            str(config),
            "--log-format",
            log_format,
            "--log-level",
            "debug",
            env=env,
        )
        assert code == 1, err.decode()
        assert f"answered {hook.status}".encode() in out, out.decode()
        assert_no_secret(f"shipper test {hook.name} stdout", out)
        assert_no_secret(f"shipper test {hook.name} stderr", err)
    assert len(endpoint.requests) == len(hooks)
    assert any("~" in r and "%7e" not in r.lower() for r in endpoint.requests)


async def test_check_never_shows_a_url_put_under_a_wrong_key(
    tmp_path: Path, endpoint: EchoEndpoint
) -> None:
    env = environment(endpoint, tmp_path)
    good = write_config(tmp_path, HOOKS)
    code, out, err = await run_cli("check", "-c", str(good), env=env)
    assert code == 0, err.decode()
    assert_no_secret("check", out + err)
    good.write_text(good.read_text() + WRONG_KEY)
    code, out, err = await run_cli("check", "-c", str(good), env=env)
    assert code == 2
    assert f'channels.stray.min_severity: unknown severity "${{{STRAY_VAR}}}"' in err.decode()
    assert_no_secret("check of a config with a URL under min_severity", out + err)


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_run_never_shows_an_echoed_secret(
    tmp_path: Path, endpoint: EchoEndpoint, log_format: str
) -> None:
    port = free_port()
    metrics = f'[metrics]\nlisten = "127.0.0.1:{port}"\nunhealthy_after = "1h"\n'
    config = write_config(tmp_path, HOOKS)
    config.write_text(config.read_text() + metrics)
    events = b"".join(
        orjson.dumps({"action": "login.password_failed", "severity": "high", "seq": i}) + b"\n"
        for i in range(3)
    )
    (tmp_path / "audit.jsonl").write_bytes(events)
    proc, seen = await start_run(
        config, environment(endpoint, tmp_path), "--log-format", log_format
    )
    watch = StderrWatch(proc, seen)
    leaks = Leaks()
    try:
        health = await poll_health(
            f"http://127.0.0.1:{port}/healthz", [h.name for h in HOOKS], leaks
        )
        for hook in HOOKS:
            assert f"answered {hook.status}" in health["channels"][hook.name]["reason"]
        await poll_dead_letters(tmp_path / "state", {h.name for h in HOOKS if h.status == 400})
        _, scraped = await get(f"http://127.0.0.1:{port}/metrics")
        leaks.check("/metrics", scraped)
        # A reload whose config puts a new URL under a wrong key: refused, saying why, not the URL.
        config.write_text(config.read_text() + WRONG_KEY)
        proc.send_signal(signal.SIGHUP)
        await watch.wait_for(b"reload refused")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    err = await watch.finish()
    leaks.check(f"stderr ({log_format})", err)
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            leaks.check(str(path.relative_to(tmp_path)), path.read_bytes())
    assert not leaks.found, leaks.found
    assert b"dead-lettered" in err
    # The refused reload names the key and quotes the value as written (JSON escapes its quotes).
    written = f'unknown severity "${{{STRAY_VAR}}}"'
    assert written.encode() in err.replace(b'\\"', b'"'), err.decode()


async def poll_health(url: str, failing: list[str], leaks: Leaks, deadline: float = 20) -> Any:
    """``/healthz`` once every channel in ``failing`` has a reason; each body is checked."""
    async with asyncio.timeout(deadline):
        while True:
            _, body = await get(url)
            leaks.check("/healthz", body)
            health = orjson.loads(body)
            if all(health["channels"].get(n, {}).get("reason") for n in failing):
                return health
            await asyncio.sleep(0.05)


def dead_letters(state: Path) -> list[dict[str, Any]]:
    records = []
    for path in state.rglob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a record being written
    return records


async def poll_dead_letters(state: Path, channels: set[str], deadline: float = 20) -> None:
    """Return once each of ``channels`` dead-lettered something, its reason the answer."""
    async with asyncio.timeout(deadline):
        while True:
            if channels <= {r.get("channel") for r in dead_letters(state)}:
                break
            await asyncio.sleep(0.05)
    for record in dead_letters(state):
        assert "answered 400" in record["reason"], record


async def test_check_quotes_a_bad_value_as_the_toml_wrote_it(
    tmp_path: Path, endpoint: EchoEndpoint
) -> None:
    config = write_config(tmp_path, HOOKS[:1], extra="give_up_after = true\nbatch_max = [1, 2]")
    code, _, err = await run_cli("check", "-c", str(config), env=environment(endpoint, tmp_path))
    assert code == 2
    text = err.decode()
    assert "delivery.give_up_after: true is not a duration" in text, text
    assert "delivery.batch_max: must be a positive whole number, got [1, 2]" in text, text
    assert "True" not in text
