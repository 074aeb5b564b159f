"""Config -> the sorted inputs of every layer, their pages, and the folders that hold them.

Text versus binary is decided by content (a NUL in the first 8 KiB); that one read
per file is cached by (size, mtime) so a no-op build only stats the tree.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import filestate, layout
from pipeline.config import Config
from pipeline.files import SNIFF_BYTES, dump_state, looks_binary, write_if_changed
from pipeline.filetypes import PAGE, FileType, file_type
from pipeline.stateio import load_state_or, pack

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".tox", ".nox", ".venv", "venv", "build", "dist", ".hypothesis"}
)


@dataclass(frozen=True, slots=True)
class Input:
    """One file to document: its repository path, layer, type and where its bytes live."""

    path: str
    layer: int
    disk: str  # absolute path to read
    type: FileType
    test: bool = False  # a test file as its test runner finds them (pytest's python_files)

    @property
    def folder(self) -> str:
        return self.path.rpartition("/")[0]  # layout.folder_of, for every input of a build


@dataclass(frozen=True, slots=True)
class Inventory:
    """All inputs of all layers, sorted by (layer, path), plus what the walk passed over."""

    mirror: str
    inputs: tuple[Input, ...]
    binaries: tuple[tuple[str, int], ...] = ()  # (path, size) of binary files, layer 1
    skipped_links: tuple[str, ...] = ()
    special: tuple[str, ...] = ()  # FIFOs, sockets and devices: no content to document
    unnamed: tuple[str, ...] = ()  # names that are not UTF-8 (shown escaped): no page
    too_long: tuple[str, ...] = ()  # inputs of any layer whose pages' names would not fit
    chunks: dict[str, tuple[Input, ...]] = field(default_factory=dict)  # folder -> inputs
    sizes: dict[str, int] = field(default_factory=dict, compare=False, repr=False)  # layer 1
    folder_list: tuple[str, ...] = field(default=(), compare=False, repr=False)  # derived

    def __post_init__(self) -> None:
        seen: set[str] = {""}
        for folder in self.chunks:
            seen.update(layout.parent_folders(folder))
        for path, _size in self.binaries:
            seen.update(layout.parent_folders(layout.folder_of(path)))
        object.__setattr__(self, "folder_list", tuple(sorted(seen)))

    def folders(self) -> list[str]:
        """Every folder that holds an input at any depth, and the root, sorted."""
        return list(self.folder_list)


@dataclass(frozen=True, slots=True)
class Scan:
    """One stat-walk of the source tree: what discovery and the quick no-op check read."""

    files: dict[str, list[int]]  # path -> [size, mtime_ns, ctime_ns, inode], in walk order
    links: tuple[str, ...]  # symlinks met (never followed)
    taken: int  # the file-time clock before the walk (filestate.settled_at)
    special: tuple[str, ...] = ()  # FIFOs, sockets and devices met (never opened)
    unnamed: tuple[str, ...] = ()  # entries whose names are not UTF-8, escaped (not entered)


def scan_tree(config: Config) -> Scan:
    """Stat every file discovery may document (sorted walk, symlinks never followed, skipped
    and excluded folders not entered, the output folder left out); reads no content."""
    taken = filestate.now_ns()
    files: dict[str, list[int]] = {}
    links: list[str] = []
    special: list[str] = []
    unnamed: list[str] = []
    _walk(Path(config.source), "", config, _exclude_spec(config.exclude),
          Path(config.output), files, links, special, unnamed)
    return Scan(files, tuple(links), taken, tuple(special), tuple(unnamed))


def discover_sources(config: Config, root: str = "", *, save_cache: bool = True,
                     scan: Scan | None = None) -> Inventory:
    """Walk the source tree (or take the walk ``scan`` already made) and derive every
    layer's inputs (pure paths after the walk).

    ``root`` is where pages are written and read back (``config.output`` unless a check
    builds into a scratch folder); the configured output names the mirror and is skipped.
    """
    source = Path(config.source)
    output = Path(config.output)
    written = Path(root or config.output)
    cache_path = written / layout.STATE / "discover.json"
    cache = _load_cache(cache_path)
    new_cache: dict[str, list[int]] = {}
    scan = scan or scan_tree(config)
    texts: list[str] = []
    binaries: list[tuple[str, int]] = []
    # plain string joins: these lists hold every input of every layer
    base, pages_base = str(source).rstrip("/"), str(written).rstrip("/")
    for path, info in scan.files.items():
        key = info[:2]
        cached = cache.get(path)
        if cached is not None and cached[:2] == key:
            binary: bool | None = bool(cached[2])
        else:
            binary = sniff(f"{base}/{path}", info)
        if binary is not None:  # an unreadable file is sniffed again next run
            new_cache[path] = key + [int(binary)]
        if binary:
            binaries.append((path, info[0]))
        else:
            texts.append(path)
            filestate.remember_stat(f"{base}/{path}", info[0], info[1])
    if save_cache and (new_cache != cache) and written.is_dir():
        write_if_changed(cache_path, pack(dump_state(new_cache)))

    top = frozenset(p.split("/", 1)[0] for p in texts) | frozenset(
        p.split("/", 1)[0] for p, _ in binaries
    )
    mirror = layout.mirror_name(output.name, top)
    # the quick no-op check imports this module for scan_tree alone: not these rules
    from pipeline.analyze import is_test_file

    configs = _pytest_configs(base, texts)
    inputs = []
    too_long: list[str] = []  # inputs of any layer whose pages' names would not fit
    for p in texts:
        if not _pages_fit(p):
            too_long.append(p)
            continue
        kind = file_type(p.rsplit("/", 1)[-1])
        inputs.append(Input(p, 1, f"{base}/{p}", kind, is_test_file(p, kind.language, configs)))
    layer_inputs = inputs
    for layer in range(2, config.depth + 1):
        pages: list[Input] = []
        for item in layer_inputs:
            for page in layout.file_pages(item.path):
                path = layout.next_layer_input(page, mirror)
                if _pages_fit(page):  # the input's name is its page's
                    pages.append(Input(path, layer, f"{pages_base}/{page}", PAGE))
                else:
                    too_long.append(path)
        inputs.extend(pages)
        layer_inputs = pages
    chunks: dict[str, list[Input]] = defaultdict(list)
    for item in inputs:
        chunks[item.folder].append(item)
    return Inventory(
        mirror=mirror,
        inputs=tuple(inputs),
        binaries=tuple(binaries),
        skipped_links=scan.links,
        special=scan.special,
        unnamed=scan.unnamed,
        too_long=tuple(too_long),
        chunks={folder: tuple(items) for folder, items in sorted(chunks.items())},
        sizes={path: scan.files[path][0] for path in texts},
    )


# The longest file name of the file systems a build writes to (ext4, XFS, btrfs, tmpfs,
# APFS: 255 bytes), fixed so that every machine documents the same files.
NAME_MAX = 255
_LONGEST_SUFFIX = len(layout.docs_page(""))  # "_docs.md"; "_kw.md" is shorter


def _pages_fit(path: str) -> bool:
    """Whether the names of the input's pages fit a file system's limit: a source named
    with 248 or more bytes could never have its ``_docs.md`` page (the build failed writing
    it), and at 240 or more its pages' pages are out of reach."""
    length = len(path) - path.rfind("/") - 1
    if 4 * length + _LONGEST_SUFFIX <= NAME_MAX:  # UTF-8: 4 bytes a character at most
        return True
    name = path[len(path) - length:]
    return len(name.encode("utf-8", "surrogateescape")) + _LONGEST_SUFFIX <= NAME_MAX


def _pytest_configs(base: str, texts: list[str]) -> dict[str, tuple[str, ...]]:
    """Folder -> ``python_files`` of the pytest configurations among the sources (a few
    small files; one that cannot be read is no configuration)."""
    from pipeline import pytestconf

    found: dict[str, str] = {}
    for path in texts:
        if path.rpartition("/")[2] in pytestconf.CONFIG_NAMES:
            try:
                with open(f"{base}/{path}", encoding="utf-8", errors="replace") as handle:
                    found[path] = handle.read()
            except OSError:
                continue
    return pytestconf.configs_of(found) if found else {}


def _walk(
    directory: Path,
    rel: str,
    config: Config,
    spec: Any,
    output: Path,
    files: dict[str, list[int]],
    links: list[str],
    special: list[str],
    unnamed: list[str],
) -> None:
    """Stat ``directory`` and below into ``files``, the symlinks met into ``links``, the
    special files (FIFOs, sockets, devices: opening a FIFO would wait for a writer) into
    ``special``, and the files and folders whose names are not UTF-8 into ``unnamed``
    (escaped: a page's name and links, and the build's state, are UTF-8 text)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        if not entry.name.isascii() and _UNDECODED.search(entry.name):
            unnamed.append(os.fsencode(path).decode("utf-8", "backslashreplace"))
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            links.append(path)  # never followed: loops and links out of the tree are common
            continue
        if stat.S_ISDIR(info.st_mode):
            if _skip_dir(entry.name, path, config, spec) or Path(entry.path) == output:
                continue
            _walk(Path(entry.path), path, config, spec, output, files, links, special,
                  unnamed)
        elif spec.match_file(path):
            continue
        elif stat.S_ISREG(info.st_mode):
            files[path] = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
        else:
            special.append(path)


# The bytes of a name that are not UTF-8, as os.fsdecode keeps them (surrogate escapes).
_UNDECODED = re.compile("[\udc80-\udcff]")


class _NoExcludes:
    """Stands in for a PathSpec when nothing is excluded (pathspec is not even imported)."""

    def match_file(self, path: str) -> bool:
        return False


def _exclude_spec(patterns: tuple[str, ...]) -> Any:
    if not patterns:
        return _NoExcludes()
    import pathspec

    return pathspec.PathSpec.from_lines("gitignore", patterns)


def _skip_dir(name: str, path: str, config: Config, spec: Any) -> bool:
    if name in SKIP_DIRS or name.endswith(".egg-info"):
        return True
    if name.startswith(".") and name not in config.include and path not in config.include:
        return True
    return bool(spec.match_file(path + "/"))


def sniff(path: str, info: list[int]) -> bool | None:
    """Binary or text; a text file is read to its end and its digest handed to the build's
    file checker, which would otherwise read it again (one read per touched file).

    None for a file that cannot be read (no permission, an I/O error): it is documented as
    text, so its page says why it has no content (an ``unreadable`` note, a failed file),
    rather than listed as a binary file. A file gone since the walk counts as binary, as it
    has no content to document either."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    except OSError:
        return None
    try:
        head = os.read(fd, SNIFF_BYTES)
        if looks_binary(head):
            return True
        digest = hashlib.new(filestate.HASH, head)
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    filestate.remember_digest(path, info, digest.hexdigest())
    return False


def _load_cache(path: Path) -> dict[str, list[int]]:
    data = load_state_or(path, {})
    return data if isinstance(data, dict) else {}
