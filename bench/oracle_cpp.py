"""Recall of the C/C++ extractor against libclang over the headers of a PyTorch wheel.

    python bench/oracle_cpp.py [--wheel WHEEL] [--workdir DIR] [--prefix c10/ --prefix ATen/core/]
                               [--misses N] [--json FILE]

libclang (``clang.cindex``, the ``libclang`` package of the test extras) parses each header with
``-fsyntax-only -x c++ -std=c++17``, the wheel's ``torch/include`` on the include path, function
bodies skipped and incomplete translation units accepted (missing includes are tolerated). Its
declarations of the header itself (namespaces, classes, structs, unions, enums and functions,
methods, constructors, destructors and templates of them) are compared with the extractor's by
qualified name, template arguments dropped. Declarations whose name is not written in the header
(made by a macro such as ``C10_DECLARE_REGISTRY``) are counted apart: no parser of the written
text can see them. Exit 1 when recall is under 98 %.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import find_wheel  # noqa: E402
from pipeline.extract.cfamily import extract_cpp  # noqa: E402

PREFIXES = ("c10/", "ATen/core/")
TARGET = 0.98
HEADER_SUFFIXES = (".h", ".hpp", ".cuh")
# Kinds compared, and the group each one counts in.
GROUPS = {
    "NAMESPACE": "namespace",
    "CLASS_DECL": "class", "STRUCT_DECL": "struct", "UNION_DECL": "union",
    "CLASS_TEMPLATE": "class", "CLASS_TEMPLATE_PARTIAL_SPECIALIZATION": "class",
    "ENUM_DECL": "enum",
    "FUNCTION_DECL": "function", "FUNCTION_TEMPLATE": "function", "CXX_METHOD": "function",
    "CONSTRUCTOR": "function", "DESTRUCTOR": "function", "CONVERSION_FUNCTION": "function",
    "TYPE_ALIAS_DECL": "alias", "TYPEDEF_DECL": "alias", "TYPE_ALIAS_TEMPLATE_DECL": "alias",
}
# The kinds the recall target is about (type aliases are reported beside them).
REQUIRED = ("namespace", "class", "struct", "union", "enum", "function")
OURS = {"namespace": "namespace", "class": "class", "struct": "struct", "union": "union",
        "enum": "enum", "function": "function", "method": "function", "kernel": "function",
        "alias": "alias"}
_TEMPLATE_ARGUMENTS = re.compile(r"<[^<>]*>")
_MACRO_CALL = re.compile(r"\s*([A-Z][A-Z0-9_]+)\s*\(")
_CONVERSION = re.compile(r"::operator(?![^A-Za-z_\s]).*$")


@dataclass
class Tally:
    """Counts over all headers compared."""

    headers: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    generated: Counter[str] = field(default_factory=Counter)
    misses: list[tuple[str, str, str, int]] = field(default_factory=list)  # path kind name line
    seconds_oracle: float = 0.0
    seconds_ours: float = 0.0

    def recall(self) -> float:
        """Found / expected over the required kinds."""
        total = sum(self.expected[g] for g in REQUIRED)
        return sum(self.found[g] for g in REQUIRED) / total if total else 1.0


def plain(name: str) -> str:
    """A qualified name without template arguments or spaces (``a::B<T>::f`` -> ``a::B::f``);
    a conversion operator is ``operator()`` of its class whatever type it converts to (libclang
    spells template parameters ``type-parameter-0-0``)."""
    name = _CONVERSION.sub("::operator(conversion)", name)
    name = name.replace(" ", "")
    previous = None
    while previous != name:
        previous = name
        name = _TEMPLATE_ARGUMENTS.sub("", name)
    return name


def oracle_symbols(path: Path, include_dirs: list[Path]) -> set[tuple[str, str, int]]:
    """(group, qualified name, line) of every compared declaration libclang finds in ``path``."""
    from clang import cindex

    args = ["-x", "c++", "-std=c++17", "-fsyntax-only", "-ferror-limit=0",
            *(f"-I{d}" for d in include_dirs)]
    options = (cindex.TranslationUnit.PARSE_INCOMPLETE
               | cindex.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES)
    unit = cindex.Index.create().parse(str(path), args=args, options=options)
    found: set[tuple[str, str, int]] = set()
    target = str(path)

    def visit(cursor: cindex.Cursor, scope: list[str]) -> None:
        for child in cursor.get_children():
            location = child.location
            if location.file is None or location.file.name != target:
                continue
            kind = child.kind.name
            group = GROUPS.get(kind)
            spelling = child.spelling
            if group in ("class", "struct", "union", "enum") and not child.is_definition():
                group = None  # a forward declaration names a type, it does not define it
            if group is not None and spelling:
                parents = _semantic_scope(child)
                found.add((group, "::".join([*parents, spelling]), location.line))
            if kind in ("NAMESPACE", "CLASS_DECL", "STRUCT_DECL", "UNION_DECL", "CLASS_TEMPLATE",
                        "CLASS_TEMPLATE_PARTIAL_SPECIALIZATION", "LINKAGE_SPEC",
                        "UNEXPOSED_DECL", "FRIEND_DECL"):
                visit(child, scope)

    visit(unit.cursor, [])
    return found


def _semantic_scope(cursor: object) -> list[str]:
    names: list[str] = []
    parent = cursor.semantic_parent  # type: ignore[attr-defined]
    while parent is not None and parent.kind.name != "TRANSLATION_UNIT":
        if parent.kind.name not in ("LINKAGE_SPEC", "UNEXPOSED_DECL"):
            names.append(parent.spelling or "(anonymous)")
        parent = parent.semantic_parent
    return names[::-1]


def our_symbols(text: str) -> set[tuple[str, str]]:
    """(group, plain qualified name) of the extractor's symbols."""
    extraction = extract_cpp(text)
    return {(OURS[s.kind], plain(s.name)) for s in extraction.symbols if s.kind in OURS}


def compare(path: Path, relative: str, include_dirs: list[Path], tally: Tally,
            cache: dict[str, list[list[object]]] | None = None) -> None:
    """Add one header's counts and misses to ``tally`` (libclang's answers are kept in
    ``cache`` by header path and content)."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    key = f"{relative}:{hashlib.sha256(raw).hexdigest()}"
    started = time.perf_counter()
    if cache is not None and key in cache:
        expected = {(str(g), str(n), int(str(line))) for g, n, line in cache[key]}
    else:
        expected = oracle_symbols(path, include_dirs)
        if cache is not None:
            cache[key] = [list(item) for item in sorted(expected)]
    tally.seconds_oracle += time.perf_counter() - started
    started = time.perf_counter()
    ours = our_symbols(text)
    tally.seconds_ours += time.perf_counter() - started
    names = {name for _, name in ours}
    lines = text.split("\n")
    tally.headers += 1
    seen: set[tuple[str, str]] = set()
    for group, name, line in sorted(expected):
        key = (group, plain(name))
        if key in seen:
            continue  # a declaration and its definition, or overloads: one name
        seen.add(key)
        if _macro_made(name, lines[line - 1] if 0 < line <= len(lines) else "",
                       lines[max(0, line - 3) : line + 2]):
            tally.generated[group] += 1
            continue
        tally.expected[group] += 1
        groups = {group, "class", "struct"} if group in ("class", "struct") else {group}
        if group == "namespace":
            # ``namespace at::detail`` declares ``at`` and ``at::detail``
            hit = any(n == key[1] or n.startswith(key[1] + "::") for g, n in ours
                      if g == "namespace")
        else:
            hit = any((g, key[1]) in ours for g in groups) or (
                group == "function" and key[1] in names)
        if hit:
            tally.found[group] += 1
        else:
            tally.misses.append((relative, group, key[1], line))


def _macro_made(name: str, line: str, around: list[str]) -> bool:
    """Whether a declaration comes from a macro: its name is not written near its line, or
    only as an argument of an upper-case macro call (``DEFINE_BINARY_NOT_SUPPORTED(add)``)."""
    last = name.rsplit("::", 1)[-1].lstrip("~")
    call = _MACRO_CALL.match(line)
    if call is not None and call.group(1) == last:
        return True  # ``TEST(suite, name)`` read as a function where gtest is not included
    if last.startswith("operator"):
        return call is not None and "operator" not in line
    if not any(last in written for written in around):
        return True
    return call is not None and not re.search(rf"\b{re.escape(last)}\s*[(<]", line)


def headers(root: Path, prefixes: tuple[str, ...]) -> list[tuple[Path, str]]:
    out = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative.endswith(HEADER_SUFFIXES) and relative.startswith(prefixes):
            out.append((path, relative))
    return out


def unpack_includes(wheel: Path, into: Path) -> Path:
    """The wheel's ``torch/include`` under ``into`` (unzipped once)."""
    include = into / "torch" / "include"
    if not include.is_dir():
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.filename.startswith("torch/include/") and not info.is_dir():
                    archive.extract(info, into)
    return include


def report(tally: Tally, misses: int) -> str:
    rows = [f"headers: {tally.headers}",
            f"{'kind':<10} {'expected':>9} {'found':>7} {'recall':>8} {'macro-made':>11}"]
    for group in sorted(set(tally.expected) | set(tally.generated)):
        expected, found = tally.expected[group], tally.found[group]
        recall = found / expected if expected else 1.0
        rows.append(f"{group:<10} {expected:>9} {found:>7} {recall:>8.2%} "
                    f"{tally.generated[group]:>11}")
    total = sum(tally.expected[g] for g in REQUIRED)
    found = sum(tally.found[g] for g in REQUIRED)
    made = sum(tally.generated[g] for g in REQUIRED)
    rows.append(f"{'required':<10} {total:>9} {found:>7} {tally.recall():>8.2%} {made:>11}"
                f"   (all but alias; target {TARGET:.0%})")
    rows.append(f"time: libclang {tally.seconds_oracle:.1f} s, "
                f"extractor {tally.seconds_ours:.1f} s")
    by_kind = Counter(group for _, group, _, _ in tally.misses)
    rows.append("misses by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())))
    for relative, group, name, line in tally.misses[:misses]:
        rows.append(f"  miss {group:<9} {name}  ({relative}:{line})")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wheel", type=Path)
    parser.add_argument("--workdir", type=Path, help="where the wheel's headers are unzipped")
    parser.add_argument("--prefix", action="append", help="header folders under torch/include")
    parser.add_argument("--misses", type=int, default=40, help="misses listed (default 40)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        import clang.cindex  # noqa: F401
    except ImportError:
        print("libclang is not installed (pip install -e '.[test]')", file=sys.stderr)
        return 0
    wheel = args.wheel or find_wheel()
    if wheel is None:
        print("no torch wheel found: nothing to compare", file=sys.stderr)
        return 0
    prefixes = tuple(args.prefix) if args.prefix else PREFIXES
    with tempfile.TemporaryDirectory() as scratch:
        include = unpack_includes(wheel, args.workdir or Path(scratch))
        include_dirs = [include, include / "torch" / "csrc" / "api" / "include"]
        tally = Tally()
        cache_file = args.workdir / "oracle_cpp_cache.json" if args.workdir else None
        cache = json.loads(cache_file.read_text()) if cache_file and cache_file.is_file() else {}
        for path, relative in headers(include, prefixes):
            compare(path, relative, include_dirs, tally, cache)
        if cache_file is not None:
            cache_file.write_text(json.dumps(cache, sort_keys=True))
    print(report(tally, args.misses))
    if args.json:
        args.json.write_text(json.dumps({
            "headers": tally.headers, "recall": tally.recall(),
            "expected": dict(tally.expected), "found": dict(tally.found),
            "generated": dict(tally.generated), "misses": tally.misses,
        }, indent=1, sort_keys=True) + "\n")
    return 0 if tally.recall() >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
