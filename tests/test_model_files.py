"""Assembling a model from part packages: joined once, verified, never half-written."""

import hashlib
import sys
from pathlib import Path

import pytest

from assistant.errors import ModelMissing
from assistant.model_files import ModelSpec, ensure_model


def _install_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pieces: list[bytes]) -> None:
    """Fake part packages with the real packages' interface: get_part_path()."""
    site = tmp_path / "site"
    site.mkdir()
    for i, piece in enumerate(pieces, start=1):
        data = tmp_path / f"piece{i}.bin"
        data.write_bytes(piece)
        (site / f"fakepart{i}.py").write_text(f"def get_part_path():\n    return {str(data)!r}\n")
    monkeypatch.syspath_prepend(str(site))
    for i in range(1, len(pieces) + 1):
        sys.modules.pop(f"fakepart{i}", None)


def test_parts_are_joined_and_verified_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    _install_parts(tmp_path, monkeypatch, pieces)
    whole = b"".join(pieces)
    spec = ModelSpec(
        "tiny", "tiny.gguf", "fakepart{i}", 3, len(whole), hashlib.sha256(whole).hexdigest()
    )
    path = ensure_model(spec, tmp_path / "cache", progress=False)
    assert path.read_bytes() == whole
    assert sorted((tmp_path / "cache").iterdir()) == sorted([path, path.with_suffix(".verified")])
    (tmp_path / "piece1.bin").unlink()  # a second call must not read the parts again
    assert ensure_model(spec, tmp_path / "cache", progress=False) == path


def test_a_corrupt_join_is_refused_and_not_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_parts(tmp_path, monkeypatch, [b"x" * 10, b"y" * 10])
    spec = ModelSpec("tiny", "tiny.gguf", "fakepart{i}", 2, 20, "0" * 64)
    with pytest.raises(ModelMissing, match="the joined file is corrupt"):
        ensure_model(spec, tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_part_packages_are_named(tmp_path: Path) -> None:
    spec = ModelSpec("absent", "absent.gguf", "no-such-model-part{i}", 4)
    with pytest.raises(ModelMissing, match="missing no-such-model-part1, no-such-model-part2"):
        ensure_model(spec, tmp_path / "cache", progress=False)
