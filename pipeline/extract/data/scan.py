"""TOML and INI key paths: the standard parsers decide what exists, a line scan says where."""

from __future__ import annotations

import configparser
import datetime
import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from pipeline.extract.keys import Keys, key_name
from pipeline.records import Note

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\\n]|\\.)*"'
_LITERAL = r"'[^'\n]*'"
_KEY = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_KEY}(?:[ \t]*\.[ \t]*{_KEY})*"
_HEADER = re.compile(rf"[ \t]*(\[\[?)[ \t]*({_DOTTED})[ \t]*\]\]?[ \t]*(?:#.*)?$")
_ASSIGN = re.compile(rf"[ \t]*({_DOTTED})[ \t]*=")
_PART = re.compile(_KEY)
_TOML_AT = re.compile(r"\(at (?:line (\d+), column \d+|end of document)\)")
# The parts of a TOML value line that matter for where the value ends.
_VALUE_TOKEN = re.compile(r'"""|\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#|[\[\]{}]')

Mention = tuple[int, tuple[str, ...], tuple[int | None, ...]]


def toml_keys(text: str, keys: Keys) -> list[Note]:
    """Key paths of the parsed document at the lines where the scan first meets them."""
    try:
        data: dict[str, Any] | None = tomllib.loads(text)
        notes: list[Note] = []
    except tomllib.TOMLDecodeError as error:
        data, notes = None, [_toml_note(error, text)]
    except RecursionError:
        data, notes = None, [Note("parse-error", "nested too deeply for the TOML parser", 1)]
    lines = _first_lines(_toml_mentions(text), keys.max_depth)
    if data is None:
        # Nothing is known for sure: keep what the scan met before the error.
        limit = notes[0].line or len(text)
        for path, line in lines.items():
            if line < limit:
                keys.add(path, line)
        return notes
    for path, value in _toml_paths(data, "", 0, keys):
        keys.add(path, _line_of(path, lines), value)
    return notes


def _toml_note(error: tomllib.TOMLDecodeError, text: str) -> Note:
    message = str(error)
    found = _TOML_AT.search(message)
    # "(at end of document)": the last line that holds anything.
    line = int(found.group(1)) if found and found.group(1) else text.rstrip("\n").count("\n") + 1
    return Note("parse-error", _TOML_AT.sub("", message).strip(), line)


def _toml_mentions(text: str) -> list[Mention]:
    """Each table header and key assignment outside strings and multi-line arrays."""
    mentions: list[Mention] = []
    prefix: tuple[tuple[str, ...], tuple[int | None, ...]] = ((), ())
    arrays: dict[tuple[str, ...], int] = {}  # array-of-tables path -> index of its last element
    depth, string = 0, ""
    for number, line in enumerate(text.split("\n"), 1):
        if depth > 0 or string:
            depth, string = _value_state(line, depth, string)
            continue
        header = _HEADER.match(line)
        if header is not None:
            names = _names(header.group(2))
            if header.group(1) == "[[":
                arrays[names] = arrays.get(names, -1) + 1
            indices = tuple(arrays.get(names[: i + 1]) for i in range(len(names)))
            prefix = (names, indices)
            mentions.append((number, names, indices))
            continue
        assign = _ASSIGN.match(line)
        if assign is not None:
            names = _names(assign.group(1))
            mentions.append((number, prefix[0] + names, prefix[1] + (None,) * len(names)))
            depth, string = _value_state(line[assign.end() :], 0, "")
    return mentions


def _names(dotted: str) -> tuple[str, ...]:
    return tuple(_unquote(part) for part in _PART.findall(dotted))


def _unquote(part: str) -> str:
    if part.startswith('"'):
        try:
            return str(json.loads(part))
        except ValueError:
            return part[1:-1]
    return part[1:-1] if part.startswith("'") else part


def _value_state(rest: str, depth: int, string: str) -> tuple[int, str]:
    """Bracket depth and open multi-line string after a piece of a value."""
    at = 0
    while True:
        if string:
            end = rest.find(string, at)
            if end < 0:
                return depth, string
            at, string = end + 3, ""
        for token in _VALUE_TOKEN.finditer(rest, at):
            value = token.group(0)
            if value == "#":
                return max(depth, 0), ""
            if value in ('"""', "'''"):
                at, string = token.end(), value
                break
            if value in "[{":
                depth += 1
            elif value in "]}":
                depth -= 1
        else:
            return max(depth, 0), ""


def _first_lines(mentions: list[Mention], max_depth: int) -> dict[str, int]:
    """The first line of every displayed path and of each of its prefixes."""
    lines: dict[str, int] = {}
    for number, names, indices in mentions:
        path = ""
        for i, name in enumerate(names[:max_depth]):
            path = key_name(path, name)
            lines.setdefault(path, number)
            if indices[i] is not None:
                path += "[]"
    return lines


def _line_of(path: str, lines: dict[str, int]) -> int:
    """A path's own line, else its nearest listed ancestor's (keys of inline tables)."""
    while path:
        if path in lines:
            return lines[path]
        path = path.rpartition(".")[0].removesuffix("[]")
    return 1


def _toml_paths(
    data: dict[str, Any], parent: str, depth: int, keys: Keys
) -> list[tuple[str, str]]:
    """(path, scalar preview) of every key within reach, in document order."""
    found: list[tuple[str, str]] = []
    for key, value in data.items():
        path = key_name(parent, key)
        found.append((path, _toml_scalar(value)))
        if depth + 1 >= keys.max_depth:
            if isinstance(value, dict) and value or (
                    isinstance(value, list) and any(isinstance(i, dict) for i in value)):
                keys.too_deep = True
            continue
        if isinstance(value, dict):
            found.extend(_toml_paths(value, path, depth + 1, keys))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    found.extend(_toml_paths(item, path + "[]", depth + 1, keys))
    return found


def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (str, int, float)):
        return str(value)
    return ""


# --- INI -------------------------------------------------------------------------------------

_SECTION = re.compile(r"\[(?P<header>.+)\]")
_OPTION = re.compile(r"(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$")
_COMMENTS = ("#", ";")
_READING = re.compile(r"^While reading from .*?\[line\s+\d+\]: ")


class _CaseKeeping(configparser.ConfigParser):
    """Option names as written (``optionxform`` lower-cases them by default)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def ini_keys(text: str, keys: Keys) -> list[Note]:
    """Sections and options from a scan that follows ``configparser``'s reading rules."""
    section: str | None = None
    option: _Option | None = None  # the option whose value may go on over more lines
    indent = 0
    for number, line in enumerate(text.split("\n"), 1):
        value = line.strip()
        if not value or value.startswith(_COMMENTS):
            continue
        current = len(line) - len(line.lstrip())
        if section is not None and option is not None and current > indent:
            option.values.append(value)  # a continuation line of the option's value
            continue
        _add_option(keys, option)
        option, indent = None, current
        header = _SECTION.match(value)
        if header is not None:
            section = header.group("header")
            keys.add(f"[{section}]", number)
            continue
        found = _OPTION.match(value)
        name = found.group("option").rstrip() if found is not None else value
        if name:
            path = f"{section}.{name}" if section is not None else name
            first = found.group("value") if found is not None else ""
            option = _Option(path, number, [first])
    _add_option(keys, option)
    return _ini_problems(text)


@dataclass
class _Option:
    path: str
    line: int
    values: list[str]


def _add_option(keys: Keys, option: _Option | None) -> None:
    """An option with its value; a value that goes on over more lines is marked with …."""
    if option is not None:
        keys.add(option.path, option.line, "\n".join(v for v in option.values if v))


def _ini_problems(text: str) -> list[Note]:
    parser = _CaseKeeping(interpolation=None, allow_no_value=True)
    try:
        parser.read_string(text)
    except configparser.MissingSectionHeaderError as error:
        return [Note("parse-error", "File contains no section headers.", error.lineno)]
    except configparser.ParsingError as error:
        return [
            Note("parse-error", f"Source contains a parsing error: {line}", number)
            for number, line in error.errors
        ]
    except (configparser.DuplicateSectionError, configparser.DuplicateOptionError) as error:
        return [Note("parse-error", _READING.sub("", str(error)), error.lineno or 0)]
    except configparser.Error as error:
        return [Note("parse-error", " ".join(str(error).split()), 0)]
    return []
