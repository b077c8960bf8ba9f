"""What .ci/run's distribution check asks of the built files: the wheel holds the package, its
typing marker, the licence and the `shipper` command, and nothing of the checkout besides;
the sdist also holds what an operator installs by hand and the docs the README links to.

Usage: python .ci/check_dist.py DIST_DIR (with exactly one wheel and one sdist in it)
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

NAME = "audit_shipper"
WHEEL_MUST = ("shipper/__init__.py", "shipper/py.typed", "shipper/cli/main.py")
SDIST_MUST = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "config.example.toml",
    "examples/audit-sample.jsonl",
    "systemd/shipper.service",
    "systemd/config.toml",
    "systemd/shipper.env.example",
    "deploy/kubernetes/deployment.yaml",
    "docs/README.md",
    "bench/README.md",
    "shipper/__init__.py",
)


def check_wheel(path: Path) -> list[str]:
    problems: list[str] = []
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        problems += [f"wheel: {m} missing" for m in WHEEL_MUST if m not in names]
        if f"{dist_info}/licenses/LICENSE" not in names:
            problems.append("wheel: the LICENSE is not in its metadata")
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
        if "shipper = shipper.cli.main:main" not in entry_points:
            problems.append("wheel: no `shipper` command")
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
        if "Requires-Python: >=3.11" not in metadata:
            problems.append("wheel: Requires-Python is not >=3.11")
        stray = [n for n in names if not n.startswith(("shipper/", dist_info + "/"))]
        problems += [f"wheel: holds {n}, which is not the package" for n in stray]
    return problems


def check_sdist(path: Path) -> list[str]:
    with tarfile.open(path) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        names = {n.removeprefix(top + "/") for n in sdist.getnames()}
    return [f"sdist: {m} missing" for m in SDIST_MUST if m not in names]


def main() -> int:
    dist = Path(sys.argv[1])
    (wheel,) = dist.glob(f"{NAME}-*.whl")
    (sdist,) = dist.glob(f"{NAME}-*.tar.gz")
    problems = check_wheel(wheel) + check_sdist(sdist)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    sys.stdout.write(f"{wheel.name} and {sdist.name}: {'bad' if problems else 'ok'}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
