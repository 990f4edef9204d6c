"""The tree is the architecture: subpackages of server/ import each other in
one direction only, and each third-party library has its one adapter."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = {
    "redis": {"server.jobs.redis_streams", "server.calls.redis_hub", "server.jobs.redis_async"},
    "aioboto3": {"server.archive.s3"},
    "botocore": {"server.archive.s3"},
    "aiobotocore": set(),
    "faster_whisper": {"server.transcribe.whisper", "server.transcribe.short_window"},
    "ctranslate2": {"server.transcribe.whisper"},
    "magic": {"server.uploads.sniff"},
    "av": {"server.uploads.decode"},
    "uvicorn": {"server.http.serving"},
    "httpx": {"server.webhooks", "server.webhook_security"},
}
"""Library -> the only modules that may import it (lazily or not)."""


def modules() -> dict[str, ast.Module]:
    found = {}
    for package in ("server", "streaming"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def unit(module: str) -> str:
    """server.<subpackage> for modules inside one, the module itself at the top, the package otherwise."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "server" else parts[0]


def test_subpackages_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, tree in modules().items():
        for target in imported(tree):
            if target.split(".")[0] in ("server", "streaming") and unit(target) != unit(name):
                graph[unit(name)].add(unit(target))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start])

    cycles = sorted(a for a in list(graph) if reaches(a, a, {a}))
    assert cycles == [], {a: sorted(graph[a]) for a in cycles}
    assert not graph["streaming"] - {"streaming"}, "the core imports nothing of the shell"


def test_each_library_is_imported_by_its_adapter_only() -> None:
    for name, tree in modules().items():
        for target in imported(tree):
            library = target.split(".")[0]
            if library in ADAPTERS:
                assert name in ADAPTERS[library], f"{name} imports {library}: only {sorted(ADAPTERS[library])} may"
