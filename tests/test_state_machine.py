"""docs/architecture.md invariant 1 as a hypothesis state machine: after any sequence of
edits, imports, adds, deletes, renames, template and config changes, the incremental output
equals a clean build byte for byte (and the incremental build never writes a page it does
not change)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from buildkit import (
    build,
    clean_build_snapshot,
    contents,
    describe_bytes_difference,
    diff,
    make_tree,
    snapshot,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FOLDERS = ("pkg", "docs")
KINDS = ("py", "md", "yaml", "txt")
NAMES = ("alpha", "beta", "gamma", "delta", "eps")


def content(kind: str, stem: str, version: int, links: tuple[str, ...] = ()) -> str:
    """A small file of a kind; ``links`` are import lines (py) or link targets (md)."""
    if kind == "py":
        imports = "".join(f"{line}\n" for line in links)
        return (f'"""Module {stem}, version {version}."""\n{imports}\n\n'
                f"def {stem}_func(x):\n    return x + {version}\n\n\n"
                f"class {stem.title()}:\n    def run(self):\n        return {version}\n")
    if kind == "md":
        refs = "".join(f"\n[link {i}]({target})\n" for i, target in enumerate(links))
        return f"# {stem.title()} v{version}\n\nText of `{stem}`.\n{refs}\n## Part {version}\n"
    if kind == "yaml":
        return f"{stem}: {version}\nnested:\n  key{version}: value\n"
    return f"{stem} notes, version {version}\n"


class PipelineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="pipeline-sm-"))
        self.src = self.root / "src"
        self.out = self.root / "out"
        # path -> (kind, stem, version, links)
        self.files: dict[str, tuple[str, str, int, tuple[str, ...]]] = {}
        self.depth = 2
        self.env: dict[str, str] = {}
        self.template_variant = 0
        self.builds = 0

    # ------------------------------------------------------------------ helpers
    def _write(self, path: str) -> None:
        kind, stem, version, links = self.files[path]
        make_tree(self.src, {path: content(kind, stem, version, links)})

    def _paths(self) -> list[str]:
        return sorted(self.files)

    def _args(self) -> tuple[str, ...]:
        return ("--depth", str(self.depth))

    # ------------------------------------------------------------------ set-up
    @initialize(template=st.booleans())
    def start(self, template: bool = False) -> None:
        if template:
            self.change_template(True)
        for path, kind, stem in (("pkg/__init__.py", "py", "init"),
                                 ("pkg/alpha.py", "py", "alpha"),
                                 ("docs/guide.md", "md", "guide"),
                                 ("docs/conf.yaml", "yaml", "conf")):
            self.files[path] = (kind, stem, 0, ())
            self._write(path)

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ rules
    @rule(index=st.integers(0, 10), version=st.integers(1, 3))
    def edit_body(self, index: int, version: int) -> None:
        path = self._paths()[index % len(self.files)]
        kind, stem, _old, links = self.files[path]
        self.files[path] = (kind, stem, version, links)
        self._write(path)

    @rule(a=st.integers(0, 10), b=st.integers(0, 10))
    def add_import(self, a: int, b: int) -> None:
        paths = self._paths()
        importer, target = paths[a % len(paths)], paths[b % len(paths)]
        kind, stem, version, links = self.files[importer]
        if kind == "py" and target.endswith(".py"):
            module = target[:-3].replace("/", ".").replace(".__init__", "")
            line = f"import {module}"
        elif kind == "md":
            line = os.path.relpath(target, os.path.dirname(importer))
        else:
            return
        if line not in links:
            self.files[importer] = (kind, stem, version, links + (line,))
            self._write(importer)

    @precondition(lambda self: len(self.files) < 6)
    @rule(folder=st.sampled_from(FOLDERS), kind=st.sampled_from(KINDS),
          name=st.sampled_from(NAMES))
    def add_file(self, folder: str, kind: str, name: str) -> None:
        path = f"{folder}/{name}.{kind}"
        if path not in self.files:
            self.files[path] = (kind, name, 0, ())
            self._write(path)

    @precondition(lambda self: len(self.files) > 3)
    @rule(index=st.integers(0, 10))
    def delete_file(self, index: int) -> None:
        path = self._paths()[index % len(self.files)]
        del self.files[path]
        (self.src / path).unlink()

    @rule(index=st.integers(0, 10), folder=st.sampled_from(FOLDERS), name=st.sampled_from(NAMES))
    def rename_file(self, index: int, folder: str, name: str) -> None:
        path = self._paths()[index % len(self.files)]
        kind = self.files[path][0]
        new = f"{folder}/{name}.{kind}"
        if new in self.files:
            return
        self.files[new] = self.files.pop(path)
        (self.src / new).parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.src / path, self.src / new)

    @rule(enabled=st.sampled_from([True, True, False]))
    def change_template(self, enabled: bool) -> None:
        """An override folder at one path whose content changes (variant 1 <-> 2), or none."""
        folder = self.root / "templates-override"
        if not enabled:
            self.template_variant = 0
            self.env.pop("PIPELINE_TEMPLATES", None)
            return
        self.template_variant = 2 if self.template_variant == 1 else 1
        folder.mkdir(exist_ok=True)
        original = (TEMPLATES / "file_kw.md.j2").read_text(encoding="utf-8")
        marker = "## File Information\n"
        assert marker in original
        (folder / "file_kw.md.j2").write_text(
            original.replace(marker, f"{marker}\nTemplate variant {self.template_variant}.\n", 1),
            encoding="utf-8")
        self.env["PIPELINE_TEMPLATES"] = str(folder)

    @rule(project=st.sampled_from(["", "Alpha", "Beta"]), depth=st.sampled_from([1, 2]))
    def change_config(self, project: str, depth: int) -> None:
        """Project through ``[tool.pipeline]`` in the working folder, depth by flag."""
        pyproject = self.root / "pyproject.toml"
        if project:
            pyproject.write_text(f'[tool.pipeline]\nproject = "{project}"\n', encoding="utf-8")
        else:
            pyproject.unlink(missing_ok=True)
        self.depth = depth

    # ------------------------------------------------------------------ the invariant
    @invariant()
    def incremental_equals_clean(self) -> None:
        if not self.files:
            return
        before = snapshot(self.out)
        build(self.src, self.out, *self._args(), cwd=self.root, env=self.env)
        after = snapshot(self.out)
        change = diff(before, after)
        assert not change.touched, f"pages written with unchanged bytes: {sorted(change.touched)}"
        incremental = contents(after)
        clean = clean_build_snapshot(self.src, self.out, *self._args(), cwd=self.root,
                                     env=self.env)
        assert incremental == clean, describe_bytes_difference(incremental, clean)
        if self.template_variant:
            marker = f"Template variant {self.template_variant}.".encode()
            assert any(marker in data for path, data in incremental.items()
                       if path.endswith("_kw.md")), "the template override was not used"


TestPipelineMachine = PipelineMachine.TestCase
TestPipelineMachine.settings = settings(
    max_examples=12, stateful_step_count=6, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class SmallChunkMachine(PipelineMachine):
    """The same with chunks of two files, so adds, deletes and renames move files across
    chunk bounds: extractions are then found in neighbouring chunks' records and in the
    versions a chunk keeps, and the output must still equal a clean build."""

    def __init__(self) -> None:
        super().__init__()
        from pipeline import graph

        self.saved_chunk = graph.CHUNK
        graph.CHUNK = 2

    def teardown(self) -> None:
        from pipeline import graph

        graph.CHUNK = self.saved_chunk
        super().teardown()


TestSmallChunkMachine = SmallChunkMachine.TestCase
TestSmallChunkMachine.settings = TestPipelineMachine.settings
