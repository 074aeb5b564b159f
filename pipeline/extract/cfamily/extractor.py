"""C, C++ and CUDA extraction with tree-sitter: structure, includes, macros, findings, notes."""

from __future__ import annotations

from tree_sitter import Node

from pipeline.extract import tsnodes
from pipeline.extract.cfamily.conditionals import select_branches
from pipeline.extract.cfamily.mask import looks_cuda, mask_annotations
from pipeline.extract.cfamily.rules import TreeScan
from pipeline.extract.cfamily.symbols import StructureCollector
from pipeline.extract.cfamily.text import overview
from pipeline.extract.tsnodes import error_nodes
from pipeline.extract.tsnodes import line as line_of
from pipeline.records import Extraction, Finding, Note, Symbol

_Region = tuple[int, int]  # an error region: its first line and its size in bytes

# grammar -> its name in notes
_NAMES: dict[str, str] = {"c": "C", "cpp": "C++", "cuda": "CUDA"}


def extract_c(text: str) -> Extraction:
    """Extract a C file (``.c``) with the C grammar."""
    return _extract(text, "c", "c")


def extract_cpp(text: str) -> Extraction:
    """Extract a C++ file or header (one with CUDA syntax may be parsed as CUDA, see _parse)."""
    return _extract(text, "cpp", "cpp")


def extract_cuda(text: str) -> Extraction:
    """Extract a CUDA file (``.cu``, ``.cuh``) with the CUDA grammar."""
    return _extract(text, "cuda", "cuda")


def _extract(text: str, language: str, grammar: str) -> Extraction:
    # Offsets are byte offsets into this encoding; lone surrogates cannot be encoded and are
    # replaced, which keeps every offset consistent with the bytes parsed.
    # One branch of each conditional is parsed (the others are blank, lines kept), and the
    # symbols' text is read from that, so no signature holds a directive.
    source = select_branches(text.encode("utf-8", "replace"), cplusplus=language != "c")
    parsed = mask_annotations(source)
    grammar, root, errors = _parse(parsed, grammar)
    structure = StructureCollector(source, parsed)
    structure.collect(root)
    scan = TreeScan(source)
    scan.scan(root, grammar, structure.directives)
    symbols = sorted(structure.symbols + scan.macros, key=_symbol_order)
    findings = sorted(set(structure.findings + scan.findings), key=_finding_order)
    return Extraction(
        language=language,
        overview=overview(root, source),
        symbols=tuple(symbols),
        imports=tuple(sorted(scan.imports, key=lambda item: (item.line, item.module))),
        findings=tuple(findings),
        notes=_parse_notes(errors, _NAMES[grammar]),
    )


def _parse(parsed: bytes, grammar: str) -> tuple[str, Node, list[_Region]]:
    """The tree of ``parsed`` and the regions where the parser gave up.

    A C++ header that fails to parse and mentions CUDA keywords is parsed again with the CUDA
    grammar (a superset of C++), which is kept when it loses fewer bytes to errors: it knows
    ``__global__`` and ``<<<...>>>``, but a header that only names them in macros often parses
    better as plain C++.
    """
    root = tsnodes.parser(grammar).parse(parsed).root_node
    errors = _error_regions(root)
    if grammar == "cpp" and errors and looks_cuda(parsed):
        cuda_root = tsnodes.parser("cuda").parse(parsed).root_node
        cuda_errors = _error_regions(cuda_root)
        if _lost(cuda_errors) < _lost(errors):
            return "cuda", cuda_root, cuda_errors
    return grammar, root, errors


def _symbol_order(symbol: Symbol) -> tuple[int, str, str, int]:
    return (symbol.line, symbol.name, symbol.kind, symbol.end_line)


def _finding_order(finding: Finding) -> tuple[int, str, str, str]:
    return (finding.line, finding.area, finding.label, finding.detail)


def _parse_notes(regions: list[_Region], parser_name: str) -> tuple[Note, ...]:
    if not regions:
        return ()
    count = len(regions)
    first = min(line for line, _ in regions)
    message = (
        f"the {parser_name} parser could not parse {count} region{'' if count == 1 else 's'} "
        f"(first at line {first}); symbols outside them were extracted"
    )
    return (Note(kind="partial-parse", message=message, line=first),)


def _error_regions(root: Node) -> list[_Region]:
    """(line, bytes) of the outermost ERROR and MISSING nodes."""
    return [(line_of(node), max(1, node.end_byte - node.start_byte))
            for node in error_nodes(root)]


def _lost(regions: list[_Region]) -> int:
    """How much of the source the parser gave up on (a missing token counts as one byte)."""
    return sum(size for _, size in regions)
