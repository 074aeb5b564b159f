"""Rules of the C, C++ and CUDA extractor, one behaviour per test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.extract import extract, tsnodes
from pipeline.extract.cfamily import extractor as cfamily
from pipeline.extract.cfamily.extractor import extract_c, extract_cpp, extract_cuda
from pipeline.extract.cfamily.mask import mask_annotations
from pipeline.records import Extraction, Finding, Symbol


def _symbols(extraction: Extraction, kind: str | None = None) -> list[tuple[str, str, int]]:
    return [(s.kind, s.name, s.line) for s in extraction.symbols if kind in (None, s.kind)]


def _symbol(extraction: Extraction, name: str) -> Symbol:
    matches = [s for s in extraction.symbols if s.name == name]
    assert len(matches) == 1, [s.name for s in extraction.symbols]
    return matches[0]


def _labels(extraction: Extraction) -> list[tuple[str, int]]:
    return [(f.label, f.line) for f in extraction.findings]


def _finding(extraction: Extraction, label: str) -> list[Finding]:
    return [f for f in extraction.findings if f.label == label]


# -- namespaces -------------------------------------------------------------------------------


def test_namespaces_are_qualified_as_written() -> None:
    code = (
        "namespace at { namespace native {\n"
        "int f();\n"
        "}}\n"
        "namespace at::cuda {\n"
        "int g();\n"
        "}\n"
        "namespace at { namespace {\n"
        "int h();\n"
        "} }\n"
        "inline namespace v1 { int k(); }\n"
    )
    assert _symbols(extract_cpp(code)) == [
        ("namespace", "at", 1),
        ("namespace", "at::native", 1),
        ("function", "at::native::f", 2),
        ("namespace", "at::cuda", 4),
        ("function", "at::cuda::g", 5),
        ("namespace", "at", 7),
        ("namespace", "at::(anonymous)", 7),
        ("function", "at::(anonymous)::h", 8),
        ("namespace", "v1", 10),
        ("function", "v1::k", 10),
    ]


def test_namespace_end_line_is_its_closing_brace() -> None:
    extraction = extract_cpp("namespace a {\n\nint f();\n\n}  // namespace a\n")
    assert _symbol(extraction, "a").end_line == 5


# -- classes and members ----------------------------------------------------------------------


def test_class_head_bases_and_summary() -> None:
    code = (
        "namespace geo {\n"
        "// Unrelated note.\n"
        "\n"
        "/// A shape with a name.\n"
        "/// More about it.\n"
        "template <typename T>\n"
        "class Named : public Base<T>, private Mixin {\n"
        " public:\n"
        "  T name() const;\n"
        "};\n"
        "}\n"
    )
    named = _symbol(extract_cpp(code), "geo::Named")
    assert named.kind == "class"
    assert (named.line, named.end_line) == (6, 10)
    assert named.signature == "template <typename T> class Named : public Base<T>, private Mixin"
    assert named.bases == ("Base<T>", "Mixin")
    assert named.summary == "A shape with a name."


def test_forward_declarations_are_not_symbols() -> None:
    extraction = extract_cpp("class Fwd;\nstruct S;\ntemplate <class T> class Later;\n")
    assert _symbols(extraction) == []


def test_members_nested_types_and_enums() -> None:
    code = (
        "struct Outer {\n"
        "  Outer();\n"
        "  ~Outer();\n"
        "  int get() const { return 1; }\n"
        "  struct Inner { void run(); };\n"
        "  enum class Mode : int { A, B };\n"
        "  int field;\n"
        "  static constexpr int kSize = 3;\n"
        "  C10_DISABLE_COPY_AND_ASSIGN(Outer);\n"
        "};\n"
    )
    assert _symbols(extract_cpp(code)) == [
        ("struct", "Outer", 1),
        ("method", "Outer::Outer", 2),
        ("method", "Outer::~Outer", 3),
        ("method", "Outer::get", 4),
        ("struct", "Outer::Inner", 5),
        ("method", "Outer::Inner::run", 5),
        ("enum", "Outer::Mode", 6),
    ]


def test_out_of_line_definitions_are_methods_of_their_class() -> None:
    code = (
        "namespace at { namespace native {\n"
        "class Foo { void bar(int x); };\n"
        "void Foo::bar(int x) {}\n"
        "template <typename T> void Holder<T>::reset() {}\n"
        "Widget::Widget() {}\n"
        "Widget::~Widget() {}\n"
        "void detail::helper() {}\n"
        "namespace detail {}\n"
        "}}\n"
    )
    extraction = extract_cpp(code)
    assert _symbols(extraction, "method") == [
        ("method", "at::native::Foo::bar", 2),
        ("method", "at::native::Foo::bar", 3),
        ("method", "at::native::Holder::reset", 4),
        ("method", "at::native::Widget::Widget", 5),
        ("method", "at::native::Widget::~Widget", 6),
    ]
    # ``detail`` is lower-case: by convention a namespace, so a function.
    assert ("function", "at::native::detail::helper", 7) in _symbols(extraction)
    assert _symbol(extraction, "at::native::Holder::reset").signature == (
        "template <typename T> void Holder<T>::reset()"
    )


def test_overloads_are_kept_separately() -> None:
    extraction = extract_cpp("int f(int);\nint f(double);\nint f(int) { return 0; }\n")
    assert _symbols(extraction) == [
        ("function", "f", 1),
        ("function", "f", 2),
        ("function", "f", 3),
    ]


def test_signature_is_the_head_on_one_line_without_body_or_comments() -> None:
    code = (
        "template <typename T,\n"
        "          typename U>\n"
        "inline T convert(const U& value,  // the input\n"
        "                 int base = 10) noexcept {\n"
        "  return T(value);\n"
        "}\n"
        "struct P { P(int x) : x_(x) {} int x_; };\n"
    )
    extraction = extract_cpp(code)
    convert = _symbol(extraction, "convert")
    assert convert.signature == (
        "template <typename T, typename U> inline T convert(const U& value, int base = 10) noexcept"
    )
    assert (convert.line, convert.end_line) == (1, 6)
    assert _symbol(extraction, "P::P").signature == "P(int x)"


def test_conversion_and_operator_names() -> None:
    code = (
        "struct A {\n"
        "  explicit operator bool() const;\n"
        "  A& operator+=(const A&);\n"
        "  friend bool operator==(const A&, const A&) { return true; }\n"
        "  friend void swap(A&, A&);\n"
        "};\n"
        "A::operator bool() const { return true; }\n"
    )
    extraction = extract_cpp(code)
    assert _symbols(extraction) == [
        ("struct", "A", 1),
        ("method", "A::operator bool", 2),
        ("method", "A::operator+=", 3),
        ("function", "operator==", 4),
        ("function", "swap", 5),  # a friend declaration declares a namespace function
        ("method", "A::operator bool", 7),
    ]
    assert [f.line for f in _finding(extraction, "Operator overloading")] == [2, 3, 4, 7]


def test_typedef_struct_takes_its_alias() -> None:
    point = _symbol(extract_c("typedef struct {\n  int x;\n} point_t;\n"), "point_t")
    assert (point.kind, point.line, point.end_line) == ("struct", 1, 3)
    assert point.signature == "typedef struct { … } point_t"


def test_function_pointers_and_macro_invocations_are_not_functions() -> None:
    code = (
        "void (*callback)(int);\n"
        "typedef void handler_t(int);\n"
        "TORCH_LIBRARY_IMPL(aten, CPU, m) {\n"
        "  m.impl(\"add\", add);\n"
        "}\n"
    )
    # the typedef is a type alias, not a function
    assert _symbols(extract_cpp(code)) == [("alias", "handler_t", 2)]


def test_type_aliases_and_deduction_guides_are_listed() -> None:
    code = (
        "namespace at {\n"
        "using IntArrayRef = c10::ArrayRef<int64_t>;\n"
        "template <class T> using Vec = std::vector<T>;\n"
        "typedef void (*fn_t)(int);\n"
        "struct S { using value_type = int; };\n"
        "template <class T> Box(T) -> Box<T>;\n"
        "using std::swap;\n"
        "}\n"
    )
    extraction = extract_cpp(code)
    assert _symbols(extraction) == [
        ("namespace", "at", 1),
        ("alias", "at::IntArrayRef", 2),
        ("alias", "at::Vec", 3),
        ("alias", "at::fn_t", 4),
        ("struct", "at::S", 5),
        ("alias", "at::S::value_type", 5),
        ("guide", "at::Box", 6),
    ]
    assert _symbol(extraction, "at::Vec").signature == (
        "template <class T> using Vec = std::vector<T>")
    assert _symbol(extraction, "at::Box").signature == "template <class T> Box(T) -> Box<T>"


def test_constants_are_namespace_scope_constexpr_only() -> None:
    code = (
        "namespace c {\n"
        "constexpr int kLimit = 64;\n"
        "const int kOther = 1;\n"
        "int counter = 0;\n"
        "template <class T> constexpr bool is_small_v = sizeof(T) < 8;\n"
        "struct S { static constexpr int kInner = 2; };\n"
        "}\n"
    )
    extraction = extract_cpp(code)
    assert _symbols(extraction, "constant") == [
        ("constant", "c::kLimit", 2),
        ("constant", "c::is_small_v", 5),
    ]
    limit = _symbol(extraction, "c::kLimit")
    assert (limit.signature, limit.value) == ("constexpr int kLimit", "64")


def test_extern_c_blocks_and_preprocessor_branches_are_walked() -> None:
    code = (
        '#ifdef __cplusplus\nextern "C" {\n#endif\n'
        "int c_api(void);\n"
        "#if defined(FAST)\nint fast(void);\n#else\nint slow(void);\n#endif\n"
        '#ifdef __cplusplus\n}\n#endif\n'
    )
    names = [name for _, name, _ in _symbols(extract_cpp(code))]
    # one branch of a chain, as a compiler without FAST defined sees it
    assert names == ["c_api", "slow"]


# -- CUDA -------------------------------------------------------------------------------------


def test_cuda_kernels_launches_shared_memory_and_atomics() -> None:
    code = (
        "template <typename T>\n"
        "__global__ void k(T* out) {\n"
        "  __shared__ T tile[32];\n"
        "  atomicAdd(out, tile[0]);\n"
        "}\n"
        "__device__ int helper(int x) { return x; }\n"
        "void go(float* p) {\n"
        "  k<float><<<4, 32>>>(p);\n"
        "}\n"
    )
    extraction = extract_cuda(code)
    assert extraction.language == "cuda"
    kernel = _symbol(extraction, "k")
    assert (kernel.kind, kernel.line, kernel.end_line) == ("kernel", 1, 5)
    assert kernel.signature == "template <typename T> __global__ void k(T* out)"
    assert _symbol(extraction, "helper").kind == "function"
    assert ("CUDA kernel", 1) in _labels(extraction)
    assert ("Shared memory", 3) in _labels(extraction)
    assert ("Atomics", 4) in _labels(extraction)
    launch = _finding(extraction, "Kernel launch")
    assert [(f.line, f.detail) for f in launch] == [(8, "`k<float><<<4, 32>>>` launch")]
    assert all(f.area == "performance" for f in extraction.findings if f.label != "Template")


def test_cpp_header_with_cuda_code_is_parsed_with_the_cuda_grammar() -> None:
    code = (
        "__global__ void fill(float* p) { p[0] = 1; }\n"
        "void run(float* p) { fill<<<1, 1>>>(p); }\n"
    )
    extraction = extract_cpp(code)
    assert extraction.language == "cpp"
    assert _symbol(extraction, "fill").kind == "kernel"
    assert ("Kernel launch", 2) in _labels(extraction)
    assert extraction.notes == ()


# -- macros and includes ----------------------------------------------------------------------


def test_macros_with_signature_value_and_include_guard_skipped() -> None:
    long_value = " + ".join(f"x{i}" for i in range(60))
    code = (
        "#ifndef LIB_H\n#define LIB_H\n"
        "#define ANSWER 42\n"
        "#define ADD(a, b) \\\n  ((a) + (b))\n"
        f"#define LONG {long_value}\n"
        "void f() {\n#define LOCAL 1\n}\n"
        "#endif\n"
    )
    extraction = extract_cpp(code)
    macros = {s.name: s for s in extraction.symbols if s.kind == "macro"}
    assert sorted(macros) == ["ADD", "ANSWER", "LOCAL", "LONG"]
    assert (macros["ANSWER"].signature, macros["ANSWER"].value) == ("#define ANSWER", "42")
    add = macros["ADD"]
    assert (add.signature, add.value, add.line, add.end_line) == (
        "#define ADD(a, b)", "((a) + (b))", 4, 5
    )
    assert len(macros["LONG"].value) == 120 and macros["LONG"].value.endswith("…")
    assert macros["LOCAL"].line == 8


def test_includes_of_both_kinds_with_lines_including_conditional_ones() -> None:
    code = (
        '#include "c10/core/Device.h"\n'
        "#include <vector>\n"
        "#if defined(USE_CUDA)\n#  include <cuda.h>\n#endif\n"
        "#include SOME_HEADER\n"
        '// #include "commented/out.h"\n'
    )
    imports = [(i.kind, i.module, i.line) for i in extract_cpp(code).imports]
    assert imports == [
        ("include", "c10/core/Device.h", 1),
        ("system-include", "vector", 2),
        ("system-include", "cuda.h", 4),
    ]


# -- findings ---------------------------------------------------------------------------------


def test_security_calls_only_as_real_calls() -> None:
    code = (
        "/* system(\"rm\") in a comment */\n"
        'const char* s = "popen(cmd)";\n'
        "#define RUN(c) system(c)\n"
        "void f(Runner r, char* d, const char* s2) {\n"
        "  system(\"ls\");\n"
        "  std::system(\"ls\");\n"
        "  r.system(\"x\");\n"
        "  FILE* p = popen(\"ls\", \"r\");\n"
        "  strcpy(d, s2); strcat(d, s2); sprintf(d, \"%s\", s2);\n"
        "  gets(d); vsprintf(d, s2, list);\n"
        "  strncpy(d, s2, 4); snprintf(d, 4, \"%s\", s2);\n"
        "  auto text = vsprintf(format, args);  // fmt's, returns a string\n"
        "}\n"
    )
    extraction = extract_cpp(code)
    assert [(f.label, f.line) for f in extraction.findings if f.area == "security"] == [
        ("Shell command", 5),
        ("Shell command", 6),
        ("Shell command", 8),
        ("Unbounded string copy", 9),
        ("Unbounded string copy", 9),
        ("Unbounded string copy", 9),
        ("Unbounded string copy", 10),
        ("Unbounded string copy", 10),
    ]
    assert _finding(extraction, "Shell command")[1].detail.startswith("`std::system()`")


def test_threads_and_atomics() -> None:
    code = (
        "#include <thread>\n"
        "std::atomic<int> hits{0};\n"
        "void work() {\n"
        "  std::thread t(run);\n"
        "  pthread_create(&id, nullptr, body, nullptr);\n"
        "#pragma omp parallel for\n"
        "  for (int i = 0; i < 4; ++i) {}\n"
        "  at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {});\n"
        "  auto f = std::async(job);\n"
        "  // std::thread in a comment, atomicAdd(x) too\n"
        "}\n"
    )
    assert _labels(extract_cpp(code)) == [
        ("Atomics", 2),
        ("Threads", 4),
        ("Threads", 5),
        ("Threads", 6),
        ("Threads", 8),
        ("Threads", 9),
    ]


def test_patterns_destructor_virtual_interface_template() -> None:
    code = (
        "class Iface {\n"
        " public:\n"
        "  virtual ~Iface() = default;\n"
        "  virtual void a() = 0;\n"
        "  virtual int b() const = 0;\n"
        "  virtual void c() {}\n"
        "};\n"
        "template <class T> struct Box { T v; };\n"
        "Guard::~Guard() { release(); }\n"
    )
    extraction = extract_cpp(code)
    assert _labels(extraction) == [
        ("RAII/destructor", 1),
        ("Virtual interface", 1),
        ("Template", 8),
        ("RAII/destructor", 9),
    ]
    assert _finding(extraction, "Virtual interface")[0].detail == (
        "`Iface` declares pure virtual methods: `a`, `b`"
    )


# -- overview and summaries -------------------------------------------------------------------


def test_overview_skips_license_and_keeps_paragraphs() -> None:
    code = (
        "/*\n"
        " * Copyright (c) 2020 Someone. All rights reserved.\n"
        " *\n"
        " * Licensed under the Apache License, Version 2.0 (the \"License\");\n"
        " * you may not use this file except in compliance with the License.\n"
        " */\n"
        "#pragma once\n"
        "//===----------------------------------------------------------===//\n"
        "// Fast kernels for the thing.\n"
        "//\n"
        "// Second paragraph,\n"
        "// two lines.\n"
        "int x;\n"
        "// Not part of the overview.\n"
    )
    assert extract_cpp(code).overview == (
        "Fast kernels for the thing.\n\nSecond paragraph,\ntwo lines."
    )


def test_overview_looks_inside_a_wrapping_conditional() -> None:
    code = (
        "#ifndef LIB_H\n#define LIB_H\n\n/** The library.\n *\n * Details.\n */\n"
        "int x;\n#endif\n"
    )
    assert extract_cpp(code).overview == "The library.\n\nDetails."
    assert extract_cpp("int x;\n// late comment\n").overview == ""


def test_summary_is_the_comment_directly_above() -> None:
    code = (
        "int a;  // trailing note about a\n"
        "int f();\n"
        "// NOLINTNEXTLINE(some-check)\n"
        "/// \\brief Does g.\n"
        "int g();\n"
        "// Separated by a blank line.\n"
        "\n"
        "int h();\n"
        "/*implicit*/ int k();\n"
    )
    extraction = extract_cpp(code)
    summaries = {s.name: s.summary for s in extraction.symbols}
    assert summaries == {"f": "", "g": "Does g.", "h": "", "k": ""}


# -- robustness -------------------------------------------------------------------------------


def test_export_macros_are_masked_for_the_parser_but_kept_in_signatures() -> None:
    code = (
        "#define TORCH_API __attribute__((visibility(\"default\")))\n"
        "namespace at {\n"
        "class TORCH_API Tensor : public TensorBase {\n"
        " public:\n"
        "  C10_DEPRECATED_MESSAGE(\"use other()\")\n"
        "  int old() const;\n"
        "  C10_HOST_DEVICE inline int size() const { return 0; }\n"
        "  void fill(const Options& options = {}) const;\n"
        "};\n"
        "TORCH_API Tensor add(const Tensor& a, const Tensor& b);\n"
        "}\n"
    )
    extraction = extract_cpp(code)
    assert extraction.notes == ()
    assert _symbol(extraction, "TORCH_API").kind == "macro"
    tensor = _symbol(extraction, "at::Tensor")
    assert tensor.signature == "class TORCH_API Tensor : public TensorBase"
    assert _symbol(extraction, "at::add").signature == (
        "TORCH_API Tensor add(const Tensor& a, const Tensor& b)"
    )
    assert _symbol(extraction, "at::Tensor::size").signature == (
        "C10_HOST_DEVICE inline int size() const"
    )
    assert _symbol(extraction, "at::Tensor::fill").signature == (
        "void fill(const Options& options = {}) const"
    )
    assert [name for _, name, _ in _symbols(extraction, "method")] == [
        "at::Tensor::old", "at::Tensor::size", "at::Tensor::fill"
    ]


def test_masking_keeps_length_and_lines() -> None:
    source = (
        b"struct TORCH_API S {\n"
        b"  C10_DEPRECATED_MESSAGE(\"a;\\\"(\")\n"
        b"  int f(X x = {});\n"
        b"};\n"
    )
    masked = mask_annotations(source)
    assert len(masked) == len(source)
    assert masked.count(b"\n") == source.count(b"\n")
    assert b"TORCH_API" not in masked and b"DEPRECATED" not in masked
    assert mask_annotations(b"#define TORCH_API x\n") == b"#define TORCH_API x\n"


def test_partial_parse_is_reported_and_the_rest_extracted() -> None:
    code = (
        "int before();\n"
        "DECLARE_DISPATCH(fn_t, stub)\n"
        "int middle();\n"
        "TORCH_ARG(int64_t, size) = 1;\n"
        "int after();\n"
    )
    extraction = extract_cpp(code)
    assert [name for _, name, _ in _symbols(extraction)] == ["before", "middle", "after"]
    assert len(extraction.notes) == 1
    note = extraction.notes[0]
    assert (note.kind, note.line) == ("partial-parse", 2)
    assert note.message == (
        "the C++ parser could not parse 2 regions (first at line 2); "
        "symbols outside them were extracted"
    )


def test_non_ascii_text_keeps_byte_offsets_apart_from_lines() -> None:
    code = (
        "// Ünïcödé überall — 日本語のコメント\n"
        "namespace ns {\n"
        "/// Grüße.\n"
        'inline const char* greet(const char* who = "wörld") { return who; }\n'
        "struct Ärger { int ö; };\n"
        "}\n"
    )
    extraction = extract_cpp(code)
    greet = _symbol(extraction, "ns::greet")
    assert greet.line == 4
    assert greet.signature == 'inline const char* greet(const char* who = "wörld")'
    assert greet.summary == "Grüße."
    assert _symbol(extraction, "ns::Ärger").line == 5
    assert extraction.overview == "Ünïcödé überall — 日本語のコメント"


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "}}}}", "#if\n", "\x00\x01binary", "class {", "\ud800 lone surrogate",
     "template <" * 200, "namespace a {" * 300, "#define X \\\n"],
)
def test_never_raises_on_odd_input(text: str) -> None:
    for extractor in (extract_c, extract_cpp, extract_cuda):
        extraction = extractor(text)
        assert all(note.kind != "internal-error" for note in extraction.notes)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}();:<>#*/ \n\"'\\ab_Tü0=~,&")), max_size=200))
def test_never_raises_on_random_text(text: str) -> None:
    extraction = extract_cpp(text)
    assert all(note.kind != "internal-error" for note in extraction.notes)
    assert extraction == extract_cpp(text)


def test_internal_errors_become_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cfamily, "_parse", broken)
    extraction = extract("int x;", "c")  # the dispatcher catches, for every extractor
    assert extraction.language == "c"
    assert [(n.kind, n.message) for n in extraction.notes] == [
        ("internal-error", "the c extractor failed: RuntimeError: boom")
    ]


def test_parsers_are_created_once_per_grammar() -> None:
    extract_cpp("int x;")
    created = tsnodes.parser.cache_info().misses
    extract_cpp("int y;")
    assert tsnodes.parser.cache_info().misses == created
    assert tsnodes.parser("cpp") is tsnodes.parser("cpp")
    assert tsnodes.parser("cpp") is not tsnodes.parser("cuda")


def test_missing_grammar_is_a_note_not_an_extractor_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing C grammar is said as for build files (``parser-missing``), by the
    dispatcher, so the extraction is kept and not retried as a bug on every build."""
    monkeypatch.setitem(tsnodes.GRAMMARS, "c", "no_such_grammar_module")
    tsnodes.parser.cache_clear()
    tsnodes.language.cache_clear()
    try:
        found = extract("int x;\n", "c")
    finally:
        tsnodes.parser.cache_clear()
        tsnodes.language.cache_clear()
    assert [n.kind for n in found.notes] == ["parser-missing"]
    assert "no_such_grammar_module" in found.notes[0].message


def test_friends_with_attributes_are_namespace_functions() -> None:
    code = (
        "namespace strong {\ntemplate <class T>\nclass equality {\n  [[nodiscard]]\n"
        "  friend constexpr bool operator==(const T& a, const T& b) noexcept { return true; }\n"
        "  [[nodiscard]] friend constexpr T& value_of(T& t) noexcept { return t; }\n};\n}\n"
    )
    extraction = extract_cpp(code)
    assert _symbols(extraction, "function") == [
        ("function", "strong::operator==", 5), ("function", "strong::value_of", 6),
    ]
    assert extraction.notes == ()
