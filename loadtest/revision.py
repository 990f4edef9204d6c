"""The revisions a load test compares: the working tree, and `--baseline REV` as a git
worktree under artifacts/loadtest/baseline-<shortrev> (made once, then reused).

A system under test runs `python -m server.cli` from its tree's directory with
that tree first on PYTHONPATH, so it imports that tree's `server` and
`streaming` packages (the runner, k6 driver and fixtures stay the current
ones). `probe` checks this with the same interpreter, directory and
environment, and reads the endpointing silence the server will use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.server import REPO_ROOT

WORKTREES = REPO_ROOT / "artifacts" / "loadtest"

PROBE = """
import json, server, streaming
from server.config import Settings
found = {"server": server.__file__, "streaming": streaming.__file__, "endpointing_ms": Settings().endpointing_ms}
print(json.dumps(found))
"""


@dataclass(frozen=True)
class Tree:
    role: str
    """current or baseline"""
    commit: str
    """short commit; `-dirty` where server/ or streaming/ differ from it"""
    root: Path

    @property
    def label(self) -> str:
        return f"{self.role} {self.commit}"


def git(*args: str, cwd: Path = REPO_ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def current() -> Tree:
    dirty = git("status", "--porcelain", "--", "server", "streaming")
    return Tree("current", git("rev-parse", "--short", "HEAD") + ("-dirty" if dirty else ""), REPO_ROOT)


def baseline(rev: str, under: Path = WORKTREES) -> Tree:
    """A detached worktree of `rev`, reused when it is already there at that commit and clean."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    short = git("rev-parse", "--short", commit)
    root = under / f"baseline-{short}"
    if not root.exists():
        under.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "--detach", str(root), commit)
    elif git("rev-parse", "HEAD", cwd=root) != commit or git("status", "--porcelain", cwd=root):
        raise SystemExit(f"{root} is not a clean worktree of {commit}: remove it (git worktree remove --force)")
    return Tree("baseline", short, root.resolve())


def environment(tree: Tree) -> dict[str, str]:
    """What a server process of `tree` gets on top of this process's environment."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(tree.root) + (os.pathsep + path if path else "")}


def probe(tree: Tree, env: dict[str, str]) -> dict[str, Any]:
    """Where a server process of `tree` imports its packages from, and its endpointing silence."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tree.root,
        env={**os.environ, **environment(tree), **env},
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        raise SystemExit(f"{tree.label}: cannot import its server in {tree.root}:\n{completed.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    for package in ("server", "streaming"):
        if Path(found[package]).resolve() != (tree.root / package / "__init__.py").resolve():
            raise SystemExit(f"{tree.label}: {package} imported from {found[package]}, not from {tree.root}")
    return found
