"""loadtest.revision.probe: a server process of a tree imports that tree's packages (cwd and PYTHONPATH),
which is what lets `loadtest.run --baseline REV` start a previous commit's server."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest import revision
from testbed.server import REPO_ROOT


def fake_tree(root: Path, endpointing_ms: int) -> revision.Tree:
    for package in ("server", "streaming"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "server" / "config.py").write_text(
        f"class Settings:\n    def __init__(self) -> None:\n        self.endpointing_ms = {endpointing_ms}\n"
    )
    return revision.Tree("baseline", "0000000", root)


def test_a_tree_imports_its_own_packages_and_reads_its_endpointing(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "old", 321)
    found = revision.probe(tree, {})
    assert Path(found["server"]) == tree.root / "server" / "__init__.py"
    assert Path(found["streaming"]) == tree.root / "streaming" / "__init__.py"
    assert found["endpointing_ms"] == 321


def test_the_current_tree_is_the_repository_with_the_servers_endpointing(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = revision.current()
    assert tree.root == REPO_ROOT and tree.label.startswith("current ")
    found = revision.probe(tree, {"STREAMSCRIBE_ENDPOINTING_MS": "450"})
    assert Path(found["server"]) == REPO_ROOT / "server" / "__init__.py"
    assert found["endpointing_ms"] == 450


def test_a_tree_without_its_own_packages_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"server imported from .*, not from"):
        revision.probe(revision.Tree("baseline", "0000000", tmp_path), {})


def test_a_tree_whose_server_cannot_start_is_refused(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "broken", 400)
    (tree.root / "server" / "config.py").write_text("raise ImportError('half a checkout')\n")
    with pytest.raises(SystemExit, match="half a checkout"):
        revision.probe(tree, {})


def test_the_environment_puts_the_tree_first_on_pythonpath(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    tree = revision.Tree("baseline", "0000000", tmp_path)
    assert revision.environment(tree) == {"PYTHONPATH": f"{tmp_path}:/elsewhere"}
    monkeypatch.delenv("PYTHONPATH")
    assert revision.environment(tree) == {"PYTHONPATH": str(tmp_path)}
