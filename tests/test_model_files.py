"""Assembling a model from part packages: joined once (whatever the threads and processes
do), verified, never half-written, nothing left behind."""

import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PosixPath
from typing import Any

import pytest

from assistant import model_files
from assistant.errors import ModelMissing
from assistant.model_files import ModelSpec, ensure_model
from tests.conftest import ROOT


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
    assert sorted((tmp_path / "cache").iterdir()) == sorted(
        [path, path.with_suffix(".verified"), path.with_suffix(".lock")]
    )
    (tmp_path / "piece1.bin").unlink()  # a second call must not read the parts again
    assert ensure_model(spec, tmp_path / "cache", progress=False) == path


def test_a_corrupt_join_is_refused_and_not_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_parts(tmp_path, monkeypatch, [b"x" * 10, b"y" * 10])
    spec = ModelSpec("tiny", "tiny.gguf", "fakepart{i}", 2, 20, "0" * 64)
    with pytest.raises(ModelMissing, match="the joined file is corrupt"):
        ensure_model(spec, tmp_path / "cache", progress=False)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["tiny.lock"]


def test_missing_part_packages_are_named(tmp_path: Path) -> None:
    spec = ModelSpec("absent", "absent.gguf", "no-such-model-part{i}", 4)
    with pytest.raises(ModelMissing, match="missing no-such-model-part1, no-such-model-part2"):
        ensure_model(spec, tmp_path / "cache", progress=False)


PIECES = [b"GGUF" + b"a" * 1000, b"b" * 777]
WHOLE = b"".join(PIECES)


def _tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    _install_parts(tmp_path, monkeypatch, PIECES)
    return ModelSpec(
        "tiny", "tiny.gguf", "fakepart{i}", 2, len(WHOLE), hashlib.sha256(WHOLE).hexdigest()
    )


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_threads_asking_at_once_join_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, cache = _tiny(tmp_path, monkeypatch), tmp_path / "cache"
    joins: list[int] = []
    join = model_files._join

    def slow_join(*args: Any) -> str:
        joins.append(threading.get_ident())
        time.sleep(0.3)  # every other thread arrives while this one joins
        return join(*args)

    monkeypatch.setattr(model_files, "_join", slow_join)
    with ThreadPoolExecutor(6) as pool:
        paths = list(pool.map(lambda _: ensure_model(spec, cache, progress=False), range(6)))
    assert len(joins) == 1
    assert set(paths) == {cache / "tiny.gguf"} and paths[0].read_bytes() == WHOLE
    assert _names(cache) == ["tiny.gguf", "tiny.lock", "tiny.verified"]


class _FailsAfterFirstRead(io.BytesIO):
    def __init__(self, error: BaseException) -> None:
        super().__init__(b"x" * 100)
        self.error = error

    def read(self, size: int | None = -1) -> bytes:
        if self.tell():
            raise self.error
        return super().read(10)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError("I/O error")])
def test_an_interrupted_join_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    spec, cache = _tiny(tmp_path, monkeypatch), tmp_path / "cache"

    class BreaksMidway(PosixPath):
        """A part whose copy fails after its first block."""

        def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return _FailsAfterFirstRead(error)

    parts = model_files.part_paths(spec)
    monkeypatch.setattr(model_files, "part_paths", lambda _: [parts[0], BreaksMidway(parts[1])])
    with pytest.raises(type(error)):
        ensure_model(spec, cache, progress=False)
    assert _names(cache) == ["tiny.lock"]
    monkeypatch.setattr(model_files, "part_paths", lambda _: parts)
    assert ensure_model(spec, cache, progress=False).read_bytes() == WHOLE


def test_a_partial_file_beside_a_verified_model_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, cache = _tiny(tmp_path, monkeypatch), tmp_path / "cache"
    path = ensure_model(spec, cache, progress=False)
    stale = cache / "tiny.partial-4194304"  # left by an older newsqa that was interrupted
    stale.write_bytes(b"half a model")

    def no_join(*args: Any) -> str:
        raise AssertionError("the verified model was joined again")

    monkeypatch.setattr(model_files, "_join", no_join)
    assert ensure_model(spec, cache, progress=False) == path
    assert _names(cache) == ["tiny.gguf", "tiny.lock", "tiny.verified"]


def _python(code: str, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_a_join_killed_with_sigkill_is_cleaned_up_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, cache = _tiny(tmp_path, monkeypatch), tmp_path / "cache"
    killed = _python(
        "import os, signal\n"
        "from pathlib import Path\n"
        "from assistant import model_files\n"
        "from assistant.model_files import ModelSpec\n"
        "def die(parts, out, name, progress):\n"
        "    out.write_bytes(b'half a model')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "model_files._join = die\n"
        f"model_files.ensure_model({spec!r}, Path({str(cache)!r}), progress=False)\n",
        tmp_path,
    )
    assert killed.wait(timeout=120) == -9
    [partial] = cache.glob("tiny.partial-*")
    assert partial.name == f"tiny.partial-{killed.pid}"
    # The dead process's lock went with it: this call neither waits nor keeps its file.
    assert ensure_model(spec, cache, progress=False).read_bytes() == WHOLE
    assert _names(cache) == ["tiny.gguf", "tiny.lock", "tiny.verified"]


@pytest.mark.slow
def test_another_process_waits_for_the_join_and_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, cache = _tiny(tmp_path, monkeypatch), tmp_path / "cache"
    cache.mkdir()
    target = cache / spec.filename
    with model_files._exclusive(target):
        waiting = _python(
            "from pathlib import Path\n"
            "from assistant import model_files\n"
            "from assistant.model_files import ModelSpec\n"
            "def no_join(*args):\n"
            "    raise SystemExit('joined again')\n"
            "model_files._join = no_join\n"
            "print('asking', flush=True)\n"
            f"print(model_files.ensure_model({spec!r}, Path({str(cache)!r}), progress=False))\n",
            tmp_path,
        )
        assert waiting.stdout is not None and waiting.stdout.readline() == "asking\n"
        time.sleep(1.0)
        assert waiting.poll() is None  # blocked on the lock this process holds
        model_files._assemble(spec, target, progress=False)
    assert waiting.wait(timeout=60) == 0
    assert waiting.stdout.read().strip() == str(target)
