"""The README, the docs and the distribution's metadata, read as a newcomer and CI use them.

- Every relative link in the project's Markdown resolves to a file inside the repository (and
  to a heading there, when it names one): the project keeps its contract in its own words,
  in ``docs/``, and links nowhere outside its tree.
- The README opens with the two commands a fresh clone runs: the sample's dry run, which CI
  also runs from the built wheel, and the test command, which is what ``.ci/run`` runs.
- The first screen says what to install (the distribution's name) and which Python it needs.
- ``pyproject.toml`` names the distribution ``audit-shipper`` (the name ``shipper`` on the
  package index is an unrelated project), with the ``shipper`` command and its licence file.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

import shipper
from tests.deploy.files import ROOT

DISTRIBUTION = "audit-shipper"
CI_RUN = ROOT / ".ci" / "run"
README = ROOT / "README.md"
# Markdown the project ships: the README, the docs, and the READMEs beside the code.
MARKDOWN = sorted(
    {
        README,
        ROOT / "CHANGELOG.md",
        ROOT / "bench" / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "deploy").rglob("*.md"),
    }
)
# [text](target) and ![alt](target), and <a href="target">; not inside code spans or blocks.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HREF = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """Markdown without its code blocks and code spans, where a link is only an example."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def links(path: Path) -> list[str]:
    text = prose(path.read_text(encoding="utf-8"))
    return _LINK.findall(text) + _HREF.findall(text)


def slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub's rule)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)


def test_the_markdown_files_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in MARKDOWN}
    assert {"README.md", "docs/README.md", "bench/README.md", "CHANGELOG.md"} <= names
    assert len(names) >= 15


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    problems = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if "shared/" in file_part or not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_document_leans_on_a_text_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for outside in ("../shared", "shared/spec", "spec.md", "style.md", "the spec's", "/work/"):
        assert outside not in text, f"{path.relative_to(ROOT)} mentions {outside!r}"


def test_the_readme_opens_with_the_sample_dry_run_and_the_test_command() -> None:
    text = README.read_text(encoding="utf-8")
    first_section = text.split("\n## ", 1)[0]
    blocks = code_blocks(first_section)
    assert len(blocks) == 2, "the README opens with two commands, before its first section"
    dry_run, tests = (b.strip() for b in blocks)
    assert "\n" not in dry_run and "\n" not in tests, "each is one line to paste"
    # The install steps a fresh clone needs, then the sample's dry run (no webhook).
    install = "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
    assert dry_run.startswith(install)
    assert dry_run.endswith(
        "shipper run -c config.example.toml --dry-run < examples/audit-sample.jsonl"
    )
    assert tests.startswith("python3 -m venv .venv && . .venv/bin/activate && ")


def ci_steps() -> list[str]:
    """.ci/run's commands, one per line, without comments and continuations."""
    text = CI_RUN.read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def same_command(readme: str, ci: str) -> bool:
    """``ci`` runs ``readme`` (CI may add quiet flags and call pip through ``python -m``)."""
    quiet = {"-q", "--quiet"}
    a = [w for w in shlex.split(readme) if w not in quiet]
    b = [w for w in shlex.split(ci) if w not in quiet]
    if b[:3] == ["python", "-m", "pip"]:
        b = ["pip", *b[3:]]
    return a == b


def test_the_readme_test_command_is_what_ci_runs() -> None:
    blocks = code_blocks(README.read_text(encoding="utf-8").split("\n## ", 1)[0])
    steps = [s.strip() for s in blocks[1].strip().split("&&")]
    ci = ci_steps()
    for step in steps:
        assert any(same_command(step, line) for line in ci), f"{step!r} is not in .ci/run"
    # In that order, the test run last.
    at = [next(n for n, line in enumerate(ci) if same_command(step, line)) for step in steps]
    assert at == sorted(at)
    assert same_command(steps[-1], "python -m pytest -q")


def test_ci_runs_the_readme_dry_run_from_the_built_wheel() -> None:
    dry_run = code_blocks(README.read_text(encoding="utf-8"))[0].strip()
    command = dry_run.rsplit(" && ", 1)[1]
    text = CI_RUN.read_text(encoding="utf-8")
    assert f"'{command}'" in text
    for step in ("python -m build", "twine check --strict", ".ci/check_dist.py", ".whl"):
        assert step in text, step


def test_the_first_screen_says_what_to_install_and_which_python() -> None:
    text = README.read_text(encoding="utf-8")
    first_screen = "\n".join(text.splitlines()[:100])
    assert "Python 3.11 or later" in "\n".join(text.splitlines()[:5])
    assert f"pipx install {DISTRIBUTION}" in first_screen
    assert "pipx install ." in first_screen
    words = " ".join(first_screen.split())
    assert f"named **`{DISTRIBUTION}`**; the command it installs is `shipper`" in words
    # A picture of a real message: a Teams card, and a Slack message drawn as text.
    assert "](docs/img/teams-card.png)" in first_screen
    assert "```text\n🚨 login.password_failed" in first_screen


def test_the_distribution_is_audit_shipper_with_the_shipper_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"shipper": "shipper.cli.main:main"}
    assert project["requires-python"] == ">=3.11"
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]


def test_the_licence_is_mit_for_the_shipper_authors() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the shipper authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_the_changelog_has_an_unreleased_section_and_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings[0] == "Unreleased"
    assert shipper.__version__ in headings
    assert re.search(rf"^## \[{re.escape(shipper.__version__)}\] - \d{{4}}-\d\d-\d\d$", text, re.M)
    assert DISTRIBUTION in text.split(f"## [{shipper.__version__}]")[0], "upgrade notes"
