"""File types: the display name, extractor language and fence language of a path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileType:
    """How a file is named on its page, which extractor reads it, how its source is fenced."""

    name: str
    language: str  # extractor key
    fence: str  # info string of the Original Source fence ("" for none)


_BY_SUFFIX: dict[str, FileType] = {
    ".py": FileType("Python Source Code", "python", "python"),
    ".pyi": FileType("Python Type Stub", "python", "python"),
    ".pyx": FileType("Cython Source Code", "text", "cython"),
    ".pxd": FileType("Cython Source Code", "text", "cython"),
    ".c": FileType("C Source Code", "c", "c"),
    ".cpp": FileType("C++ Source Code", "cpp", "cpp"),
    ".cc": FileType("C++ Source Code", "cpp", "cpp"),
    ".cxx": FileType("C++ Source Code", "cpp", "cpp"),
    ".h": FileType("C/C++ Header File", "cpp", "cpp"),
    ".hpp": FileType("C++ Header File", "cpp", "cpp"),
    ".hh": FileType("C++ Header File", "cpp", "cpp"),
    ".hxx": FileType("C++ Header File", "cpp", "cpp"),
    ".cu": FileType("CUDA Source Code", "cuda", "cuda"),
    ".cuh": FileType("CUDA Header File", "cuda", "cuda"),
    ".md": FileType("Markdown Documentation", "markdown", "markdown"),
    ".rst": FileType("reStructuredText Documentation", "rst", "rst"),
    ".txt": FileType("Text File", "text", "text"),
    ".yaml": FileType("YAML Configuration", "yaml", "yaml"),
    ".yml": FileType("YAML Configuration", "yaml", "yaml"),
    ".json": FileType("JSON Configuration", "json", "json"),
    ".toml": FileType("TOML Configuration", "toml", "toml"),
    ".ini": FileType("INI Configuration", "ini", "ini"),
    ".cfg": FileType("INI Configuration", "ini", "ini"),
    ".sh": FileType("Shell Script", "shell", "bash"),
    ".bash": FileType("Shell Script", "shell", "bash"),
    ".cmake": FileType("CMake Build Script", "cmake", "cmake"),
    ".bzl": FileType("Bazel Build File", "bazel", "python"),
    ".bazel": FileType("Bazel Build File", "bazel", "python"),
    ".js": FileType("JavaScript Source Code", "text", "javascript"),
    ".ts": FileType("TypeScript Source Code", "text", "typescript"),
    ".java": FileType("Java Source Code", "text", "java"),
    ".proto": FileType("Protocol Buffers Definition", "text", "protobuf"),
}

_BY_NAME: dict[str, FileType] = {
    "CMakeLists.txt": FileType("CMake Build Script", "cmake", "cmake"),
    "BUILD": FileType("Bazel Build File", "bazel", "python"),
    "WORKSPACE": FileType("Bazel Build File", "bazel", "python"),
    "BUILD.bazel": FileType("Bazel Build File", "bazel", "python"),
    "WORKSPACE.bazel": FileType("Bazel Build File", "bazel", "python"),
    "Makefile": FileType("Makefile", "make", "makefile"),
    "GNUmakefile": FileType("Makefile", "make", "makefile"),
    "makefile": FileType("Makefile", "make", "makefile"),
    "Dockerfile": FileType("Dockerfile", "docker", "dockerfile"),
}

# Generated pages of an earlier layer are documented as markdown.
PAGE = FileType("Markdown Documentation", "markdown", "markdown")


def suffix_of(name: str) -> str:
    """The extension of a file name as docs/format.md §3 prints it ("" for none;
    ``.bashrc`` has none)."""
    stem = name.lstrip(".")
    dot = stem.rfind(".")
    return stem[dot:] if dot > 0 else ""


def file_type(name: str) -> FileType:
    """The type of a file from its name alone (content decides only text versus binary)."""
    known = _BY_NAME.get(name)
    if known is not None:
        return known
    if name.startswith("Dockerfile"):
        return _BY_NAME["Dockerfile"]
    suffix = suffix_of(name)
    known = _BY_SUFFIX.get(suffix.lower())
    if known is not None:
        return known
    if suffix:
        return FileType(f"Text File ({suffix})", "text", "text")
    return FileType("Text File", "text", "text")
