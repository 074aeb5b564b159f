"""Config: one frozen record from pyproject ``[tool.pipeline]``, doit variables and flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

DEFAULT_INCLUDE = (".github", ".ci", ".circleci", ".devcontainer", ".vscode")

# Role map preset, matched on leading path components, longest prefix first.
DEFAULT_ROLES: dict[str, str] = {
    "torch": "core library",
    "aten": "ATen tensor library",
    "c10": "C10 core abstractions",
    "caffe2": "Caffe2 legacy framework",
    "torchgen": "code generation",
    "functorch": "function transforms",
    "test": "testing infrastructure",
    "tests": "testing infrastructure",
    "testing": "testing infrastructure",
    "tools": "development tools",
    "scripts": "development tools",
    "benchmarks": "benchmarks",
    "benchmark": "benchmarks",
    "docs": "documentation",
    "doc": "documentation",
    "examples": "examples",
    "third_party": "third-party dependencies",
    "cmake": "build system",
    ".github": "continuous integration",
    ".ci": "continuous integration",
    ".circleci": "continuous integration",
    "android": "Android support",
    "ios": "iOS support",
    "pipeline": "core library",
    "templates": "page templates",
    "bench": "benchmarks",
}


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a build depends on besides the files themselves."""

    source: str = "."
    output: str = "output"
    depth: int = 2
    jobs: int = 1
    project: str = ""
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()
    roles: tuple[tuple[str, str], ...] = ()
    max_source_bytes: int = 1_000_000
    max_tests: int = 50
    max_related: int = 100
    templates: str = ""
    cache: str = ""  # shared record cache: a folder or an fsspec URL (pipeline/cache.py)
    cache_mode: str = "read"  # read | write | readwrite | off
    scheduler: str = ""  # Dask scheduler address: extraction runs on its workers

    @property
    def project_name(self) -> str:
        return self.project or Path(self.source).name or "Repository"

    @property
    def role_map(self) -> dict[str, str]:
        roles = dict(DEFAULT_ROLES)
        roles.update(dict(self.roles))
        return roles


_KEYS = {f.name for f in fields(Config)}
CACHE_MODES = ("read", "write", "readwrite", "off")
_INTS = {"depth": 1, "jobs": 1, "max_source_bytes": 1000, "max_tests": 1, "max_related": 1}


def load_pyproject(directory: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """The ``[tool.pipeline]`` table of ``pyproject.toml`` in ``directory`` ({} if none)."""
    path = Path(directory) / "pyproject.toml"
    if not path.is_file():
        return {}
    import tomllib  # only where there is a pyproject.toml: every build starts here

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError("pyproject.toml", f"cannot be parsed: {error}") from None
    table = data.get("tool", {}).get("pipeline", {})
    if not isinstance(table, dict):
        raise ConfigError("tool.pipeline", "must be a table")
    return table


def make_config(*layers: Mapping[str, Any], base: str | os.PathLike[str] = ".") -> Config:
    """Merge value layers (later wins), validate every key, resolve paths against ``base``."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if value is None:
                continue
            if key not in _KEYS:
                raise ConfigError(key, f"unknown key (known: {', '.join(sorted(_KEYS))})")
            merged[key] = _coerce(key, value)
    config = Config(**merged)
    root = Path(base).resolve()
    source = (root / config.source).resolve()
    output = (root / config.output).resolve()
    if not source.is_dir():
        raise ConfigError("source", f"{config.source!r} is not a folder")
    if output == source or source.is_relative_to(output):
        raise ConfigError("output", f"{config.output!r} must not contain the source folder")
    return replace(config, source=str(source), output=str(output))


def _coerce(key: str, value: Any) -> Any:
    if key in _INTS:
        if isinstance(value, float) or (isinstance(value, str) and not value.strip().isdigit()):
            raise ConfigError(key, f"expected a whole number, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(key, f"expected a whole number, got {value!r}") from None
        if isinstance(value, bool) or number < _INTS[key]:
            raise ConfigError(key, f"expected a whole number >= {_INTS[key]}, got {value!r}")
        return number
    if key in ("include", "exclude"):
        if isinstance(value, str):
            value = [part for part in value.split(",") if part]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, "expected a list of strings")
        return tuple(value)
    if key == "roles":
        if isinstance(value, (list, tuple)):
            return tuple(tuple(pair) for pair in value)
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(key, "expected a table of path prefix = role")
        return tuple(sorted(value.items()))
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {value!r}")
    if key == "cache_mode" and value not in CACHE_MODES:
        raise ConfigError(key, f"expected one of {', '.join(CACHE_MODES)}, got {value!r}")
    return value
