"""The JSON contract: the stored extraction of every extraction case validates against the
checked-in schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from golden import CASES, expectation, extraction_cases

SCHEMA = json.loads((Path(__file__).parent / "schema/extraction.schema.json").read_text())
EXPECTED = [expectation(source) for source in extraction_cases()]


@pytest.mark.parametrize("path", EXPECTED, ids=[str(p.relative_to(CASES)) for p in EXPECTED])
def test_golden_extraction_matches_schema(path: Path) -> None:
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), SCHEMA)


def test_schema_rejects_a_foreign_record() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"language": "python", "symbols": "nope"}, SCHEMA)
