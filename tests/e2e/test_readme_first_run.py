"""The README's commands, run as a newcomer pastes them: by a shell, with the installed
``shipper`` on PATH, in an empty directory (the clone's root for the opening dry run).

- The opening command's dry run prints messages for the shipped sample without a webhook.
- "First run, in two minutes": the first block prints the Slack message the README draws,
  without a webhook; the second, with its URL pointed at a fake Slack on 127.0.0.1, checks the
  config, posts the test message and delivers the event.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import orjson

from tests.e2e.cli import ROOT, SHIPPER, clean_env
from tests.integration.fake_webhook import FakeWebhook, Reply

README = ROOT / "README.md"
SLACK = "/services/T0README/B0README/readmeSECRETpath"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)


def shell_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment (no webhook variables, state under ``tmp_path``) whose PATH finds
    the installed ``shipper`` first, as after ``pipx install``."""
    env = clean_env(state=tmp_path / "state")
    env.pop("SLACK_WEBHOOK_URL", None)
    env["PATH"] = f"{SHIPPER.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


async def run_shell(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """``bash -e`` on ``script``; its status, stdout and stderr (the fake keeps answering)."""
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-e",
        "-c",
        script,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out, err


def messages(stdout: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stdout.splitlines() if line.strip()]


async def test_the_opening_dry_run_prints_messages_for_the_sample(tmp_path: Path) -> None:
    command = sh_blocks(README.read_text(encoding="utf-8"))[0].strip().rsplit(" && ", 1)[1]
    assert command.startswith("shipper run ")
    status, out, err = await run_shell(command, ROOT, shell_env(tmp_path))
    assert status == 0, err.decode()
    posted = messages(out)
    assert posted, "the sample's dry run printed no message"
    assert {"security", "infrastructure"} <= {m["channel"] for m in posted}
    assert not (tmp_path / "state").exists(), "a dry run writes no state"


def draw_slack(payload: dict[str, object]) -> list[list[str]]:
    """A Slack Block Kit message as rows of cells, the way Slack lays it out and the README
    draws it: a section's fields two by two, each field's name above its value."""
    rows: list[list[str]] = []
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    for block in blocks:
        if block["type"] == "header":
            rows.append([block["text"]["text"].replace(":rotating_light:", "🚨")])
        elif block["type"] == "section" and "fields" in block:
            fields = [f["text"].partition("\n") for f in block["fields"]]
            for pair in (fields[n : n + 2] for n in range(0, len(fields), 2)):
                rows.append([name.strip("*") for name, _, _ in pair])
                rows.append([value for _, _, value in pair])
        elif block["type"] == "section":
            rows += [[line] for line in block["text"]["text"].splitlines()]
        elif block["type"] == "context":
            rows += [[e["text"] for e in block["elements"]]]
    return rows


async def test_the_first_run_dry_run_prints_the_message_the_readme_draws(tmp_path: Path) -> None:
    offline = sh_blocks(section("First run"))[0]
    status, out, err = await run_shell(offline, tmp_path, shell_env(tmp_path))
    assert status == 0, err.decode()
    (message,) = messages(out)
    assert message["channel"] == "security"
    payload = message["payload"]
    assert isinstance(payload, dict)

    drawn = re.search(r"^```text\n(.*?)^```", section("What a message looks like"), re.M | re.S)
    assert drawn is not None
    drawn_rows = [re.split(r"\s{2,}", line.strip()) for line in drawn.group(1).splitlines()]
    assert drawn_rows == draw_slack(payload)


async def test_the_first_run_posts_the_test_message_and_the_event(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    fake.default = Reply(200, "ok")  # what Slack answers
    offline, online = sh_blocks(section("First run"))
    env = shell_env(tmp_path)
    status, _, err = await run_shell(offline, tmp_path, env)
    assert status == 0, err.decode()

    export = re.compile(r"^export SLACK_WEBHOOK_URL=.*$", re.M)
    assert export.search(online), "the second block sets the webhook URL"
    online = export.sub(f"export SLACK_WEBHOOK_URL='{fake.to(SLACK)}'", online)
    status, out, err = await run_shell(online, tmp_path, env)
    assert status == 0, err.decode()

    posted = [r.json for r in fake.requests_to(SLACK)]
    assert len(posted) == 2, posted
    assert "shipper.test" in orjson.dumps(posted[0]).decode()
    assert posted[1]["text"] == "high: login.password_failed by alice@example.com (denied)"
    assert b"readmeSECRETpath" not in out + err
