"""Findings rows name what was found at each line, also when many share a label."""

from __future__ import annotations

from pipeline.records import Finding
from pipeline.render import _findings

STREAMS = """import torch


def run(data):
    s = torch.cuda.default_stream()
    e = torch.cuda.ExternalStream(data)
    c = torch.cuda.current_stream()
    torch.cuda.current_stream().synchronize()
    torch.cuda.default_stream()
    return torch.cuda.current_device()
"""


def test_many_findings_of_one_label_keep_each_lines_construct() -> None:
    from pipeline.extract import extract

    findings = extract(STREAMS, "python").findings
    rows = _findings(findings)["performance"]
    assert rows == [{
        "label": "CUDA", "lines": "6 places",
        "detail": "Lines 5, 9: Uses `torch.cuda.default_stream`. "
                  "Line 6: Uses `torch.cuda.ExternalStream`. "
                  "Lines 7, 8: Uses `torch.cuda.current_stream`. "
                  "Line 10: Uses `torch.cuda.current_device`.",
    }]


def test_few_findings_keep_one_row_each() -> None:
    found = (Finding("security", "eval", 3, "Builtin `eval`."),
             Finding("security", "eval", 7, "Builtin `eval` again."))
    assert _findings(found)["security"] == [
        {"label": "eval", "lines": "line 3", "detail": "Builtin `eval`."},
        {"label": "eval", "lines": "line 7", "detail": "Builtin `eval` again."},
    ]
