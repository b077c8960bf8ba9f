"""Rendering Adaptive Cards with Microsoft's own SDK in headless Chromium, for the tests.

Writes a page that loads the ``adaptivecards`` and ``markdown-it`` packages
installed by ``npm ci`` in this folder, renders each card at each width with
``measure.js`` and reads the measurements back from ``chromium --dump-dom``.
No browser is downloaded: Debian's ``chromium`` is used as installed.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
MODULES = HERE / "node_modules"
SCRIPTS = (
    MODULES / "markdown-it" / "dist" / "markdown-it.min.js",
    MODULES / "adaptivecards" / "dist" / "adaptivecards.min.js",
)
# A phone held upright, and a desktop Teams message column.
WIDTHS = (360, 800)
# Chromium takes a few seconds to start on a loaded two-core machine.
TIMEOUT_S = 120
_RESULTS = re.compile(r'<pre id="results">(.*?)</pre>', re.DOTALL)


def chromium() -> str | None:
    """The system Chromium, if there is one."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why the render check cannot run here, or ``None`` when it can."""
    if chromium() is None:
        return "no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"
    absent = [str(path.relative_to(HERE)) for path in SCRIPTS if not path.exists()]
    if absent:
        return f"run `npm ci` in tests/render first ({', '.join(absent)} missing)"
    return None


def _page(folder: Path, cases: list[dict[str, Any]], widths: tuple[int, ...]) -> Path:
    data = folder / "cases.js"
    data.write_text(
        "window.CASES = " + json.dumps(cases) + ";\nwindow.WIDTHS = " + json.dumps(widths) + ";\n",
        "utf-8",
    )
    scripts = [*SCRIPTS, data, HERE / "measure.js"]
    tags = "\n".join(f'<script src="{path.resolve().as_uri()}"></script>' for path in scripts)
    page = folder / "page.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        # Teams' font first; the machine's sans-serif when it is missing.
        "<style>body{margin:0;font-family:'Segoe UI',sans-serif}.host{margin:8px}</style>"
        '</head><body><pre id="results"></pre>\n' + tags + "\n</body></html>",
        "utf-8",
    )
    return page


def _chromium_args(folder: Path) -> list[str]:
    binary = chromium()
    assert binary is not None, missing()
    return [
        binary,
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start.
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--allow-file-access-from-files",
        "--hide-scrollbars",
        f"--user-data-dir={folder / 'profile'}",
        "--virtual-time-budget=20000",
    ]


def render(
    cases: list[dict[str, Any]], folder: Path, widths: tuple[int, ...] = WIDTHS
) -> list[dict[str, Any]]:
    """Each case (``name``, ``card``, ``expected`` texts) measured at each width."""
    page = _page(folder, cases, widths)
    done = subprocess.run(
        [*_chromium_args(folder), "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        env={**os.environ, "HOME": str(folder)},
    )
    found = _RESULTS.search(done.stdout)
    assert found, f"chromium printed no results (exit {done.returncode}): {done.stderr[-2000:]}"
    answer = json.loads(html.unescape(found.group(1)))
    assert answer["ok"], answer.get("error")
    results: list[dict[str, Any]] = answer["results"]
    return results


def screenshot(
    case: dict[str, Any], folder: Path, target: Path, width: int = 480, height: int = 440
) -> None:
    """A PNG of one card as the SDK draws it (for the README; not part of the tests)."""
    page = _page(folder, [case], (width,))
    # measure.js removes what it measured; this page keeps the card on screen.
    keep = page.read_text("utf-8").replace("host.remove();", "")
    shown = folder / "shown.js"
    shown.write_text((HERE / "measure.js").read_text("utf-8").replace("host.remove();", ""))
    keep = keep.replace((HERE / "measure.js").resolve().as_uri(), shown.resolve().as_uri())
    keep = keep.replace('<pre id="results">', '<pre id="results" style="display:none">')
    page.write_text(keep, "utf-8")
    subprocess.run(
        [
            *_chromium_args(folder),
            f"--screenshot={target}",
            f"--window-size={width + 16},{height}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=TIMEOUT_S,
        check=True,
        env={**os.environ, "HOME": str(folder)},
    )
