"""Every extraction case under tests/cases/extract gives its stored JSON, twice alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden import CASES, assert_golden, expectation, extraction_cases

from pipeline.extract import extract
from pipeline.files import decode, dump_json
from pipeline.filetypes import file_type
from pipeline.records import extraction_from_dict, to_dict

EXTRACT = CASES / "extract"
SOURCES = extraction_cases()


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(EXTRACT)) for p in SOURCES])
def test_extract_case(source: Path) -> None:
    text = decode(source.read_bytes()).text
    language = file_type(source.name).language
    first = extract(text, language)
    data = dump_json(to_dict(first))
    # Deterministic and round-trips through its JSON form.
    assert dump_json(to_dict(extract(text, language))) == data
    assert extraction_from_dict(to_dict(first)) == first
    assert_golden(expectation(source), data)
