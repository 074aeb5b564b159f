"""Golden-case helpers: compare produced bytes with checked-in expectations.

Set ``REGEN_GOLDEN=1`` to rewrite the expectations instead; review them as a diff.
"""

from __future__ import annotations

import os
from pathlib import Path

CASES = Path(__file__).parent / "cases"
REGEN = os.environ.get("REGEN_GOLDEN") == "1"


def extraction_cases() -> list[Path]:
    """The sources of the extraction cases: every file under ``cases/extract`` but the
    expectations (``NAME.json`` beside ``NAME``) and dot-folders."""
    root = CASES / "extract"
    if not root.exists():
        return []
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not (p.suffix == ".json" and p.with_suffix("").is_file())
        and not any(part.startswith(".") for part in p.relative_to(root).parts[:-1])
    )


def expectation(source: Path) -> Path:
    """The stored extraction of an extraction case's source."""
    return source.with_name(source.name + ".json")


def assert_golden(expected_path: Path, actual: bytes) -> None:
    """Equal to the stored expectation, or (with REGEN_GOLDEN=1) store it."""
    if REGEN or not expected_path.exists():
        if not REGEN:
            raise AssertionError(f"missing expectation {expected_path}; run with REGEN_GOLDEN=1")
        expected_path.parent.mkdir(parents=True, exist_ok=True)
        expected_path.write_bytes(actual)
        return
    expected = expected_path.read_bytes()
    assert actual.decode("utf-8") == expected.decode("utf-8"), f"golden mismatch: {expected_path}"
