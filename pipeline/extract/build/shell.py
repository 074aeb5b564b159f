"""Shell scripts through tree-sitter-bash: functions, top-level variables, risky commands."""

from __future__ import annotations

from tree_sitter import Node

from pipeline.extract.keys import preview
from pipeline.extract.tsnodes import (
    end_line,
    line,
    parse,
    syntax_notes,
    text_before,
    text_of,
    walk,
)
from pipeline.records import Extraction, Finding, Symbol

SHELLS = frozenset(("sh", "bash", "zsh", "dash", "ksh"))
DOWNLOADERS = frozenset(("curl", "wget"))
# Commands that run their first non-option argument as a command (``sudo bash``).
_WRAPPERS = frozenset(("sudo", "env", "exec", "command", "nohup"))
# Declarations that define a variable for the script (``local`` belongs to a function).
_DECLARERS = frozenset(("export", "readonly", "declare", "typeset"))
# Variables assigned in these run elsewhere (a subshell, a function, or one command's env).
_NOT_TOP = frozenset(
    (
        "function_definition",
        "subshell",
        "command_substitution",
        "process_substitution",
        "pipeline",
        "command",
        "heredoc_body",
        "string",
        "raw_string",
    )
)


def extract(text: str) -> Extraction:
    root = parse("bash", text)
    symbols = _functions(root) + _variables(root)
    return Extraction(
        language="shell",
        symbols=tuple(symbols),
        findings=tuple(_findings(root)),
        notes=tuple(syntax_notes(root, "bash")),
    )


def _functions(root: Node) -> list[Symbol]:
    found: list[Symbol] = []
    for node in walk(root):
        if node.type == "function_definition":
            name = text_of(node.child_by_field_name("name"))
            body = node.child_by_field_name("body")
            header = text_before(node, body) if body else name
            signature = " ".join(header.split())
            found.append(Symbol("function", name, line(node), end_line(node), signature))
    return found


def _variables(root: Node) -> list[Symbol]:
    """Assignments and declarations outside functions, subshells and command prefixes."""
    found: dict[str, Symbol] = {}
    for node in walk(root, _NOT_TOP):
        if node.type == "variable_assignment" and node.parent is not None:
            if node.parent.type == "declaration_command" and not _declares(node.parent):
                continue
            name = text_of(node.child_by_field_name("name"))
            value = text_of(node.child_by_field_name("value"))
            found.setdefault(name, Symbol("variable", name, line(node), value=preview(value)))
        elif node.type == "variable_name" and node.parent is not None:
            if node.parent.type == "declaration_command" and _declares(node.parent):
                name = text_of(node)  # ``export NAME`` without a value
                found.setdefault(name, Symbol("variable", name, line(node)))
    return list(found.values())


def _declares(node: Node) -> bool:
    keyword = node.children[0].type if node.children else ""
    return keyword in _DECLARERS


def _findings(root: Node) -> list[Finding]:
    found: list[Finding] = []
    for node in walk(root):
        remote: tuple[str, str] | None = None
        if node.type == "command" and _name(node) == "eval":
            detail = "`eval` runs a string as shell code."
            found.append(Finding("security", "Code execution", line(node), detail))
        elif node.type == "pipeline":
            remote = _piped_to_shell(node)
        elif node.type == "command":
            remote = _substituted_into_shell(node)
        if remote is not None:
            detail = f"What `{remote[0]}` downloads is run by `{remote[1]}` unchecked."
            found.append(Finding("security", "Remote script piped to shell", line(node), detail))
    return found


def _piped_to_shell(pipeline: Node) -> tuple[str, str] | None:
    """``curl URL | sh`` (``| sudo bash -s``): a downloader upstream of a shell."""
    downloader = ""
    for command in pipeline.named_children:
        if command.type != "command":
            continue
        if _name(command) in DOWNLOADERS:
            downloader = _name(command)
        elif downloader and _shell_of(command):
            return downloader, _shell_of(command)
    return None


def _substituted_into_shell(command: Node) -> tuple[str, str] | None:
    """``bash <(curl URL)`` and ``sh -c "$(curl URL)"``."""
    shell = _shell_of(command)
    if not shell:
        return None
    for argument in command.children_by_field_name("argument"):
        for inner in walk(argument):
            if inner.type not in ("process_substitution", "command_substitution"):
                continue
            for nested in walk(inner):
                if nested.type == "command" and _name(nested) in DOWNLOADERS:
                    return _name(nested), shell
    return None


def _shell_of(command: Node) -> str:
    """The shell the command runs: itself, or a wrapper's command (``sudo bash``); "" if none."""
    name = _name(command)
    if name in SHELLS:
        return name
    if name not in _WRAPPERS:
        return ""
    for argument in command.children_by_field_name("argument"):
        if argument.end_byte - argument.start_byte > _LONGEST_NAME:
            return ""
        word = text_of(argument)
        if not word.startswith("-") and "=" not in word:
            shell = word.rsplit("/", 1)[-1]
            return shell if shell in SHELLS else ""
    return ""


# No command name is longer. A longer "name" is code (``$($(...))``): reading its text at
# every level of such nesting made the extraction quadratic in the file's size.
_LONGEST_NAME = 4096


def _name(command: Node) -> str:
    """The command's name without its directory (``/bin/bash`` is ``bash``); "" for a
    name too long to be one."""
    name = command.child_by_field_name("name")
    if name is not None and name.end_byte - name.start_byte > _LONGEST_NAME:
        return ""
    return text_of(name).rsplit("/", 1)[-1]
