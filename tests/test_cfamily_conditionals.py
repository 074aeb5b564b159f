"""Preprocessor branches: one branch of each chain is parsed, as a compiler would see it."""

from __future__ import annotations

import pytest

from pipeline.extract.cfamily.conditionals import select_branches
from pipeline.extract.cfamily.extractor import extract_c, extract_cpp

# The shape of c10/core/TensorImpl.h: an export macro between ``struct`` and the name, and a
# conditional inside a member declaration.
TENSOR_IMPL = """\
#pragma once
#ifdef C10_DISABLE_TENSORIMPL_EXTENSIBILITY
#define TENSORIMPL_MAYBE_VIRTUAL
#else
#define TENSORIMPL_MAYBE_VIRTUAL virtual
#endif

namespace c10 {

struct C10_API TensorImpl : public c10::intrusive_ptr_target {
  TensorImpl() = delete;
#ifdef DEBUG
  virtual
#else
  TENSORIMPL_MAYBE_VIRTUAL
#endif
  bool has_storage() const;

  template <typename T>
  T to() const = delete;
  int64_t dim() const;
  friend bool operator==(const TensorImpl& a, const TensorImpl& b);
};

namespace detail {
int helper();
} // namespace detail
} // namespace c10
"""


def _names(code: str) -> list[tuple[str, str]]:
    return [(s.kind, s.name) for s in extract_cpp(code).symbols]


def test_a_conditional_inside_a_member_keeps_the_class_and_its_scope() -> None:
    extraction = extract_cpp(TENSOR_IMPL)
    names = [(s.kind, s.name) for s in extraction.symbols]
    assert names == [
        ("macro", "TENSORIMPL_MAYBE_VIRTUAL"),
        ("macro", "TENSORIMPL_MAYBE_VIRTUAL"),
        ("namespace", "c10"),
        ("struct", "c10::TensorImpl"),
        ("method", "c10::TensorImpl::TensorImpl"),
        ("method", "c10::TensorImpl::has_storage"),
        ("method", "c10::TensorImpl::to"),
        ("method", "c10::TensorImpl::dim"),
        ("function", "c10::operator=="),
        ("namespace", "c10::detail"),
        ("function", "c10::detail::helper"),
    ]
    signatures = {s.name: s.signature for s in extraction.symbols}
    assert signatures["c10::TensorImpl::has_storage"] == "bool has_storage() const"
    assert signatures["c10::TensorImpl::TensorImpl"] == "TensorImpl() = delete"
    assert signatures["c10::TensorImpl::to"] == "template <typename T> T to() const = delete"
    assert not any("#" in s.signature for s in extraction.symbols if s.kind != "macro")
    assert extraction.notes == ()


def test_branches_are_chosen_as_an_unconfigured_compiler_would() -> None:
    code = (
        "#if defined(_WIN32) || defined(__APPLE__)\nint windows_or_mac();\n"
        "#elif __cplusplus >= 201402L\nint modern();\n#else\nint old();\n#endif\n"
        "#ifndef C10_MOBILE\nint full();\n#else\nint mobile();\n#endif\n"
        "#define LEVEL 2\n#if LEVEL > 1 && !defined(NDEBUG_X)\nint level_two();\n#endif\n"
        "#if 0\nint dead();\n#endif\n"
        "#ifdef __CUDACC__\nint cuda_only();\n#endif\n"  # a lone block: kept, it only adds
    )
    assert [name for kind, name in _names(code) if kind == "function"] == [
        "modern", "full", "level_two", "cuda_only",
    ]


def test_directives_of_unchosen_branches_are_still_extracted() -> None:
    code = (
        "#ifdef _WIN32\n#include <windows.h>\n#define SEP '\\\\'\nint w();\n"
        "#else\n#include <unistd.h>\n#define SEP '/'\n#endif\n"
    )
    extraction = extract_c(code)
    assert [(i.module, i.line) for i in extraction.imports] == [("windows.h", 2), ("unistd.h", 6)]
    assert [(s.kind, s.name, s.line) for s in extraction.symbols] == [
        ("macro", "SEP", 3), ("macro", "SEP", 7),
    ]


def test_blanking_keeps_offsets_lines_and_comments() -> None:
    source = (
        b"#ifndef GUARD_H\n#define GUARD_H\n/* #if 1 in a comment */\n"
        b"#if FOO\nint a;\n#else\nint b;\n#endif\n#endif\n"
    )
    selected = select_branches(source)
    assert len(selected) == len(source)
    assert selected.count(b"\n") == source.count(b"\n")
    assert b"GUARD_H" not in selected  # the include guard is not a macro of the file
    assert b"/* #if 1 in a comment */" in selected
    assert b"int a;" not in selected and b"int b;" in selected
    assert b"#" not in selected.replace(b"/* #if 1 in a comment */", b"")


def test_an_include_guard_keeps_the_overview_below_it() -> None:
    code = "#ifndef A_H\n#define A_H\n// Adds numbers.\nint add(int, int);\n#endif\n"
    extraction = extract_cpp(code)
    assert extraction.overview == "Adds numbers."
    assert [s.kind for s in extraction.symbols] == ["function"]


def test_unbalanced_and_odd_conditions_never_fail() -> None:
    for code in ("#endif\nint a();\n", "#if (\nint a();\n#endif\n", "#if 1/0\nint a();\n#endif\n",
                 "#else\nint a();\n", "#if X(\nint a();\n"):
        selected = select_branches(code.encode())
        assert len(selected) == len(code)


def test_header_accelerator_code_is_a_performance_note() -> None:
    code = (
        "#include <hip/hip_runtime.h>\n#include <c10/cuda/CUDAStream.h>\n#include <vector>\n"
        "C10_LAUNCH_BOUNDS_1(128)\n__global__ void k(float* x) {}\n"
        "__host__ __device__ inline int add(int a, int b) { return a + b; }\n"
        "struct P {\n  C10_HOST_DEVICE int f() const { return 1; }\n"
        "  // __device__ in a comment\n  int g();\n};\n"
    )
    notes = [(f.label, f.line, f.detail) for f in extract_cpp(code).findings
             if f.area == "performance"]
    assert notes == [
        ("HIP include", 1, "`#include <hip/hip_runtime.h>` (HIP API)"),
        ("CUDA include", 2, "`#include <c10/cuda/CUDAStream.h>` (CUDA API)"),
        ("CUDA kernel", 5, "`k` is a `__global__` kernel"),
        ("Launch bounds", 5, "`k` declares `C10_LAUNCH_BOUNDS_1(128)`"),
        ("CUDA device code", 6, "`add` is `__host__` `__device__` code"),
        ("CUDA device code", 8, "`P::f` is `C10_HOST_DEVICE` code"),
    ]


def test_nested_unchosen_branches_are_blanked_in_one_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each unchosen ``#if`` blanks its region up to its own ``#endif``; nested ones nest
    their regions. Blanked one by one, the innermost text was blanked once per level
    (20,000 nested ``#if A`` lines held a build for minutes); their union is blanked once,
    to the same bytes."""
    from pipeline.extract.cfamily import conditionals

    depth = 300
    source = b"#if A\n" * depth + b"int x;\n#include <kept.h>\n" + b"#endif\n" * depth
    passed: list[int] = []
    blank = conditionals._blank

    def counting(masked: bytearray, text: bytes, start: int, end: int) -> None:
        passed.append(end - start)
        blank(masked, text, start, end)

    monkeypatch.setattr(conditionals, "_blank", counting)
    out = select_branches(source)
    assert sum(passed) <= len(source)
    assert out.count(b"\n") == source.count(b"\n")
    assert b"int x" not in out and b"#include <kept.h>" in out
    assert out.replace(b"#include <kept.h>", b"").strip() == b""


def test_a_condition_nested_too_deep_leaves_the_rest_of_the_file_read() -> None:
    """A ``#if`` nested deeper than the evaluator goes (100 parentheses) is a condition of
    unknown value; it raised out of the extractor, and the file lost all its structure."""
    for depth in (3, 100, 50_000):
        source = "#if " + "(" * depth + "A" + ")" * depth + "\nint f();\n#endif\n"
        found = extract_cpp(source + "int g(int a) { return a; }\n")
        assert not found.notes, (depth, found.notes)
        assert [s.name for s in found.symbols] == ["f", "g"], depth


def test_condition_arithmetic_is_the_preprocessors() -> None:
    """64-bit two's complement values and division truncated toward zero, as a compiler
    evaluates ``#if``: a product past 64 bits wraps, where it grew without bound."""
    from pipeline.extract.cfamily.conditionals import _Evaluator

    for expression, value in [("7 / -2", -3), ("-7 / 2", -3), ("-7 % 2", -1),
                              ("7 % -2", 1), ("(1 << 62) * 4", 0),
                              ("0x7fffffffffffffff + 1", -(1 << 63)),
                              ("99999999999999999 / 3", 33333333333333333)]:
        assert _Evaluator(expression, {}).run() == (value, False), expression
    assert select_branches(b"#if (1 << 62) * 4\nint x;\n#endif\n").strip() == b""
