"""Build and shell files (shell, CMake, Make, Dockerfile, Bazel/Starlark)."""

from pipeline.extract.build.extractor import (
    extract_bazel,
    extract_cmake,
    extract_docker,
    extract_make,
    extract_shell,
)

__all__ = ["extract_bazel", "extract_cmake", "extract_docker", "extract_make", "extract_shell"]
