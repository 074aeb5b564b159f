"""Where pages live: the facts every page link needs beyond the record itself."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from pipeline import layout


def _default_templates() -> Path:
    """The page templates: ``pipeline/templates/`` where the package is installed from a
    wheel, else the checkout's top-level ``templates/`` (an editable install, a clone)."""
    package = Path(__file__).resolve().parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


TEMPLATES = _default_templates()


@dataclass(frozen=True, slots=True)
class PageSite:
    """Where pages live: what links need beyond the record itself."""

    source_root: str  # absolute
    output_root: str  # absolute
    mirror: str
    project: str
    roles: tuple[tuple[str, str], ...]
    max_source_bytes: int
    max_tests: int
    max_related: int
    templates: str = ""
    # The templates' contents (graph.templates_digest): a process keeps each template it
    # loaded under it, rather than asking the file's mtime for every page ("": ask).
    templates_digest: str = ""

    def source_link(self, page: str, path: str, layer: int) -> str:
        """Link from a page to the documented file itself (in S, or a page in O)."""
        if layer >= 2:
            return layout.relative(page, layout.page_of_input(path, layer, self.mirror))
        start = posixpath.join(self.output_root, posixpath.dirname(page))
        return layout.url(posixpath.relpath(posixpath.join(self.source_root, path), start))
