"""The package's shape: stages import only stages below them, pure parts no I/O, no cycles.

Read from the source with ``ast``, so a new import that breaks the layering fails here
before anyone has to notice it in review. Imports under ``if TYPE_CHECKING:`` are for
annotations only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "shipper"

# The pipeline's stages, lowest first: a module may import its own stage and those below.
STAGES = ("config", "sources", "routing", "spool", "sinks", "delivery", "ops", "run", "cli")
# What every stage may use: errors, the clock, private files in the state directory, and
# logging with its redaction (every stage logs, and a log line must never show a secret).
FOUNDATION = {
    "shipper",
    "shipper.errors",
    "shipper.clock",
    "shipper.durable",
    "shipper.ops.logs",
    "shipper.ops.log_limit",
    "shipper.ops.redaction",
}
# The pure parts: the config model, routing, rendering and reading answers, backoff.
PURE = {
    "shipper.errors",
    "shipper.config.model",
    "shipper.config.values",
    "shipper.config.problems",
    "shipper.config.channels",
    "shipper.config.kinds",
    "shipper.config.channel_files",
    "shipper.config.hints",
    "shipper.config.severity",
    "shipper.config.reload",
    "shipper.sources.lines",
    "shipper.routing.event",
    "shipper.routing.malformed",
    "shipper.routing.storable",
    "shipper.routing.route",
    "shipper.routing.skim",
    "shipper.routing.explain",
    "shipper.routing.schema",
    "shipper.sinks",
    "shipper.sinks.base",
    "shipper.sinks.answers",
    "shipper.sinks.retry_after",
    "shipper.sinks.escape",
    "shipper.sinks.slack",
    "shipper.sinks.slack_blocks",
    "shipper.sinks.slack_app",
    "shipper.sinks.slack_app_answers",
    "shipper.sinks.teams",
    "shipper.sinks.teams_cards",
    "shipper.sinks.teams_schema",
    "shipper.sinks.webhook",
    "shipper.sinks.splunk",
    "shipper.sinks.splunk_answers",
    "shipper.sinks.splunk_settings",
    "shipper.sinks.siem",
    "shipper.sinks.datadog",
    "shipper.sinks.datadog_answers",
    "shipper.sinks.datadog_keys",
    "shipper.sinks.sentinel",
    "shipper.sinks.sentinel_answers",
    "shipper.sinks.summary",
    "shipper.sinks.slack_summary",
    "shipper.sinks.teams_summary",
    "shipper.delivery.backoff",
    "shipper.delivery.flood",
    "shipper.delivery.flood_sim",
    "shipper.delivery.flood_json",
    "shipper.delivery.flood_groups",
    "shipper.delivery.retries",
    "shipper.ops.redaction",
}
IO_MODULES = {"os", "socket", "asyncio", "aiohttp", "aiofiles", "subprocess", "shutil", "time"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The modules ``path`` imports (shipper's own spelled out to the module), at run time."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt], depth: int) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse, depth)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    if module_path(candidate) is not None:
                        found.add(candidate)
            if top_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    visit(inner, depth + 1)
                elif isinstance(inner, list):
                    for handler in inner:
                        if isinstance(handler, ast.ExceptHandler):
                            visit(handler.body, depth + 1)

    visit(ast.parse(path.read_text()).body, 0)
    return found


def module_path(name: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(name: str) -> int | None:
    """The stage's rank; ``None`` for the foundation and the package's entry points."""
    parts = name.split(".")
    if name in FOUNDATION or len(parts) < 2 or parts[1] not in STAGES:
        return None
    return STAGES.index(parts[1])


def own(names: set[str]) -> set[str]:
    return {n for n in names if n == "shipper" or n.startswith("shipper.")}


def test_every_module_sits_in_a_stage_or_the_foundation() -> None:
    loose = {
        name
        for name in MODULES
        if name.count(".") == 1 and name not in FOUNDATION and name.split(".")[1] not in STAGES
    }
    assert loose <= {"shipper.__main__"}, f"modules outside every stage: {sorted(loose)}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_stage_imports_a_higher_one(name: str) -> None:
    rank = stage_of(name)
    for target in own(imports(MODULES[name], top_level_only=False)):
        if name == "shipper.__main__" or target not in MODULES:
            continue
        target_rank = stage_of(target)
        if rank is None:  # the foundation stands on nothing but itself
            assert target in FOUNDATION, f"{name} (foundation) imports {target}"
        elif target_rank is not None:
            assert target_rank <= rank, (
                f"{name} ({STAGES[rank]}) imports {target} ({STAGES[target_rank]}), a higher stage"
            )


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_parts_import_no_io(name: str) -> None:
    found = imports(MODULES[name], top_level_only=False)
    assert own(found) - {"shipper"} <= PURE, f"{name} imports {sorted(own(found) - PURE)}"
    assert not {n.split(".")[0] for n in found} & IO_MODULES, f"{name} imports I/O: {found}"


def test_no_import_cycle() -> None:
    graph = {
        name: own(imports(path, top_level_only=True)) & set(MODULES) - {name}
        for name, path in MODULES.items()
    }
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = [*path[path.index(node) :], node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for target in sorted(graph[node]):
            visit(target, [*path, node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
