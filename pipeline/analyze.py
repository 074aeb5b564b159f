"""Pure rules over one record and its path: purpose, role, test status and commands."""

from __future__ import annotations

import posixpath

from pipeline import layout
from pipeline.mdtext import plural
from pipeline.pytestconf import Configs, is_test_path
from pipeline.records import Extraction, FileRecord

TEST_DIRS = frozenset({"test", "tests", "testing"})
EXAMPLE_DIRS = frozenset({"examples", "example", "benchmarks", "benchmark", "bench"})
TOOL_DIRS = frozenset({"tools", "scripts", "tool", "script", "bin"})
DOC_DIRS = frozenset({"docs", "doc"})
CONFIG_LANGUAGES = frozenset({"yaml", "json", "toml", "ini"})
BUILD_LANGUAGES = frozenset({"cmake", "make", "docker", "bazel"})


def components(path: str) -> list[str]:
    return path.split("/")[:-1]


def is_test_file(path: str, language: str, configs: Configs) -> bool:
    """A test file as its runner finds them: pytest's ``python_files`` (configured in the
    tree, else ``test_*.py`` and ``*_test.py``; never ``conftest.py``), gtest's names."""
    if language == "python":
        # a helper module that defines ``def test_only_eval_fn(model, data)`` is no test file
        return is_test_path(path, configs)
    if language in ("c", "cpp", "cuda"):
        stem = posixpath.basename(path).rsplit(".", 1)[0]
        return stem.endswith("_test") or stem.startswith("test_")
    return False


def layer_role(path: str, layer: int, roles: dict[str, str], project: str,
               mirror: str) -> tuple[str, str]:
    """(prefix, role) of a file or folder (``path/``) of a layer: by the role map for the
    sources, one generated role for the pages of every later layer."""
    if layer >= 2:
        return layout.layer_root(mirror, layer), layout.generated_role(layer)
    return role(path, roles, project)


def role(path: str, roles: dict[str, str], project: str) -> tuple[str, str]:
    """(matched prefix, role) for a path by its leading components, longest prefix first."""
    parts = components(path) if not path.endswith("/") else path.rstrip("/").split("/")
    for size in range(len(parts), 0, -1):
        prefix = "/".join(parts[:size])
        if prefix in roles:
            return prefix, roles[prefix]
    # a single component anywhere (``a/tests/b.py``) still names its role
    for part in reversed(parts):
        if part in roles and part in _COMPONENT_ROLES:
            return part, roles[part]
    return "", f"part of the {project} project infrastructure"


_COMPONENT_ROLES = frozenset({"test", "tests", "testing", "docs", "doc", "benchmarks",
                              "examples", "tools", "scripts"})


def purpose(record: FileRecord, type_name: str, project: str, is_test: bool) -> list[str]:
    """The File Purpose sentences, each chosen from path components and parsed facts."""
    path = record.path
    extraction = record.extraction
    parts = set(components(path))
    name = posixpath.basename(path)
    sentences: list[str] = []
    if record.layer >= 2:
        sentences.append(
            f"This is one of the {layout.generated_role(record.layer)} of the {project} "
            "documentation, itself documented here as part of the **documentation**."
        )
        return sentences
    if parts & TEST_DIRS:
        sentences.append("This file is part of the **testing infrastructure**.")
    if parts & DOC_DIRS:
        sentences.append("This file is part of the **documentation**.")
    if parts & EXAMPLE_DIRS:
        sentences.append("This file belongs to the **examples and benchmarks**.")
    if parts & TOOL_DIRS:
        sentences.append("This file is a **development tool or script**.")
    if name in ("__init__.py", "__init__.pyi"):
        sentences.append("It is a **package initialisation** file.")
    if extraction.language in CONFIG_LANGUAGES:
        sentences.append("It is a **configuration** file.")
    if extraction.language in BUILD_LANGUAGES:
        sentences.append("It is part of the **build system**.")
    if name == "conftest.py":
        sentences.append("It is a pytest **conftest**: fixtures and hooks for the tests of "
                         "its folder and below.")
    if is_test:
        if extraction.tests:
            count = len(extraction.tests)
            sentences.append(
                f"This is a **test file**: it contains unit tests ({count} "
                f"test{'s' if count != 1 else ''} defined)."
            )
        else:
            sentences.append("This is a **test file** by its name.")
    if extraction.has_main:
        sentences.append(
            "It can be executed as a standalone script "
            '(it has an `if __name__ == "__main__":` block).'
        )
    if not sentences:
        sentences.append(f"This is a {type_name} that is part of the {project} project.")
    counts = definition_counts(extraction)
    if counts:
        sentences.append(f"It defines {counts}.")
    return sentences


def definition_counts(extraction: Extraction) -> str:
    """``3 classes, 12 functions and 27 methods`` from the symbols, or ''."""
    order = ("namespace", "class", "struct", "enum", "function", "method", "kernel", "macro",
             "constant", "variable", "key", "heading", "target")
    counts = {kind: 0 for kind in order}
    for symbol in extraction.symbols:
        if symbol.kind in counts:
            counts[symbol.kind] += 1
    parts = [plural(counts[kind], kind, kind + "es" if kind.endswith("s") else "")
             for kind in order if counts[kind]]
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def test_commands(path: str, extraction: Extraction) -> list[str]:
    """The exact commands that run a test file; never ``python`` for a non-Python file."""
    if extraction.language != "python":
        return []
    commands = [f"pytest {shell_quote(path)}"]
    if extraction.has_main:
        commands.append(f"python {shell_quote(path)}")
    return commands


def shell_quote(path: str) -> str:
    safe = all(c.isalnum() or c in "/._-+" for c in path)
    return path if safe else "'" + path.replace("'", "'\\''") + "'"
