"""Data files (YAML, JSON, TOML, INI): key paths with their lines, values and parse problems.

Every extractor lists the keys of a file as ``key`` symbols named by their path: top-level keys
(``a``), nested keys down to ``MAX_DEPTH`` levels (``a.b``, ``a.b.c``, ...), and the keys of
mappings held in a list under ``[]`` (``steps[].name``; ``[]`` adds no level). A path is listed
once, at its first occurrence (once per document in multi-document YAML); a scalar value is
previewed in ``value``. A parse error becomes a ``parse-error`` note at the parser's line, and
the keys found before it are kept. At most ``MAX_KEYS`` keys are listed; a file with deeper
keys or more keys gets a ``keys-cut`` note saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from pipeline.extract import failure_note
from pipeline.extract.comments import leading_comment
from pipeline.extract.data.jsonkeys import json_keys
from pipeline.extract.data.scan import ini_keys, toml_keys
from pipeline.extract.keys import Keys, key_name
from pipeline.records import Extraction, Note

MAX_DEPTH = 8
# YAML whose flow collections nest deeper than this is not parsed: both parsers take time
# quadratic in the depth (50,000 levels: 3 s in libyaml, minutes in pure Python).
MAX_FLOW_DEPTH = 1_000
_BRACKETS = re.compile(r"[\[\]{}]")
MAX_KEYS = 2000


def extract_yaml(text: str) -> Extraction:
    """Key paths of every document of a YAML stream."""
    return _guarded("yaml", text, _yaml)


def extract_json(text: str) -> Extraction:
    """Key paths of a JSON document; the standard library's parser decides validity."""
    return _guarded("json", text, _json)


def extract_toml(text: str) -> Extraction:
    """Table headers and key paths of a TOML document."""
    return _guarded("toml", text, toml_keys)


def extract_ini(text: str) -> Extraction:
    """Sections (``[name]``) and options (``section.option``) of an INI file."""
    return _guarded("ini", text, ini_keys, (";", "#"))


def _guarded(
    language: str,
    text: str,
    scan: Callable[[str, Keys], list[Note]],
    markers: tuple[str, ...] = ("#",),
) -> Extraction:
    keys = Keys(MAX_DEPTH, MAX_KEYS)
    try:
        notes = scan(text, keys)
    except Exception as error:  # noqa: BLE001 - keeps the keys found before the bug
        notes = [failure_note(language, error)]
    notes.extend(_cut_notes(keys))
    return Extraction(
        language=language,
        overview="" if language == "json" else leading_comment(text, markers),
        symbols=keys.symbols(),
        notes=tuple(notes),
    )


def _cut_notes(keys: Keys) -> list[Note]:
    notes = []
    if keys.too_deep:
        notes.append(Note("keys-cut", f"keys nested deeper than {MAX_DEPTH} levels are not listed"))
    if keys.dropped:
        notes.append(Note("keys-cut", f"only the first {MAX_KEYS:,} keys are listed; "
                                      f"{keys.dropped:,} more are not"))
    return notes


# --- YAML: the parser's event stream, so keys before a syntax error are kept ----------------


@dataclass
class _Frame:
    """An open collection: its path (None below a cut) and, for a mapping, the key state."""

    path: str | None
    depth: int  # keys in ``path``
    mapping: bool
    expect_key: bool = True
    key: str | None = None  # the path of the key whose value comes next


def _yaml(text: str, keys: Keys) -> list[Note]:
    """libyaml's event parser when present (ten times faster); on any error the pure-Python
    one, whose messages and partial keys are then the same on every machine."""
    depth = _flow_depth(text)
    if depth > MAX_FLOW_DEPTH:
        return [Note("keys-cut", f"flow collections ([...], {{...}}) nest {depth:,} levels deep, "
                                 f"more than the {MAX_FLOW_DEPTH:,} read; no keys are listed")]
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        trial = Keys(keys.max_depth)
        try:
            _yaml_events(text, fast, trial)
        except yaml.YAMLError:
            pass
        else:
            keys.extend(trial)
            return []
    try:
        _yaml_events(text, yaml.SafeLoader, keys)
    except yaml.YAMLError as error:
        return [_yaml_note(error, text)]
    return []


def _flow_depth(text: str) -> int:
    """How deep ``[``/``{`` nest, counted over the whole text (brackets in strings too: an
    upper bound)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(0, depth - 1)
    return deepest


def _yaml_events(text: str, loader: Any, keys: Keys) -> None:
    stack: list[_Frame] = []
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.DocumentStartEvent):
            keys.new_document()
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
        elif isinstance(event, yaml.NodeEvent):
            _yaml_node(event, stack, keys)


def _yaml_node(event: yaml.NodeEvent, stack: list[_Frame], keys: Keys) -> None:
    parent = stack[-1] if stack else None
    path: str | None = ""
    depth = 0
    if parent is not None and parent.mapping:
        parent.expect_key = not parent.expect_key
        if not parent.expect_key:  # this node is a key
            parent.key = _yaml_key(event, parent, keys)
            path = None  # a collection used as a key names no path
        else:
            path, depth = parent.key, parent.depth + 1
            if isinstance(event, yaml.ScalarEvent) and path is not None:
                keys.value(path, event.value)
            elif isinstance(event, yaml.AliasEvent) and path is not None:
                keys.value(path, f"*{event.anchor}")
    elif parent is not None:  # an item of a sequence
        path = None if parent.path is None else parent.path + "[]"
        depth = parent.depth
    if isinstance(event, yaml.MappingStartEvent):
        stack.append(_Frame(path, depth, True))
    elif isinstance(event, yaml.SequenceStartEvent):
        stack.append(_Frame(path, depth, False))


def _yaml_key(event: yaml.NodeEvent, parent: _Frame, keys: Keys) -> str | None:
    """List a scalar key (not a ``<<`` merge key) of a mapping within reach."""
    if not isinstance(event, yaml.ScalarEvent) or parent.path is None or event.value == "<<":
        return None
    if parent.depth >= MAX_DEPTH:
        keys.too_deep = True
        return None
    path = key_name(parent.path, event.value)
    keys.add(path, event.start_mark.line + 1 if event.start_mark is not None else 0)
    return path


def _yaml_note(error: yaml.YAMLError, text: str) -> Note:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        parts = [p for p in (error.context, error.problem) if p]
        message = "; ".join(parts) or str(error)
        return Note("parse-error", message, mark.line + 1 if mark is not None else 0)
    position = getattr(error, "position", None)
    line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 0
    return Note("parse-error", " ".join(str(error).split()), line)


# --- JSON ------------------------------------------------------------------------------------


def _json(text: str, keys: Keys) -> list[Note]:
    # The scan validates as it goes; on invalid input it keeps the keys before the error,
    # and the standard parser then supplies the message and line.
    if json_keys(text, keys):
        return []
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return [Note("parse-error", f"{error.msg} (column {error.colno})", error.lineno)]
    except RecursionError:
        return [Note("parse-error", "nested too deeply for the JSON parser", 0)]
    return []
