"""The JSON contract: every stored extraction validates against the checked-in schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from golden import CASES

SCHEMA = json.loads((Path(__file__).parent / "schema/extraction.schema.json").read_text())
EXPECTED = sorted(p for p in (CASES / "extract").rglob("*.json")
                  if p.with_suffix("").is_file() and not p.with_suffix("").name.endswith(".json")
                  or p.name.endswith(".json.json"))


@pytest.mark.parametrize("path", EXPECTED, ids=[str(p.relative_to(CASES)) for p in EXPECTED])
def test_golden_extraction_matches_schema(path: Path) -> None:
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), SCHEMA)


def test_schema_rejects_a_foreign_record() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"language": "python", "symbols": "nope"}, SCHEMA)
