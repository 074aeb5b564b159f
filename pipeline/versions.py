"""The versions of the parsers each language's extraction uses. They are part of its records'
keys and of its extraction tasks' stamps, so an upgraded parser re-extracts exactly the files
of the languages it reads.

Read from the names of the installed distributions' metadata folders
(``NAME-VERSION.dist-info``) on ``sys.path``: a listing of a few folders, once per process.
``importlib.metadata`` takes about 100 ms to import and query, on every no-op build.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache

_PYTHON = "python"  # the interpreter: its ast, tokenize, json, tomllib, configparser, shlex


def _grammar(name: str) -> tuple[str, ...]:
    """tree-sitter and a grammar's distribution (the modules of ``tsnodes.GRAMMARS``, named
    here so that a no-op build does not import tree-sitter; a test holds them equal)."""
    return ("tree-sitter", f"tree-sitter-{name}")


# language -> the distributions (or the interpreter) its extractor parses with
PARSERS: dict[str, tuple[str, ...]] = {
    "python": ("libcst", _PYTHON),
    "c": _grammar("c"),
    "cpp": _grammar("cpp"),
    "cuda": _grammar("cuda"),
    "markdown": ("markdown-it-pyrs", "markdown-it-py"),
    "rst": ("docutils",),
    "yaml": ("pyyaml",),
    "json": (_PYTHON,),
    "toml": (_PYTHON,),
    "ini": (_PYTHON,),
    "shell": _grammar("bash"),
    "cmake": _grammar("cmake"),
    "make": _grammar("make"),
    "docker": (_PYTHON,),
    "bazel": (_PYTHON,),
    "text": (),
}


def _normal(name: str) -> str:
    """A distribution's name as its metadata folder spells it (PEP 503, lower case)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def installed() -> dict[str, str]:
    """Normalised name -> version of every distribution on ``sys.path`` (the first found,
    as import would), and the interpreter's version under ``python``."""
    found: dict[str, str] = {}
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                distribution, _, version = name.rsplit(".", 1)[0].partition("-")
                found.setdefault(_normal(distribution), version.partition("-")[0])
    found[_PYTHON] = "{}-{}.{}.{}".format(sys.implementation.name, *sys.version_info[:3])
    return found


@cache
def parser_versions() -> dict[str, str]:
    """Language -> ``name==version`` of each parser it uses (``absent`` when missing)."""
    versions = installed()
    return {language: " ".join(f"{name}=={versions.get(_normal(name), 'absent')}"
                               for name in names)
            for language, names in PARSERS.items()}
