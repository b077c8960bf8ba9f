"""Read the deployment files as the tools that use them would: the systemd unit, the
Dockerfile and its ignore file, the Kubernetes manifests, and the shipped sample configs.

Each reader is deliberately small and strict (a line it cannot place is an error), so a test
that passes has really looked at every line.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
UNIT = SYSTEMD / "shipper.service"
CHECK_UNIT = SYSTEMD / "check-unit"
SYSTEMD_CONFIG = SYSTEMD / "config.toml"
ENV_EXAMPLE = SYSTEMD / "shipper.env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
KUBERNETES = ROOT / "deploy" / "kubernetes"

# ${VAR} and ${VAR:-default}, as the config loader expands them.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def variables_in(config: str) -> set[str]:
    """The environment variables a TOML config's values name (comments do not count)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.update(_VARIABLE.findall(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(tomllib.loads(config))
    return found


# --- systemd --------------------------------------------------------------------------------


def read_unit(path: Path = UNIT) -> dict[str, list[tuple[str, str]]]:
    """A unit file as ``{section: [(key, value), ...]}``; repeated keys keep their order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{path.name}:{number}: continuation lines not expected"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}:{number}: a key before any [section]"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}:{number}: not KEY=VALUE: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    """Every value ``key`` has in ``section``, in order."""
    return [v for k, v in section if k == key]


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """A systemd ``EnvironmentFile``: ``VAR=value`` lines, comments and blank lines."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key.isidentifier(), f"{path.name}: not VAR=value: {line!r}"
        found[key] = value
    return found


# --- Dockerfile -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    name: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON array form of ``ENTRYPOINT``/``CMD``/``VOLUME`` arguments."""
        parsed = json.loads(self.args)
        assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
        return parsed


def read_dockerfile(path: Path = DOCKERFILE) -> list[Instruction]:
    """The instructions of a Dockerfile, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        name, _, args = whole.partition(" ")
        instructions.append(Instruction(name.upper(), " ".join(args.split())))
    assert not pending, f"{path.name}: ends inside a continued line"
    return instructions


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    """The ``ENV KEY=value ...`` settings (the only ENV form this Dockerfile uses)."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.name == "ENV":
            for pair in instruction.args.split():
                key, sep, value = pair.partition("=")
                assert sep, f"ENV {instruction.args!r}: use the KEY=value form"
                env[key] = value
    return env


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative, with ``/``) out of the build context:
    the last matching pattern wins, ``!`` re-includes, a pattern that matches a directory
    covers everything under it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes):
            ignored = not negated
    return ignored


def read_dockerignore(path: Path = DOCKERIGNORE) -> list[str]:
    """The patterns of a ``.dockerignore``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# --- Kubernetes -----------------------------------------------------------------------------


def kubernetes_documents() -> list[dict[str, Any]]:
    """Every YAML document under ``deploy/kubernetes/``."""
    documents: list[dict[str, Any]] = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        with path.open(encoding="utf-8") as stream:
            for document in yaml.safe_load_all(stream):
                if document is not None:
                    assert isinstance(document, dict), f"{path.name}: a document is not a map"
                    documents.append(document)
    return documents


def find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one document of ``kind`` called ``name``."""
    found = [d for d in documents if d.get("kind") == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def embedded_toml(config_map: dict[str, Any], key: str) -> tuple[str, dict[str, Any]]:
    """A config file held in a ConfigMap: its text and its parsed TOML."""
    text = config_map["data"][key]
    assert isinstance(text, str)
    return text, tomllib.loads(text)
