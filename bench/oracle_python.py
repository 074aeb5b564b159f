"""Recall of the Python extractor and linker against ``ast``, ``symtable`` and Python's import
rules, over this Python's standard library and the ``.py`` files of a PyTorch wheel.

    python bench/oracle_python.py [--corpus stdlib|torch|all] [--wheel WHEEL] [--no-pages]
                                  [--misses N] [--json FILE]

For every file ``ast`` parses, the oracles list what the pipeline must show:

- ``ast``: every name bound in the module scope, by the kind of its first binding (assignment,
  annotated and augmented assignment, ``type`` alias, ``for``/``with``/``except`` targets,
  walrus, ``match`` captures, ``global`` names a function binds); every class and function,
  nested ones under qualified names (``Outer.inner``), methods of classes; class-level bindings
  (``Class.attr``); every name of every import statement; the strings of ``__all__``.
- ``symtable``: the module scope's assigned and imported symbols, and the names functions and
  comprehensions declare global and bind: what the ``ast`` walk misses is counted apart.
- import rules: each import resolved by ``importlib.util.resolve_name`` (relative) or by name
  (absolute: the tree's own modules, the tree's root being ``sys.path[0]``, then
  ``sys.stdlib_module_names``), each name of ``from M import a`` to the submodule ``M.a`` when
  the tree has it, else to ``M``. Every such in-tree edge must be on the importer's record and
  context and on the target's "Imported by", and (unless ``--no-pages``) as links on both
  rendered pages.

Compared with the pipeline's records (``extract_python``), its linked contexts
(``link.build_links``) and its rendered file pages. Exit 1 when anything is missed.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import symtable
import sys
import sysconfig
import tempfile
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import find_wheel  # noqa: E402
from pipeline import layout  # noqa: E402
from pipeline.actions import _summary  # noqa: E402
from pipeline.config import DEFAULT_ROLES  # noqa: E402
from pipeline.discover import Input  # noqa: E402
from pipeline.extract.python import extract_python  # noqa: E402
from pipeline.filetypes import file_type  # noqa: E402
from pipeline.link import build_links  # noqa: E402
from pipeline.pytestconf import is_test_path  # noqa: E402
from pipeline.records import Context, Extraction, FileRecord  # noqa: E402
from pipeline.render import render_file_pages  # noqa: E402
from pipeline.site import PageSite  # noqa: E402

STDLIB_NAMES = frozenset(sys.stdlib_module_names) | {"__future__"}
MODULE_KINDS = ("variable", "constant", "class", "function")
DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Reported beside the required kinds, not part of the 100 % target: the group (standard
# library, third party, this tree) of absolute imports. The linker also looks names up in
# the tree's other roots (folders of scripts, test data put on ``sys.path`` at run time),
# which the oracle, with only the tree's root on ``sys.path``, calls third-party.
APART = ("import-group",)


@dataclass(frozen=True, slots=True)
class Expected:
    """What the oracles say one file binds, defines and imports."""

    bindings: dict[str, tuple[str, int]]  # module-level name -> (kind of first binding, line)
    definitions: dict[str, str]  # qualified name -> "class" | "function" | "method"
    attributes: dict[str, int]  # ``Class.attr`` -> line
    imports: tuple[tuple[str, str, str, int, int], ...]  # (kind, module, name, level, line)
    exports: tuple[str, ...] | None  # ``__all__``'s strings; None when not literal
    symtable_only: frozenset[str]  # module-scope names symtable binds that the walk did not


@dataclass
class Tally:
    """Counts over all files compared."""

    files: int = 0
    unparsable: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    misses: list[tuple[str, str, str, int]] = field(default_factory=list)  # path kind name line
    extra_edges: int = 0  # edges the linker made that the import rules do not
    outside: int = 0  # imports of files whose path is not a dotted module name
    seconds_oracle: float = 0.0
    seconds_ours: float = 0.0
    seconds_pages: float = 0.0

    def count(self, kind: str, hit: bool, path: str, name: str, line: int) -> None:
        self.expected[kind] += 1
        if hit:
            self.found[kind] += 1
        else:
            self.misses.append((path, kind, name, line))

    def recall(self) -> float:
        """Found / expected over the required kinds (all but :data:`APART`)."""
        total = sum(n for kind, n in self.expected.items() if kind not in APART)
        found = sum(n for kind, n in self.found.items() if kind not in APART)
        return found / total if total else 1.0

    def required_misses(self) -> list[tuple[str, str, str, int]]:
        return [miss for miss in self.misses if miss[1] not in APART]


# --------------------------------------------------------------------------- ast oracle
def _names(target: ast.expr) -> Iterator[ast.Name]:
    if isinstance(target, ast.Name):
        yield target
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _names(element)
    elif isinstance(target, ast.Starred):
        yield from _names(target.value)


def _same_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Every node evaluated in the scope ``node`` is in: not inside nested definitions'
    bodies or lambdas (their decorators, bases and defaults are evaluated here)."""
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, ast.Lambda):
            stack.extend(item.args.defaults + [d for d in item.args.kw_defaults if d])
            continue
        if isinstance(item, DEFINITION):
            stack.extend(item.decorator_list)
            if isinstance(item, ast.ClassDef):
                stack.extend(item.bases + [k.value for k in item.keywords])
            else:
                stack.extend(item.args.defaults + [d for d in item.args.kw_defaults if d])
            if item is not node:
                continue
            stack.extend(item.body)
            continue
        stack.extend(ast.iter_child_nodes(item))


def _bound_here(body: list[ast.stmt]) -> list[tuple[str, str, int]]:
    """(name, kind, line) of every binding in the scope whose statements are ``body``."""
    found: list[tuple[str, str, int]] = []
    module = ast.Module(body=body, type_ignores=[])
    for node in _same_scope(module):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Assign):
            found += [(n.id, "assign", line) for t in node.targets for n in _names(t)]
        elif isinstance(node, ast.AnnAssign):
            found += [(n.id, "annassign", line) for n in _names(node.target)]
        elif isinstance(node, ast.AugAssign):
            found += [(n.id, "augassign", line) for n in _names(node.target)]
        elif type(node).__name__ == "TypeAlias":
            found.append((node.name.id, "typealias", line))  # type: ignore[attr-defined]
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            found += [(n.id, "for", line) for n in _names(node.target)]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            found += [(n.id, "with", line) for item in node.items if item.optional_vars
                      for n in _names(item.optional_vars)]
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.append((node.name, "except", line))
        elif isinstance(node, ast.NamedExpr):
            found += [(n.id, "walrus", line) for n in _names(node.target)]
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            found.append((node.name, "match", line))
        elif isinstance(node, ast.MatchMapping) and node.rest:
            found.append((node.rest, "match", line))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    local = alias.asname or alias.name.split(".", 1)[0]
                    found.append((local, "import", line))
        elif isinstance(node, DEFINITION) and node is not module:
            found.append((node.name, "definition", line))
    return found


def _global_bindings(tree: ast.Module) -> list[tuple[str, int]]:
    """(name, line) of the names functions declare ``global`` and bind (any depth)."""
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        declared = {name for item in _same_scope(node) if isinstance(item, ast.Global)
                    for name in item.names}
        if declared:
            out += [(name, line) for name, _kind, line in _bound_here(node.body)
                    if name in declared]
    return out


def _definitions(body: list[ast.stmt], prefix: str, in_class: bool,
                 definitions: dict[str, str], attributes: dict[str, int]) -> None:
    for item in _same_scope(ast.Module(body=body, type_ignores=[])):
        if not isinstance(item, DEFINITION):
            continue
        qualname = prefix + item.name
        if isinstance(item, ast.ClassDef):
            definitions.setdefault(qualname, "class")
            for name, kind, line in _bound_here(item.body):
                if kind not in ("import", "definition"):
                    attributes.setdefault(f"{qualname}.{name}", line)
            _definitions(item.body, qualname + ".", True, definitions, attributes)
        else:
            definitions.setdefault(qualname, "method" if in_class else "function")
            _definitions(item.body, qualname + ".", in_class, definitions, attributes)


def _exports(tree: ast.Module) -> tuple[str, ...] | None:
    """``__all__`` as the module builds it with literals, in order; None when not literal."""
    found: list[str] | None = None
    for node in _same_scope(tree):
        value: ast.expr | None = None
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                value = node.value
                try:
                    found = list(ast.literal_eval(value)) if value is not None else found
                except ValueError:
                    return None
        elif (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)
              and node.target.id == "__all__"):
            try:
                found = (found or []) + list(ast.literal_eval(node.value))
            except ValueError:
                return None
    if found is not None and not all(isinstance(s, str) for s in found):
        return None
    return tuple(dict.fromkeys(found)) if found is not None else None


def _symtable_names(text: str, path: str) -> set[str]:
    table = symtable.symtable(text, path, "exec")
    names = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        stack.extend(child.get_children())
        if child.get_type() == "class":
            continue
        names.update(s.get_name() for s in child.get_symbols()
                     if s.is_declared_global() and s.is_assigned())
    return names


def expected_of(text: str, path: str) -> Expected | None:
    """What ``ast`` and ``symtable`` say of one file; None when ``ast`` cannot parse it."""
    try:
        tree = ast.parse(text)
        table_names = _symtable_names(text, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    bindings: dict[str, tuple[str, int]] = {}
    for name, kind, line in sorted(_bound_here(tree.body), key=lambda b: b[2]):
        bindings.setdefault(name, (kind, line))
    for name, line in _global_bindings(tree):
        bindings.setdefault(name, ("global", line))
    definitions: dict[str, str] = {}
    attributes: dict[str, int] = {}
    _definitions(tree.body, "", False, definitions, attributes)
    imports: list[tuple[str, str, str, int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [("import", a.name, "", 0, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            imports += [("from", module, a.name, node.level, node.lineno) for a in node.names]
    # symtable counts ``del x`` as a binding: names only deleted (``del adam`` of a submodule
    # the import system set) are no module-level names
    deleted = {n.id for node in ast.walk(tree) if isinstance(node, ast.Delete)
               for target in node.targets for n in _names(target)}
    return Expected(bindings, definitions, attributes, tuple(sorted(set(imports))),
                    _exports(tree), frozenset(table_names - set(bindings) - deleted))


# --------------------------------------------------------------------------- import rules
def module_of(path: str) -> str | None:
    """Dotted name of a file with the tree's root on ``sys.path``; None when not importable
    by name (a folder or file name that is not an identifier)."""
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def import_targets(importer: str, kind: str, module: str, name: str, level: int,
                   modules: dict[str, str]) -> tuple[str, str]:
    """(group, in-tree target file or "") of one imported name, by Python 3's rules."""
    own = module_of(importer)
    if level:
        if own is None:
            return "repo", ""
        package = own if importer.endswith("/__init__.py") else own.rpartition(".")[0]
        try:
            absolute = importlib.util.resolve_name(module, package)
        except (ImportError, ValueError):
            return "repo", ""  # beyond the top-level package
    else:
        absolute = module
    wanted = [f"{absolute}.{name}"] if kind == "from" and name != "*" else []
    head = absolute.split(".", 1)[0]
    tops = {m.split(".", 1)[0] for m in modules}
    if not level and head not in tops:
        return ("stdlib" if head in STDLIB_NAMES else "third-party"), ""
    for candidate in wanted:
        if candidate in modules:
            return "repo", modules[candidate]
    dotted = absolute
    while dotted:
        if dotted in modules:
            return "repo", modules[dotted]
        dotted = dotted.rpartition(".")[0]
    return "repo", ""


# --------------------------------------------------------------------------- comparison
def compare_records(path: str, expected: Expected, ex: Extraction, tally: Tally) -> None:
    """Bindings, definitions, attributes, imports and ``__all__`` against one record."""
    # ``ast`` spells identifiers NFKC-normalised (``µ`` is ``μ``); pages show them as written.
    symbols = {(unicodedata.normalize("NFKC", s.name), s.kind) for s in ex.symbols}
    named = {name for name, _ in symbols}
    top = {name for name, kind in symbols if kind in MODULE_KINDS}
    imported = {(i.kind, i.module, i.names[0] if i.names else "", i.level, i.line)
                for i in ex.imports}
    for name, (kind, line) in sorted(expected.bindings.items()):
        if kind in ("import", "definition"):
            continue  # counted as imports and definitions below
        tally.count(f"binding:{kind}", name in top, path, name, line)
    for name in sorted(expected.symtable_only):
        tally.count("binding:symtable", name in top, path, name, 0)
    for name, kind in sorted(expected.definitions.items()):
        tally.count(kind, (name, kind) in symbols, path, name, 0)
    for name, line in sorted(expected.attributes.items()):
        tally.count("attribute", name in named, path, name, line)
    for item in expected.imports:
        tally.count("import", item in imported, path, f"{item[1]}:{item[2]}", item[4])
    if expected.exports is not None:
        ours = set(ex.exports)
        for name in expected.exports:
            tally.count("__all__", name in ours, path, name, 0)


def _kw_names(page: str) -> set[str]:
    section = page.partition("## Keywords Extracted")[2].partition("## Keyword →")[0]
    return {unicodedata.normalize("NFKC", line.split("`", 2)[1])
            for line in section.splitlines() if line.startswith("- **`")}


def compare_tree(texts: dict[str, str], tally: Tally, pages: bool = True,
                 extractions: dict[str, Extraction] | None = None) -> None:
    """Every file of one tree (``.py`` path -> text), extracted, linked and rendered."""
    expected: dict[str, Expected] = {}
    extracted: dict[str, Extraction] = dict(extractions or {})
    for path, text in sorted(texts.items()):
        started = time.perf_counter()
        found = expected_of(text, path)
        tally.seconds_oracle += time.perf_counter() - started
        started = time.perf_counter()
        if path not in extracted:
            extracted[path] = extract_python(text)
        tally.seconds_ours += time.perf_counter() - started
        if found is None:
            tally.unparsable += 1
            continue
        expected[path] = found
        tally.files += 1
        compare_records(path, found, extracted[path], tally)
    started = time.perf_counter()
    records = {path: FileRecord(path, 1, len(texts[path].encode()), texts[path].count("\n") + 1,
                                "utf-8", ex) for path, ex in extracted.items()}
    summaries = [_summary(record, Input(path, 1, path, file_type(path.rsplit("/", 1)[-1])),
                          len(texts[path].encode())) for path, record in records.items()]
    folders = sorted({layout.folder_of(p) for p in texts} | {""})
    links = build_links(summaries, folders, [], "")
    tally.seconds_ours += time.perf_counter() - started
    modules = {name: path for path in texts if (name := module_of(path)) is not None}
    started = time.perf_counter()
    edges: set[tuple[str, str]] = set()
    for path, found in expected.items():
        if module_of(path) is None:
            tally.outside += len(found.imports)
            continue
        ex = extracted[path]
        resolved = {(i.kind, i.module, i.names[0] if i.names else "", i.level, i.line): r
                    for i, r in zip(ex.imports, links.contexts[path].imports, strict=True)}
        for item in found.imports:
            kind, module, name, level, line = item
            group, target = import_targets(path, kind, module, name, level, modules)
            ours = resolved.get(item, ("", ""))
            if not level:
                tally.count("import-group", ours[0] == group, path,
                            f"{module} ({group}, linked as {ours[0] or 'nothing'})", line)
            if target and target != path:
                edges.add((path, target))
                tally.count("edge-imports", ours[1] == target, path,
                            f"{module}:{name} -> {target} (linked to {ours[1] or 'nothing'})",
                            line)
    tally.seconds_oracle += time.perf_counter() - started
    for path, target in sorted(edges):
        hit = path in links.contexts[target].imported_by
        tally.count("edge-imported-by", hit, target, f"<- {path}", 0)
    tally.extra_edges += sum(1 for path, ctx in links.contexts.items() if path in expected
                             and module_of(path) is not None
                             for t in {t for _, t in ctx.imports if t and t != path}
                             if (path, t) not in edges)
    if pages:
        started = time.perf_counter()
        _compare_pages(texts, records, links.contexts, expected, edges, tally)
        tally.seconds_pages += time.perf_counter() - started


def _compare_pages(texts: dict[str, str], records: dict[str, FileRecord],
                   contexts: dict[str, Context], expected: dict[str, Expected],
                   edges: set[tuple[str, str]], tally: Tally) -> None:
    site = PageSite(source_root="/src", output_root="/out", mirror="", project="oracle",
                    roles=tuple(sorted(DEFAULT_ROLES.items())), max_source_bytes=1 << 30,
                    max_tests=20, max_related=20)
    docs: dict[str, str] = {}
    for path, record in records.items():
        page, kw = render_file_pages(record, contexts[path], texts[path], site,
                                     "Python Source Code", "python", [],
                                     is_test=is_test_path(path, {}))
        docs[path] = page.partition("## Original Source")[0] + page.partition(
            "## Dependencies")[2]
        names = _kw_names(kw)
        found = expected.get(path)
        if found is None:
            continue
        for name, (kind, line) in sorted(found.bindings.items()):
            if kind not in ("import", "definition"):
                tally.count("page:binding", name in names, path, name, line)
        for name in sorted(found.definitions):
            tally.count("page:definition", name in names, path, name, 0)
    for path, target in sorted(edges):
        forward = f"]({layout.docs_link(layout.docs_page(path), target)})"
        back = f"]({layout.docs_link(layout.docs_page(target), path)})"
        tally.count("page:imports", forward in docs[path], path, f"-> {target}", 0)
        tally.count("page:imported-by", back in docs[target], target, f"<- {path}", 0)


# --------------------------------------------------------------------------- corpora
def stdlib_texts() -> dict[str, str]:
    """This Python's standard library: ``.py`` path (under the stdlib folder) -> text."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("site-packages/", "dist-packages/")) or not path.is_file():
            continue
        out[relative] = path.read_bytes().decode("utf-8", errors="replace")
    return out


def wheel_texts(wheel: Path) -> dict[str, str]:
    """The ``.py`` files of a wheel (every top-level package of it), read from the archive."""
    out: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if name.endswith(".py") and ".dist-info/" not in name and not info.is_dir():
                out[name] = archive.read(info).decode("utf-8", errors="replace")
    return out


def report(name: str, tally: Tally, misses: int) -> str:
    rows = [f"{name}: {tally.files} files compared, {tally.unparsable} unparsable by ast",
            f"{'kind':<22} {'expected':>9} {'found':>9} {'recall':>8}"]
    for kind in sorted(tally.expected):
        expected, found = tally.expected[kind], tally.found[kind]
        rows.append(f"{kind:<22} {expected:>9} {found:>9} {found / expected:>8.2%}")
    total = sum(n for kind, n in tally.expected.items() if kind not in APART)
    found = sum(n for kind, n in tally.found.items() if kind not in APART)
    rows.append(f"{'required':<22} {total:>9} {found:>9} {tally.recall():>8.2%}"
                f"   (all but {', '.join(APART)}; target 100 %)")
    rows.append(f"edges the linker adds beyond the import rules: {tally.extra_edges}; "
                f"imports of files that are not dotted modules (not compared): {tally.outside}")
    rows.append(f"time: oracles {tally.seconds_oracle:.1f} s, pipeline {tally.seconds_ours:.1f} s,"
                f" pages {tally.seconds_pages:.1f} s")
    by_kind = Counter(kind for _, kind, _, _ in tally.misses)
    rows.append("misses by kind: " + (", ".join(f"{k} {v}" for k, v in sorted(by_kind.items()))
                                      or "none"))
    shown: Counter[str] = Counter()
    for path, kind, item, line in tally.misses:
        shown[kind] += 1
        if shown[kind] <= misses:
            rows.append(f"  miss {kind:<20} {item}  ({path}:{line})")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", choices=("stdlib", "torch", "all"), default="all")
    parser.add_argument("--wheel", type=Path)
    parser.add_argument("--no-pages", action="store_true", help="records and contexts only")
    parser.add_argument("--misses", type=int, default=10, help="misses listed per kind")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    corpora: list[tuple[str, dict[str, str]]] = []
    if args.corpus in ("stdlib", "all"):
        corpora.append(("stdlib", stdlib_texts()))
    if args.corpus in ("torch", "all"):
        wheel = args.wheel or find_wheel()
        if wheel is None:
            print("no torch wheel found: torch not compared", file=sys.stderr)
        else:
            with tempfile.TemporaryDirectory():
                corpora.append(("torch", wheel_texts(wheel)))
    results = {}
    ok = True
    for name, texts in corpora:
        tally = Tally()
        started = time.perf_counter()
        compare_tree(texts, tally, pages=not args.no_pages)
        print(report(name, tally, args.misses))
        print(f"wall time: {time.perf_counter() - started:.1f} s\n")
        ok = ok and not tally.required_misses()
        results[name] = {"files": tally.files, "unparsable": tally.unparsable,
                         "expected": dict(tally.expected), "found": dict(tally.found),
                         "recall": tally.recall(), "misses": tally.misses}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
