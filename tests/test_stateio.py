"""State files: compressed JSON where the layout says so, plain manifests, corrupt data."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from buildkit import BASE_TREE, STATE, build, make_tree

from pipeline import layout, stateio
from pipeline.files import dump_state
from pipeline.stateio import MAGIC, load_state, pack, save_state, unpack


def test_round_trip_and_plain_passthrough(tmp_path: Path) -> None:
    data = {"b": [1, 2, "ü"], "a": {"x": None}}
    packed = tmp_path / "x.json.zst"
    plain = tmp_path / "x.json"
    assert save_state(packed, data) and save_state(plain, data)
    assert packed.read_bytes().startswith(MAGIC)
    assert plain.read_bytes() == b'{"a":{"x":null},"b":[1,2,"\xc3\xbc"]}\n'
    assert load_state(packed) == load_state(plain) == data
    assert not save_state(packed, data), "unchanged data must not be written again"
    assert unpack(b"[1]") == b"[1]"


def test_corrupt_or_oversized_data_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        unpack(MAGIC + b"\x00garbage")
    with pytest.raises(ValueError):
        unpack(pack(b"x" * 10_000), limit=100)


def test_garbage_after_the_magic_is_only_ever_a_value_error() -> None:
    """Random bytes behind a zstd magic: some declare a frame of terabytes, which must be
    refused from the header, not allocated (a poisoned cache entry or a torn state file)."""
    import random

    chooser = random.Random(14)
    refused = 0
    for _ in range(600):
        try:  # a few random frames are valid (raw or repeated-byte blocks): small output
            assert len(unpack(MAGIC + chooser.randbytes(64), limit=1 << 20)) <= 1 << 20
        except ValueError:
            refused += 1
    assert refused > 500


def test_build_state_is_compressed_the_quick_record_by_zlib(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, BASE_TREE)
    build(src, out)
    state = out / STATE
    (state / "quick.json").write_bytes(b"{}")  # as a build of format 3 left it
    make_tree(src, {"pkg/a.py": BASE_TREE["pkg/a.py"] + "\n"})
    build(src, out)
    for name in ("doit.json", "discover.json"):
        assert (state / name).read_bytes().startswith(MAGIC), name
    # what a no-op reads: zlib (no compressor module to import), and the plain record
    # of an older build is gone
    assert zlib.decompress((state / "quick.json.z").read_bytes())[:1] == b"{"
    assert not (state / "quick.json").exists()
    for kind in ("records", "summary", "ctx", "folder", "global", "pages", "folder-pages",
                 "keyword-pages"):
        files = list((state / kind).iterdir())
        assert files and all(f.name.endswith(".json.zst") for f in files), kind
        assert all(f.read_bytes().startswith(MAGIC) for f in files), kind
    for kind in layout.PLAIN_STATE:
        files = list((state / kind).iterdir())
        assert files and all(f.read_bytes()[:1] in (b"{", b"[") for f in files), kind


def test_noop_build_never_imports_zstandard(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, BASE_TREE)
    build(src, out)
    script = ("import sys\nfrom pipeline.cli import main\n"
              f"code = main(['build', {str(src)!r}, '--output', {str(out)!r}])\n"
              "print('zstandard' in sys.modules, code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.stdout.split() == ["False", "0"], done.stderr


def test_unchanged_state_is_found_so_without_compressing_it_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "facts.zst"
    data = {"symbols": [{"name": f"f{n}", "kind": "function"} for n in range(100)]}
    assert stateio.save_state_kept(path, data)
    held, stamp = path.read_bytes(), path.stat().st_mtime_ns

    def refuse(*_args: object) -> bytes:
        raise AssertionError("compressed again")

    monkeypatch.setattr(stateio, "pack", refuse)
    assert not stateio.save_state_kept(path, data)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == (held, stamp)
    monkeypatch.undo()
    changed = {**data, "files": 1}
    assert stateio.save_state_kept(path, changed)
    assert stateio.load_state(path) == changed


def test_state_held_plain_is_written_compressed(tmp_path: Path) -> None:
    path = tmp_path / "facts.zst"
    path.write_bytes(dump_state({"a": 1}))
    assert stateio.save_state_kept(path, {"a": 1})
    assert path.read_bytes().startswith(stateio.MAGIC)
    assert stateio.load_state(path) == {"a": 1}
