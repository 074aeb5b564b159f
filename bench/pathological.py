"""Extract pathological inputs, each by `python -m pipeline.isolate` (as a build extracts a
large source), and time them.

    python bench/pathological.py [--seconds S] [NAME ...]

Each case is a text made here (no corpus needed): deep nesting, long runs of one
construct, huge flat literals, for every language family. A case passes when its file is
extracted within ``--seconds`` (default 30) with no ``internal-error`` note: a parser that
takes quadratic time on some shape, or an extractor that raises, would hold or hurt a build
on such a file. Prints one line per case (size, time, symbols, notes); exits 1 when one
fails. Cases named on the command line run alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable


def _lines(count: int, line: Callable[[int], str]) -> str:
    return "".join(line(i) for i in range(count))


CASES: dict[str, tuple[str, Callable[[], str]]] = {
    "cpp-nested-if": ("cpp", lambda: "#if A\n" * 20000 + "int x;\n" + "#endif\n" * 20000),
    "cpp-deep-condition": ("cpp", lambda: "#if " + "(" * 50000 + "A" + ")" * 50000
                           + "\nint f();\n#endif\n"),
    "cpp-long-condition": ("cpp", lambda: "#if " + " * ".join(["99999999999"] * 100000)
                           + "\nint x;\n#endif\n"),
    "cpp-elif-chain": ("cpp", lambda: "#if A\n" + "#elif B\n" * 20000 + "#endif\n"),
    "cpp-sequential-ifs": ("cpp", lambda: "#if A\nint x;\n#endif\n" * 50000),
    "cpp-defines": ("cpp", lambda: _lines(100000, lambda i: f"#define M{i} {i}\n")),
    "cpp-angles": ("cpp", lambda: "template<" * 20000 + "x"),
    "cpp-parentheses": ("cpp", lambda: "int x = " + "(" * 100000 + "1" + ")" * 100000 + ";"),
    "cpp-macro-lines": ("cpp", lambda: "#define X \\\n" + "a \\\n" * 200000 + "\n"),
    "cpp-garbage": ("cpp", lambda: "a<b>(c[d]{e;f:g?h)" * 20000),
    "c-pointers": ("c", lambda: "int " + "*" * 200000 + "x;"),
    "markdown-reference-run": ("markdown", lambda: _lines(100000, lambda i: f"[a{i}]: /u{i}\n")
                               + "[a1]" * 100000),
    "markdown-quoted-references": ("markdown", lambda: _lines(
        20000, lambda i: f"> [a{i}]: /u{i}\n")),
    "markdown-brackets": ("markdown", lambda: "[" * 200000),
    "markdown-emphasis": ("markdown", lambda: "*a " * 100000),
    "markdown-deep-quotes": ("markdown", lambda: "> " * 5000 + "x\n" + "[a](b) `c_d`\n" * 10000),
    "markdown-wide-table": ("markdown", lambda: "|" + "a|" * 4000 + "\n|" + "-|" * 4000 + "\n"
                            + ("|" + "b|" * 4000 + "\n") * 200),
    "markdown-unclosed-fence": ("markdown", lambda: "```\n" + "x_1 = [a](b)\n" * 200000),
    "markdown-links": ("markdown", lambda: _lines(200000, lambda i: f"[l{i}](/p/{i}) ")),
    "rst-indents": ("rst", lambda: _lines(3000, lambda i: " " * i + "x\n\n")),
    "rst-substitutions": ("rst", lambda: _lines(5000, lambda i: f".. |a{i}| replace:: |a{i + 1}|\n")
                          + "\n|a0|\n"),
    "rst-targets": ("rst", lambda: _lines(
        5000, lambda i: f".. _t{i}:\n\nT{i}\n{'=' * (len(str(i)) + 1)}\n\nsee t{i}_\n\n")),
    "python-dict": ("python", lambda: "x = {" + ",".join(f"{i}:{i}" for i in range(100000))
                    + "}\n"),
    "python-calls": ("python", lambda: "x = f" + "(1)" * 100000),
    "python-attributes": ("python", lambda: "x = a" + ".b" * 200000),
    "python-fstrings": ("python", lambda: "x = " + 'f"{' * 200 + "1" + '}"' * 200),
    "python-lambdas": ("python", lambda: "x = " + "lambda: " * 400 + "1"),
    "python-methods": ("python", lambda: "class C:\n" + _lines(
        50000, lambda i: f"    def m{i}(self): return {i}\n")),
    "python-walrus": ("python", lambda: _lines(30000, lambda i: f"if (a{i} := {i}): pass\n")),
    "python-doctests": ("python", lambda: 'def f():\n    """\n' + "    >>> f()\n    1\n" * 50000
                        + '    """\n'),
    "yaml-laughs": ("yaml", lambda: 'a0: &a0 ["l","l","l","l","l","l","l","l","l"]\n' + _lines(
        11, lambda i: f"a{i + 1}: &a{i + 1} [" + ",".join([f"*a{i}"] * 9) + "]\n")),
    "yaml-deep": ("yaml", lambda: "[" * 100000),
    "json-deep": ("json", lambda: "[" * 100000 + "]" * 100000),
    "json-flat": ("json", lambda: "[" + ",".join(["1"] * 1000000) + "]"),
    "toml-deep": ("toml", lambda: "a = " + "[" * 100000 + "]" * 100000),
    "ini-keys": ("ini", lambda: "[s]\n" + _lines(300000, lambda i: f"k{i} = v\n")),
    "shell-substitutions": ("shell", lambda: "$(" * 20000),
    "cmake-calls": ("cmake", lambda: "set(" * 50000),
    "make-references": ("make", lambda: "$(" * 50000),
    "bazel-lists": ("bazel", lambda: "x = " + "[" * 10000 + "]" * 10000),
    "docker-continuations": ("docker", lambda: "RUN " + "a \\\n" * 100000),
    "text-hidden": ("text", lambda: "\u202e" * 500000),
}


def run_case(language: str, text: str, seconds: float) -> tuple[float, str, bool]:
    """Extract ``text`` as a build extracts a large source, in ``python -m pipeline.isolate``:
    its time, what it found (or why it failed), and whether it failed."""
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "pipeline.isolate", language],
                              input=text.encode("utf-8", "surrogatepass"),
                              capture_output=True, timeout=seconds, check=False)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - started, f"not done within {seconds:g} s", True
    took = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        return took, f"exit {done.returncode}: {' '.join(tail)}", True
    found = json.loads(done.stdout)
    notes = sorted({note["kind"] for note in found.get("notes", [])})
    return (took, f"{len(found.get('symbols', []))} symbols, notes {notes}",
            "internal-error" in notes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("names", nargs="*", metavar="NAME")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(CASES))
    if unknown:
        parser.error(f"no case named {', '.join(unknown)} (cases: {', '.join(CASES)})")
    failed = 0
    for name in args.names or list(CASES):
        language, make = CASES[name]
        text = make()
        took, shown, bad = run_case(language, text, args.seconds)
        failed += bad
        print(f"{'FAIL' if bad else 'PASS'}  {name:28s} {len(text) / 1e6:6.2f} MB "
              f"{took:6.2f} s  {shown}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
