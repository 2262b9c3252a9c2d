"""Articles from web archives: WARC files (``.warc``, ``.warc.gz``), as Common Crawl's
CC-NEWS publishes them.

warcio's ``ArchiveIterator`` reads the file as a stream, one record at a time, so a
multi-GB archive costs the memory of one page (at most ``max_bytes``). Only
``response`` records with status 200 and an HTML content type are read; each is
extracted like a fetched page (``pages.py``) and its id is the record's URL (or the
same-host canonical URL the page names). Requests, metadata, redirects, images and PDFs
are skipped without a word; a page with no article text, or over the size limit, is a
:class:`LoadError` naming the file and the URL, and reading goes on.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from index.articles import Article
from index.fetching import Fetched
from index.loaders import LoadError
from index.pages import HTML_TYPES, BadPage, page_article


def load_warc(path: Path, max_bytes: int) -> Iterator[Article | LoadError]:
    """The articles in one WARC file, in the order they were archived."""
    where = str(path.resolve())
    if not _starts_like_warc(path):
        yield LoadError(where, "not a readable WARC file: it does not start with a WARC record")
        return
    try:
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.http_headers.get_statuscode() != "200" or not url:
                    continue
                kind, _, params = (record.http_headers.get_header("Content-Type") or "").partition(
                    ";"
                )
                if kind.strip().lower() not in HTML_TYPES:
                    continue
                body = record.content_stream().read(max_bytes + 1)
                if len(body) > max_bytes:
                    yield LoadError(where, f"{url}: page is over the size limit ({max_bytes:,})")
                    continue
                yield _article(body, params, url, (where, url))
    except ArchiveLoadFailed as error:
        yield LoadError(where, f"not a readable WARC file: {error}")


def _starts_like_warc(path: Path) -> bool:
    """Whether the file's first record is a WARC one (warcio would guess at ARC and warn
    line by line through anything else)."""
    try:
        with gzip.open(path) as unpacked:
            return unpacked.read(5) == b"WARC/"
    except (OSError, EOFError):  # not gzip: read it as it is
        with path.open("rb") as plain:
            return plain.read(5) == b"WARC/"


def _article(body: bytes, params: str, url: str, origin: tuple[str, str]) -> Article | LoadError:
    charset = None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset":
            charset = value.strip("\"' ") or None
    fetched = Fetched(url, 200, body, "text/html", charset, None, None)
    try:
        return page_article(fetched, origin)
    except BadPage as error:
        return LoadError(origin[0], str(error))
