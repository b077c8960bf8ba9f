"""Draw the README's Adaptive Card screenshot: ``python -m tests.render.screenshot PATH``.

One hostile alert (a right-to-left override in the actor, a zero width space
in a host, a long token, markup) rendered by Microsoft's ``adaptivecards``
package in headless Chromium, as ``tests/render`` checks it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks.teams_cards import render_adaptivecard
from tests.render.render import missing, screenshot

ALERT = Alert(
    line=42,
    raw={},
    action="user.update_roles",
    severity=Severity.CRITICAL,
    actor="bob\u202e(admin)",
    status="applied",
    timestamp="2024-05-01T09:31:02Z",
    facts=(
        ("target.user", "mallory"),
        ("host", "pay\u200bpal.com"),
        ("reason", "[approved](https://evil.example) **now**"),
        ("token", "eyJhbGciOiJIUzI1NiJ9" * 8),
    ),
)


def main(target: str) -> int:
    reason = missing()
    if reason:
        print(f"cannot draw: {reason}", file=sys.stderr)
        return 1
    channel = ChannelConfig(
        name="sec", kind="teams", url=None, label="Security", teams_format="adaptivecard"
    )
    card = render_adaptivecard(channel, [ALERT]).payload["attachments"][0]["content"]
    with tempfile.TemporaryDirectory() as folder:
        screenshot({"name": "readme", "card": card, "expected": []}, Path(folder), Path(target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
