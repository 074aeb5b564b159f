"""Bidirectional control and invisible characters in any text: the "Trojan Source" attack
(CVE-2021-42574) makes code read differently from how it runs. One pure function for every
language; :func:`pipeline.extract.extract` adds its findings to each extraction."""

from __future__ import annotations

import re
import unicodedata

from pipeline.records import Finding

BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
_PATTERN = re.compile("[" + "".join(sorted(BIDI | INVISIBLE)) + "]")


def _name(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'UNNAMED')}"


def hidden_findings(text: str) -> tuple[Finding, ...]:
    """One security finding per line holding bidirectional control or invisible characters,
    naming each distinct code point. A byte order mark at the very start is not reported."""
    if text.isascii() or _PATTERN.search(text) is None:  # nearly every text: one pass in C
        return ()
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        chars = _PATTERN.findall(line)
        if number == 1 and line.startswith("\ufeff"):
            chars = chars[1:]
        if not chars:
            continue
        names = ", ".join(_name(c) for c in sorted(set(chars), key=chars.index))
        if any(c in BIDI for c in chars):
            label = "Bidirectional control character"
            detail = (f"{names}: text can display in a different order from how it is read "
                      "(\"Trojan Source\", CVE-2021-42574)")
        else:
            label = "Invisible character"
            detail = (f"{names}: identifiers or strings can differ from how they look "
                      "(\"Trojan Source\", CVE-2021-42574)")
        findings.append(Finding("security", label, number, detail))
    return tuple(findings)
