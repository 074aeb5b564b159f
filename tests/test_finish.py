"""Page hygiene (``render.finish``) against a line-by-line reference model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.render import finish


def reference(text: str) -> str:
    """The rule, one line at a time: outside fences, right-strip every line and drop a
    blank line that follows a blank line; inside a fence (opened by a line starting with
    three or more backticks, closed by a line of at least as many backticks), keep every
    byte; one final newline."""
    out: list[str] = []
    fence = ""
    for line in text.split("\n"):
        if fence:
            if line.startswith(fence) and line.rstrip().strip("`") == "":
                fence = ""
                line = line.rstrip()
            out.append(line)
            continue
        line = line.rstrip()
        if line.startswith("```"):
            fence = line[: len(line) - len(line.lstrip("`"))]
        elif line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


PIECES = st.sampled_from([
    "`", "```", "````", "\n", " ", "\t", "a", "x y", "\n\n", "```py\n", "\n```\n", " \n",
    "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u00a0", "\u3000", "\x1f", "\u200b",
])


@settings(max_examples=1500, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_finish_matches_the_line_model(text: str) -> None:
    assert finish(text) == reference(text)


def test_fenced_source_is_kept_byte_for_byte() -> None:
    source = "x = 1   \n\n\n\ny = '```'  \n"
    page = f"# T  \n\n\n\n````python\n{source}````   \n\n\n\nend  "
    assert finish(page) == f"# T\n\n````python\n{source}````\n\nend\n"
