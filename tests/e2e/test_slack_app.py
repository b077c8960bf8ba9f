"""The ``slack_app`` kind through the real CLI against a fake Slack Web API on 127.0.0.1.

Issue 13's "done when": two shipper channels share one bot token, one naming
its Slack channel ``#name``, one by ID, and each event lands in the right
Slack channel, while a channel the app was not invited to dead-letters with
the fix (``/invite``) and the others keep delivering; a deploy approval
request and its approval, with a restart (and a ``kill -9``) between them,
form one thread whose first message shows the approval; the token never
appears in any output, dead letter, state file or metric. Plus ``shipper
check`` (shapes only, offline) and ``shipper test`` (says when the app is not
in the channel).
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.e2e.cli import (
    clean_env,
    free_port,
    run_async,
    shipper,
    start_run,
    start_watched,
    stop_watched,
)
from tests.integration.fake_slack_api import (
    TOKEN,
    FakeChannel,
    FakeSlackApi,
    Scripted,
)
from tests.support.files import append
from tests.support.waiting import get, poll_until

SECURITY, INFRA, OUTSIDE, APPROVALS = "C0SECURITY1", "C0INFRA0001", "C0OUTSIDE01", "C0APPROVAL1"


def slack_channels() -> list[FakeChannel]:
    # More channels than one page holds, so "#security" is found on a later page.
    filler = [FakeChannel(f"C0FILLER{i:03d}", f"team-{i}") for i in range(7)]
    return [
        *filler,
        FakeChannel(INFRA, "infrastructure"),
        FakeChannel("C0OLDSEC001", "security", is_archived=True),
        FakeChannel(SECURITY, "security"),
        FakeChannel(OUTSIDE, "outside", is_member=False),
        FakeChannel(APPROVALS, "deploy-approvals"),
    ]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(slack_channels()) as fake:
        yield fake


def env(slack: FakeSlackApi, state: Path) -> dict[str, str]:
    return clean_env({"SLACK_BOT_TOKEN": TOKEN, "SLACK_API": slack.url}, state=state)


def write_config(
    tmp_path: Path, channels: str, *, log: Path | None = None, extra: str = ""
) -> Path:
    source = f'path = "{log}"\nstart_at = "beginning"\n' if log is not None else ""
    config = tmp_path / "shipper.toml"
    config.write_text(f"""
[source]
{source}state_dir = "{tmp_path / "state"}"
[delivery]
retry_initial = "50ms"
retry_max = "200ms"
drain_timeout = "10s"
{extra}
{channels}
""")
    return config


def app_channel(name: str, channel: str, actions: str, more: str = "") -> str:
    return f"""
[channels.{name}]
kind = "slack_app"
token = "${{SLACK_BOT_TOKEN}}"
channel = "{channel}"
api_url = "${{SLACK_API}}"
actions = {actions}
{more}"""


def line(action: str, **fields: object) -> bytes:
    return orjson.dumps({"action": action, "severity": "high", **fields}) + b"\n"


def assert_no_token(*texts: bytes | str) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert TOKEN.encode() not in data
        assert b"FakeBotTokenSecret" not in data


def state_bytes(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file() and p.name != "lock")


SHARED = (
    app_channel("security", "#security", '["login.*"]')
    + app_channel("infra", INFRA, '["deploy.*"]')
    + app_channel("outside", "#outside", '["user.*"]')
)


async def test_two_channels_share_a_token_and_one_not_invited_dead_letters(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(
        line("login.failed", user="mallory", seq=1)
        + line("deploy.start", user="bob", seq=2)
        + line("user.lock", user="eve", seq=3)
    )
    metrics = free_port()
    config = write_config(
        tmp_path, SHARED, log=log, extra=f'[metrics]\nlisten = "127.0.0.1:{metrics}"'
    )
    # Slack's gateway fails once, echoing the request's token: retried, and never shown.
    slack.script("chat.postMessage", Scripted(502, {"error": f"upstream saw Bearer {TOKEN}"}))
    proc, watch = await start_watched(config, env(slack, tmp_path))
    await watch.wait_for(b"/invite @your-app", deadline=20)
    await slack.wait_for(lambda f: len(f.top_level(SECURITY)) == 1 and len(f.top_level(INFRA)) == 1)
    # The not-invited channel's refusal stops nothing: later events still arrive.
    append(log, line("login.succeeded", user="mallory", seq=4), line("deploy.done", seq=5))
    await slack.wait_for(lambda f: len(f.top_level(SECURITY)) == 2 and len(f.top_level(INFRA)) == 2)
    _, body = await get(f"http://127.0.0.1:{metrics}/metrics")
    status, err = await stop_watched(proc, watch)

    assert all("login." in m.shown for m in slack.top_level(SECURITY))
    assert all("deploy." in m.shown for m in slack.top_level(INFRA))
    assert not slack.top_level(OUTSIDE) and not slack.top_level("C0OLDSEC001")
    assert slack.problems == []
    # #security resolved once for both of its posts, over several short pages.
    assert len(slack.calls_to("conversations.list")) >= 3
    assert {c.query["limit"] for c in slack.calls_to("conversations.list")} == {"200"}
    dead = (tmp_path / "state" / "dead-letter" / "outside.jsonl").read_bytes()
    letter = orjson.loads(dead.splitlines()[0])
    assert "not_in_channel" in letter["reason"] and "/invite @your-app" in letter["reason"]
    assert "#outside" in letter["reason"]
    assert status == 3, err.decode()
    assert_no_token(err, body, dead, state_bytes(tmp_path / "state"))
    assert b"upstream saw Bearer" in err, "the gateway's answer was logged, its token scrubbed"


async def test_check_validates_shapes_offline_and_test_says_to_invite(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    config = write_config(tmp_path, SHARED)
    checked = shipper("check", "-c", str(config), env=env(slack, tmp_path))
    assert checked.returncode == 0, checked.stderr.decode()
    assert not slack.calls, "check looks nothing up"
    assert b"channel=#security" in checked.stdout
    assert_no_token(checked.stdout, checked.stderr)

    (tmp_path / "bad").mkdir()
    bad = write_config(
        tmp_path / "bad",
        app_channel("a", "security", '["*"]').replace("${SLACK_BOT_TOKEN}", "${USER_TOKEN}"),
    )
    user_token = "xoxp-123-456-UserTokenSecretValue"
    refused = shipper(
        "check", "-c", str(bad), env={**env(slack, tmp_path), "USER_TOKEN": user_token}
    )
    assert refused.returncode == 2
    assert b"channels.a.token: is not a Slack bot token" in refused.stderr
    assert b"channels.a.channel:" in refused.stderr
    assert b"UserTokenSecretValue" not in refused.stdout + refused.stderr

    code, out, err = await run_async("test", "outside", "-c", str(config), env=env(slack, tmp_path))
    assert code == 1
    assert b"not_in_channel" in out and b"/invite @your-app" in out, out + err
    code, out, err = await run_async(
        "test", "security", "-c", str(config), env=env(slack, tmp_path)
    )
    assert code == 0, out + err
    assert [m.channel for m in slack.messages] == [SECURITY]
    assert_no_token(out, err)


APPROVALS_CHANNEL = app_channel(
    "approvals",
    "#deploy-approvals",
    '["deploy_approval_request.*"]',
    'thread_by = "context.request_id"',
)


def request_line(request_id: str) -> bytes:
    return line(
        "deploy_approval_request.created",
        user="bob@example.com",
        status="pending",
        timestamp="2026-12-01T13:55:00Z",
        context={"request_id": request_id, "service": "payments", "env": "prod"},
    )


def approval_line(request_id: str) -> bytes:
    return line(
        "deploy_approval_request.approved",
        user="alice@example.com",
        status="approved",
        timestamp="2026-12-01T14:02:00Z",
        context={"request_id": request_id},
    )


def assert_one_thread_showing_the_approval(slack: FakeSlackApi) -> None:
    (parent,) = slack.top_level(APPROVALS)
    (reply,) = slack.replies(parent)
    assert "deploy_approval_request.created" in parent.shown
    assert "deploy_approval_request.approved" in reply.shown
    assert parent.updates >= 1
    assert "approved by alice@example.com at 2026-12-01 14:02 UTC" in parent.shown
    assert slack.problems == []


def assert_private(state: Path) -> None:
    assert (state / "kinds" / "slack_app.approvals.threads.sqlite3").is_file()
    for path in (state / "kinds").iterdir():  # its write-ahead log too
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((state / "kinds").stat().st_mode) == 0o700


async def test_an_approval_after_a_restart_joins_its_request_thread(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    config = write_config(tmp_path, APPROVALS_CHANNEL)
    request_id = "req-7f3a" + "é" * 50 + "\u202e" * 3
    first = await run_async(
        "run", "-c", str(config), env=env(slack, tmp_path), stdin=request_line(request_id)
    )
    assert first[0] == 0, first[2].decode()
    assert len(slack.top_level(APPROVALS)) == 1
    second = await run_async(
        "run", "-c", str(config), env=env(slack, tmp_path), stdin=approval_line(request_id)
    )
    assert second[0] == 0, second[2].decode()
    assert_one_thread_showing_the_approval(slack)
    assert_private(tmp_path / "state")
    # An approval whose request shipper never saw is a message of its own, not an error.
    third = await run_async(
        "run", "-c", str(config), env=env(slack, tmp_path), stdin=approval_line("other")
    )
    assert third[0] == 0, third[2].decode()
    assert len(slack.top_level(APPROVALS)) == 2


def threads_saved(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0.1) as db:
            return int(db.execute("SELECT count(*) FROM threads").fetchone()[0])
    except sqlite3.Error:
        return 0


async def test_an_approval_after_kill_9_joins_its_request_thread(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"")
    config = write_config(tmp_path, APPROVALS_CHANNEL, log=log)
    store = tmp_path / "state" / "kinds" / "slack_app.approvals.threads.sqlite3"
    proc, _ = await start_run(config, env(slack, tmp_path))
    append(log, request_line("r-42"))

    async def saved() -> bool:
        return threads_saved(store) == 1

    # Killed as soon as the thread is saved: its acknowledgement may not have been.
    await poll_until(saved, deadline=20, interval=0.01)
    proc.kill()
    await proc.wait()
    proc, watch = await start_watched(config, env(slack, tmp_path))
    append(log, approval_line("r-42"))
    await slack.wait_for(lambda f: any(m.updates for m in f.top_level(APPROVALS)))
    status, err = await stop_watched(proc, watch)
    assert status == 0, err.decode()
    assert_one_thread_showing_the_approval(slack)
    assert_private(tmp_path / "state")


async def test_a_rate_limit_on_the_token_pauses_every_channel_of_it(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    # Retry-After 5: longer than a pause waited out in place, so the other channel reports it.
    slack.script(
        "chat.postMessage",
        Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"}),
    )
    log = tmp_path / "audit.jsonl"
    log.write_bytes(line("deploy.start", seq=1))
    config = write_config(tmp_path, SHARED, log=log)
    proc, watch = await start_watched(config, env(slack, tmp_path))
    await slack.wait_for(lambda f: len(f.calls_to("chat.postMessage")) == 1)
    # Another channel of the same token, inside the pause: it waits without posting.
    append(log, line("login.failed", seq=2))
    await watch.wait_for(b"every channel of this token waits", deadline=20)
    await slack.wait_for(lambda f: len(f.top_level(SECURITY)) == len(f.top_level(INFRA)) == 1)
    status, err = await stop_watched(proc, watch)
    assert status == 0, err.decode()
    assert len(slack.calls_to("chat.postMessage")) == 3, "no post went out into the pause"
    assert_no_token(err)


async def test_an_unknown_name_is_reported_at_start(tmp_path: Path, slack: FakeSlackApi) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"")
    config = write_config(tmp_path, app_channel("typo", "#securty", '["*"]'), log=log)
    proc, watch = await start_watched(config, env(slack, tmp_path))
    await watch.wait_for(b"Slack lists no channel #securty", deadline=20)
    status, err = await stop_watched(proc, watch)
    assert status == 0, err.decode()
    assert b"channel typo: " in err and b"/invite @your-app" in err
    assert b"shipper replay typo" in err
    assert not slack.calls_to("chat.postMessage")
