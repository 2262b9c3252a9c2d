"""Walk the paths a user gives and load every file as articles, never stopping on one.

Reading and checking bytes (size limit, binary, UTF-8) happens here; what the text
means is ``formats.py``'s job. Every problem becomes a :class:`LoadError` that names
the file (and line), and loading goes on with the next file. A file's articles are
identified by where it is (its resolved absolute path; ``#LINE`` added for a JSONL
record without ``id`` or ``url``), and no file is read into memory beyond the size limit:
JSONL is streamed line by line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
# Web archives (Common Crawl's CC-NEWS): read by warc.py, a record at a time.
WEB_ARCHIVES = (".warc", ".warc.gz")
_HEAD = 8192  # a text file has no NUL byte in its first 8 KB
_BINARY = b"\x00"
_BINARY_FILE = "binary file (contains NUL bytes), not text"
_PIECE = 1 << 16  # how much of an over-long line is read at a time


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
    # The file's identity in article ids: its resolved absolute path, so two files never
    # share an id and a file keeps its id however a command line spells its path.
    label: str


def find_files(paths: Iterable[Path]) -> Iterator[SourceFile | LoadError]:
    """Files under the given paths, recursively, in a stable order; hidden ones skipped."""
    for given in paths:
        if given.is_file():
            yield _source(given)
        elif given.is_dir():
            root = given.resolve()
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                rel = path.relative_to(root)
                if not any(part.startswith(".") for part in rel.parts):
                    yield _source(path)
        else:
            yield LoadError(str(given), "no such file or directory")


def _source(path: Path) -> SourceFile:
    return SourceFile(path, str(path.resolve()))


def load_file(source: SourceFile, max_bytes: int) -> Iterator[Article | LoadError]:
    """The file's articles and problems. A JSONL file is read line by line, so memory
    stays bounded by ``max_bytes`` (the longest line read) however big the file is."""
    path = str(source.path.resolve())
    kind = SUFFIXES.get(source.path.suffix.lower())
    if source.path.name.lower().endswith(WEB_ARCHIVES):
        kind = "warc"
    elif kind is None:
        yield LoadError(
            path,
            f"unsupported file type {source.path.suffix or '(none)'!r}; "
            f"supported: {', '.join([*sorted(SUFFIXES), *WEB_ARCHIVES])}",
        )
        return
    try:
        if kind == "jsonl":
            yield from _load_jsonl(source, path, max_bytes)
        elif kind == "warc":
            from index.warc import load_warc  # it builds on this module

            yield from load_warc(source.path, max_bytes)
        else:
            yield _load_article(source, kind, path, max_bytes)
    except OSError as error:
        yield LoadError(path, f"cannot read: {error.strerror}")


def _load_article(source: SourceFile, kind: str, path: str, max_bytes: int) -> Article | LoadError:
    with source.path.open("rb") as handle:
        data = handle.read(max_bytes + 1)  # enough to know it is too big, never more
    if len(data) > max_bytes:
        size = max(len(data), source.path.stat().st_size)
        return LoadError(path, f"file is over the size limit ({size:,} > {max_bytes:,} bytes)")
    problem = _check_bytes(data)
    if problem:
        return LoadError(path, problem)
    text = data.decode("utf-8").removeprefix("\ufeff")
    parse = {
        "text": formats.parse_text,
        "markdown": formats.parse_markdown,
        "html": formats.parse_html,
    }[kind]
    try:
        return parse(text, source.label, (path, ""))
    except formats.BadInput as error:
        return LoadError(path, str(error), error.line)


def _load_jsonl(source: SourceFile, path: str, max_bytes: int) -> Iterator[Article | LoadError]:
    """One article per line; a bad or over-long line is reported and the rest still read."""
    with source.path.open("rb") as handle:
        if _BINARY in handle.read(_HEAD):
            yield LoadError(path, _BINARY_FILE)
            return
        handle.seek(0)
        empty = True
        for number, start, line in _lines(handle, max_bytes):
            if isinstance(line, int):
                empty = False
                error = f"line is over the size limit ({line:,} > {max_bytes:,} bytes)"
                yield LoadError(path, error, number)
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as error:
                empty = False
                yield LoadError(path, f"invalid UTF-8 at byte {start + error.start}", number)
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            empty = False
            try:
                yield formats.parse_jsonl_record(text, source.label, path, number)
            except formats.BadInput as bad:
                yield LoadError(path, str(bad), bad.line)
        if empty:
            yield LoadError(path, "empty file")


def _lines(handle: BinaryIO, max_bytes: int) -> Iterator[tuple[int, int, bytes | int]]:
    """(number, byte offset, bytes) of each line, newline dropped; for a line over
    ``max_bytes`` its length instead of its bytes: it is read through in pieces, never
    held, so one giant line costs no more memory than an allowed one."""
    number = 0
    while True:
        start = handle.tell()
        line = handle.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if line.endswith(b"\n"):
            yield number, start, line[:-1]
        elif len(line) <= max_bytes:
            yield number, start, line  # the last line, without a newline
        else:
            yield number, start, len(line) + _skip_line(handle)


def _skip_line(handle: BinaryIO) -> int:
    """Read through the rest of a line; its length, newline excluded."""
    size = 0
    while piece := handle.readline(_PIECE):
        if piece.endswith(b"\n"):
            return size + len(piece) - 1
        size += len(piece)
    return size


def _check_bytes(data: bytes) -> str | None:
    if not data.strip():
        return "empty file"
    if _BINARY in data[:_HEAD]:
        return _BINARY_FILE
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f"invalid UTF-8 at byte {error.start} (line {line})"
    return None
