#!/usr/bin/env python3
"""The cost of redaction per log line, and that it grows linearly with the text.

Registers N webhook URLs (Workflows, Slack and classic Teams shapes, like a
config with N channels) in a ``SecretFilter`` and times ``scrub`` on: a typical
log line, the same line 10x and 100x longer, a line holding a URL echoed in
JSON, and hostile texts (all ``%``, all ``\\u00``, a secret's prefix repeated)
at 1x, 10x and 100x. Prints microseconds per call and nanoseconds per character:
the last column must stay flat as the length grows.

Usage: python bench/redaction.py [CHANNELS]
"""

from __future__ import annotations

import json
import sys
import time

from shipper.ops.logs import SecretFilter


def urls(n: int) -> list[str]:
    out = []
    for i in range(n):
        shape = i % 3
        if shape == 0:
            out.append(
                f"https://prod-{i:02d}.westus.logic.azure.com:443/workflows/{i:032x}/triggers/"
                "manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun"
                f"&sv=1.0&sig=Sig{i}Abc%7eDef%2FGhiJkl"
            )
        elif shape == 1:
            out.append(f"https://hooks.slack.com/services/T{i:08d}/B{i:08d}/xoxSecret{i:016d}")
        else:
            out.append(
                f"https://acme.webhook.office.com/webhookb2/{i:08x}-1111-2222-3333-444455556666"
                f"@7a2b3c4d-aaaa-bbbb-cccc-ddddeeeeffff/IncomingWebhook/{i:032x}/"
                f"9e8d7c6b-1111-2222-3333-444455556666/V2abc{i:030d}"
            )
    return out


def per_call(secrets: SecretFilter, text: str) -> float:
    """Seconds per ``scrub(text)``, the best of five rounds."""
    rounds = max(1, 200_000 // max(len(text), 1))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            secrets.scrub(text)
        best = min(best, (time.perf_counter() - start) / rounds)
    return best


def main(channels: int) -> None:
    configured = urls(channels)
    start = time.perf_counter()
    secrets = SecretFilter(configured)
    built = time.perf_counter() - start
    print(f"{channels} channels: filter built in {built * 1e3:.1f} ms")
    line = (
        "2026-11-30 22:00:00,123 WARNING shipper.delivery.worker: channel security: "
        "attempt 3 failed, "
        "next try in 4s: Slack answered 500: the service had an internal error, retrying"
    )
    texts = {
        "log line": line,
        "URL echoed in JSON": json.dumps({"error": configured[0]}).replace("/", "\\/"),
        "all %": "%" * len(line),
        "all \\u00": "\\u00" * (len(line) // 4),
        "secret prefix": "xoxSecret0000" * (len(line) // 13),
    }
    print(f"{'text':<22}{'chars':>9}{'us/call':>11}{'ns/char':>9}")
    for name, base in texts.items():
        for times in (1, 10, 100):
            text = base * times
            seconds = per_call(secrets, text)
            print(
                f"{name:<22}{len(text):>9}{seconds * 1e6:>11.1f}{seconds * 1e9 / len(text):>9.1f}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
