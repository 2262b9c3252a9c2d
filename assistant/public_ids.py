"""Article ids as the servers show them: a file's id without the server's directories.

A file's article id is its resolved absolute path (``index/loaders.py``): unique and
stable, and right for the CLI on one's own machine, but a shared server would tell
every user its directory layout. What the page, ``/ask``, ``/v1`` and MCP show instead:

- a file under the data dir (every upload): its path relative to it,
  ``uploads/news/story.txt``;
- any other file: ``FOLDER-HASH/NAME``, the folder's name and the first 8 hex digits
  of the SHA-256 of the folder's full path (``data-1f0c3a9e/000_529f16d631959521.txt``):
  two folders of one name stay apart, the same file always shows the same id, and
  nothing says where the folder is;
- ``#LINE`` (a JSONL record without an id of its own) is kept; URLs and ids a JSONL
  record gives are shown as they are.

``stored_id`` turns a shown id back into the stored one (MCP's article resource).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath

from assistant.types import Answer
from index.catalog import Catalog

_HASHED = re.compile(r"(?P<folder>[^/]*)-(?P<digest>[0-9a-f]{8})/(?P<name>[^/]+)")


def shown_id(article_id: str, data_dir: Path) -> str:
    path, line = _split_line(article_id)
    if not path.startswith("/"):
        return article_id
    file = PurePosixPath(path)
    root = PurePosixPath(data_dir.resolve())
    if file.is_relative_to(root) and file != root:
        return str(file.relative_to(root)) + line
    folder = file.parent
    digest = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{folder.name}-{digest}/{file.name}{line}"


def shown_answer(answer: Answer, data_dir: Path) -> Answer:
    """The answer with every article id shown (``citations``, ``retrieved``)."""
    citations = [
        c.model_copy(update={"article_id": shown_id(c.article_id, data_dir)})
        for c in answer.citations
    ]
    retrieved = [shown_id(a, data_dir) for a in answer.retrieved]
    return answer.model_copy(update={"citations": citations, "retrieved": retrieved})


def stored_id(shown: str, catalog: Catalog, data_dir: Path) -> str | None:
    """The stored id a shown one stands for (itself when stored so), or None."""
    if catalog.get_article(shown) is not None:
        return shown
    path, line = _split_line(shown)
    if path.startswith("/") or ".." in PurePosixPath(path).parts:
        return None
    under_data = str(data_dir.resolve() / path) + line
    if catalog.get_article(under_data) is not None:
        return under_data
    hashed = _HASHED.fullmatch(path)
    if hashed is None:
        return None
    # The hash cannot be undone: the collection's file ids of that name are compared.
    ending = f"/{hashed['name']}{line}"
    for article_id in catalog.content_hashes():
        if article_id.endswith(ending) and shown_id(article_id, data_dir) == shown:
            return article_id
    return None


def _split_line(article_id: str) -> tuple[str, str]:
    """(the path, "#LINE" or "") of an id."""
    path, mark, line = article_id.rpartition("#")
    if mark and line.isdigit() and path:
        return path, f"#{line}"
    return article_id, ""
