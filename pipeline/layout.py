"""Pure path algebra: inputs of every layer, their pages, folder pages and relative links.

Paths here are POSIX strings relative to the output root ``O`` (pages) or to the
repository (inputs). Layer 1 inputs are source files; layer k+1 inputs are the file
pages of layer k, named ``<mirror>/<page path under O>`` so the whole page tree
of layer k+1 lives below ``O/<mirror>/``.
"""

from __future__ import annotations

import functools
import hashlib
import posixpath
import re
from urllib.parse import quote

FOLDER_PAGES = ("index.md", "doc.md", "sub.md")
KEYWORDS_KEY = "\0keywords"  # state key of keywords.md's page record (no folder is named so)
STATE = ".pipeline"


def mirror_name(output_name: str, top_level: frozenset[str]) -> str:
    """The folder under ``O`` that holds layer 2+: the output's name, unless the source
    tree has a top-level entry of that name (then suffixed until it is free)."""
    name = output_name
    while name in top_level or name == STATE:
        name += "_pages"
    return name


def docs_page(path: str) -> str:
    return path + "_docs.md"


def kw_page(path: str) -> str:
    return path + "_kw.md"


def file_pages(path: str) -> tuple[str, str]:
    return docs_page(path), kw_page(path)


def next_layer_input(page: str, mirror: str) -> str:
    """The input path (layer k+1) of a layer-k page."""
    return f"{mirror}/{page}"


def page_of_input(path: str, layer: int, mirror: str) -> str:
    """For a layer >= 2 input, the page under ``O`` it documents."""
    prefix = mirror + "/"
    assert layer >= 2 and path.startswith(prefix), (path, layer)
    return path[len(prefix):]


def source_of(path: str, mirror: str, page: bool = False) -> str:
    """The layer-1 source an input path (or, with ``page``, a page path) stands for:
    ``M/M/D/N_docs.md_kw.md`` -> ``D/N``. One page suffix per mirror prefix (and one more
    for a page), so a source named ``x_docs.md`` keeps its name."""
    prefix = mirror + "/"
    depth = 1 if page else 0
    while path.startswith(prefix):
        path = path[len(prefix):]
        depth += 1
    for _ in range(depth):
        path = path.removesuffix("_docs.md") if path.endswith("_docs.md") \
            else path.removesuffix("_kw.md")
    return path


def layer_of(path: str, mirror: str) -> int:
    """Layer of an input or folder path: 1 + the number of leading mirror components."""
    layer = 1
    prefix = mirror + "/"
    while path == mirror or path.startswith(prefix):
        layer += 1
        path = path[len(prefix):] if path != mirror else ""
    return layer


def folder_of(path: str) -> str:
    return posixpath.dirname(path)


def parent_folders(folder: str) -> list[str]:
    """``a/b/c`` -> ``['a/b/c', 'a/b', 'a', '']``."""
    chain = [folder]
    while folder:
        folder = posixpath.dirname(folder)
        chain.append(folder)
    return chain


def folder_page(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def display_folder(folder: str) -> str:
    return folder or "root"


def relative(from_page: str, to_path: str) -> str:
    """A relative link from one page to another path under ``O``, URL-encoded."""
    return _relative(from_page.rpartition("/")[0], to_path)


@functools.lru_cache(maxsize=1 << 16)
def _relative(start_dir: str, to_path: str) -> str:
    # Both are normalised paths under O, so a component walk gives what posixpath.relpath
    # gives, without its abspath calls. Cached: the pages of one folder link to the same
    # neighbours, and every page holds dozens of links.
    start = start_dir.split("/") if start_dir else []
    target = to_path.split("/") if to_path else []
    common = 0
    while common < min(len(start), len(target)) and start[common] == target[common]:
        common += 1
    rel = "/".join([".."] * (len(start) - common) + target[common:]) or "."
    if not rel.startswith("../") and rel != "..":
        rel = "./" + rel
    return url(rel)


def docs_link(from_page: str, path: str, anchor: str = "") -> str:
    """The link from a page to the ``N_docs.md`` page of ``path`` (at ``anchor``)."""
    return relative(from_page, docs_page(path)) + (f"#{anchor}" if anchor else "")


_URL_SAFE = re.compile(r"[A-Za-z0-9/._~-]*")


def url(path: str) -> str:
    """Percent-encode a POSIX relative path for a markdown link destination."""
    if _URL_SAFE.fullmatch(path):
        return path  # what quote() returns for it, found without building a new string
    return quote(path, safe="/.-_~")


# --------------------------------------------------------------------------- state files

def chunk_names(folder: str, count: int, size: int) -> list[str]:
    """Names of the chunks of a folder holding ``count`` inputs, ``size`` per chunk."""
    if count <= size:
        return [folder]
    return [f"{folder}#{index}" for index in range((count + size - 1) // size)]


def state_file(kind: str, name: str) -> str:
    """Path under ``O`` of one state file (records, summary, ctx, folder facts, manifest)."""
    return f"{STATE}/{kind}/{_state_digest(name)}.json"


@functools.lru_cache(maxsize=1 << 16)
def _state_digest(name: str) -> str:
    """Cached: every chunk and folder name is hashed for several kinds on every build."""
    return hashlib.blake2b(name.encode("utf-8"), digest_size=10).hexdigest()


def cache_file(key: str) -> str:
    return f"{STATE}/cache/{key[:2]}/{key}.json"
