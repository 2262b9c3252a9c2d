"""Walk the paths a user gives and load every file as articles, never stopping on one.

Reading and checking bytes (size limit, binary, UTF-8) happens here; what the text
means is ``formats.py``'s job. Every problem becomes a :class:`LoadError` that names
the file (and line), and loading goes on with the next file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from index import formats
from index.articles import Article

SUFFIXES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
}


@dataclass(frozen=True)
class LoadError:
    path: str
    error: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.error}"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    # Stable id prefix: "<given folder name>/<path inside it>", or the file name.
    label: str


def find_files(paths: Iterable[Path]) -> Iterator[SourceFile | LoadError]:
    """Files under the given paths, recursively, in a stable order; hidden ones skipped."""
    for given in paths:
        if given.is_file():
            yield SourceFile(given, given.name)
        elif given.is_dir():
            root = given.resolve()
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                rel = path.relative_to(root)
                if not any(part.startswith(".") for part in rel.parts):
                    yield SourceFile(path, f"{root.name}/{rel.as_posix()}")
        else:
            yield LoadError(str(given), "no such file or directory")


def load_file(source: SourceFile, max_bytes: int) -> Iterator[Article | LoadError]:
    path = str(source.path.resolve())
    kind = SUFFIXES.get(source.path.suffix.lower())
    if kind is None:
        yield LoadError(
            path,
            f"unsupported file type {source.path.suffix or '(none)'!r}; "
            f"supported: {', '.join(sorted(SUFFIXES))}",
        )
        return
    try:
        data = source.path.read_bytes()
    except OSError as error:
        yield LoadError(path, f"cannot read: {error.strerror}")
        return
    problem = _check_bytes(data, max_bytes if kind != "jsonl" else None)
    if problem:
        yield LoadError(path, problem)
        return
    text = data.decode("utf-8").removeprefix("\ufeff")
    if kind == "jsonl":
        for item in formats.parse_jsonl(text, source.label, path, max_bytes):
            if isinstance(item, formats.BadInput):
                yield LoadError(path, str(item), item.line)
            else:
                yield item
        return
    parse = {
        "text": formats.parse_text,
        "markdown": formats.parse_markdown,
        "html": formats.parse_html,
    }[kind]
    try:
        yield parse(text, source.label, (path, ""))
    except formats.BadInput as error:
        yield LoadError(path, str(error), error.line)


def _check_bytes(data: bytes, max_bytes: int | None) -> str | None:
    if max_bytes is not None and len(data) > max_bytes:
        return f"file is over the size limit ({len(data):,} > {max_bytes:,} bytes)"
    if not data.strip():
        return "empty file"
    if b"\x00" in data[:8192]:
        return "binary file (contains NUL bytes), not text"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f"invalid UTF-8 at byte {error.start} (line {line})"
    return None
