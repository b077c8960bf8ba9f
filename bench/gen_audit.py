#!/usr/bin/env python3
"""Write an access gateway's JSON-lines audit log: the benchmarks' corpus, made from a clone.

Usage: python bench/gen_audit.py N [--seed S] [--match-rate R] > audit.jsonl

Most events are routine reads (listing apps, reading logs) at debug or info;
about R of them (default 0.02) are the ones ``config.example.toml`` alerts on:
failed logins, MFA and role changes, API tokens, deploy approvals, releases.
Each has a timestamp a few milliseconds after the one before, a request id, a
client address and agent, a user or an API token, and a small ``context``
object, so a line is about 280 bytes, as a real gateway writes them. The same
seed gives the same file.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta

import orjson

# (action, severity, status) that the example routing takes.
WANTED = (
    ("login.oauth_failed", "medium", "failed"),
    ("login.user_not_authorized", "high", "denied"),
    ("login.complete", "info", "success"),
    ("mfa_method.enroll", "low", "success"),
    ("mfa_method.delete", "high", "success"),
    ("user.update_roles", "high", "success"),
    ("user.lock", "medium", "success"),
    ("api_token.create", "medium", "success"),
    ("api_token.delete", "low", "success"),
    ("deploy_approval_request.create", "info", "pending"),
    ("deploy_approval_request.approved", "medium", "success"),
    ("deploy_approval_request.rejected", "high", "denied"),
    ("release.promote", "high", "success"),
)
# (action, severity) of the traffic no channel takes.
ROUTINE = (
    ("app.list", "debug"),
    ("app.get", "debug"),
    ("process.list", "debug"),
    ("env.read", "info"),
    ("logs.stream", "info"),
    ("build.list", "debug"),
    ("release.list", "debug"),
    ("instance.list", "debug"),
    ("rack.ps", "debug"),
    ("http.request", "debug"),
)
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
APPS = ("billing", "checkout", "search", "auth", "web", "worker", "reports")
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64)",
    "convox-cli/3.19.2",
    "rack-gateway/2.4.0 (cli)",
    "curl/8.5.0",
    "Go-http-client/2.0",
)


def make_event(rng: random.Random, when: datetime, match_rate: float) -> dict[str, object]:
    """One audit event at ``when``."""
    if rng.random() < match_rate:
        action, severity, status = rng.choice(WANTED)
    else:
        action, severity = rng.choice(ROUTINE)
        status = "error" if rng.random() < 0.01 else "success"
    event: dict[str, object] = {
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "action": action,
        "severity": severity,
        "status": status,
        "request_id": f"{rng.getrandbits(64):016x}",
        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "user_agent": rng.choice(AGENTS),
        "context": {
            "app": rng.choice(APPS),
            "rack": rng.choice(("prod", "staging")),
            "duration_ms": rng.randrange(1, 2500),
        },
    }
    # Four in five requests come from a person, the rest from an API token.
    if rng.random() < 0.8:
        event["user"] = f"{rng.choice(PEOPLE)}@example.com"
    else:
        event["api_token"] = f"tok_{rng.getrandbits(40):010x}"
    return event


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("lines", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--match-rate", type=float, default=0.02)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    when = datetime(2026, 11, 1, tzinfo=UTC)
    write = sys.stdout.buffer.write
    for _ in range(args.lines):
        when += timedelta(milliseconds=rng.randrange(1, 50))
        write(orjson.dumps(make_event(rng, when, args.match_rate)) + b"\n")


if __name__ == "__main__":
    main()
