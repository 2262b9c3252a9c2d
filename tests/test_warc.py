"""Web archives: a WARC written here with warcio, ingested like any other file."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from index.articles import Article
from index.collection import NewsCollection
from index.ingest import ingest
from index.loaders import LoadError, SourceFile, load_file
from tests.conftest import story
from tests.web_server import article_page

SITE = "https://news.example.org"


def _response(writer: WARCWriter, url: str, body: bytes, kind: str, status: str = "200 OK") -> None:
    headers = StatusAndHeaders(status, [("Content-Type", kind)], protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=BytesIO(body), http_headers=headers)
    writer.write_record(record)


def _warc(path: Path, pages: int, big: int = 0) -> Path:
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=path.suffix == ".gz")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for n in range(pages):
            html = article_page(f"Orchard story {n}", story(n, f"Apples number {n} ripened."))
            _response(writer, f"{SITE}/story/{n}", html.encode(), "text/html; charset=utf-8")
            request = writer.create_warc_record(
                f"{SITE}/story/{n}", "request", payload=BytesIO(b"GET / HTTP/1.1\r\n\r\n")
            )
            writer.write_record(request)
        _response(writer, f"{SITE}/doc.pdf", b"%PDF-1.4 binary", "application/pdf")
        _response(writer, f"{SITE}/gone", b"<p>gone</p>", "text/html", "404 Not Found")
        _response(writer, f"{SITE}/empty", b"<html><body></body></html>", "text/html")
        if big:
            _response(writer, f"{SITE}/huge", b"<p>" + b"y" * big + b"</p>", "text/html")
    return path


@pytest.mark.slow
def test_warc_pages_ingested_once_each(tmp_path: Path, collection: NewsCollection) -> None:
    archive = _warc(tmp_path / "crawl.warc.gz", pages=4)
    report = ingest(collection, [archive], progress=False)
    assert report.added == 4
    assert [f.error for f in report.failed] == [
        f"{SITE}/empty: no article text found in the HTML page"
    ]
    article = collection.catalog.get_article(f"{SITE}/story/2")
    assert article is not None and "Apples number 2 ripened." in article.text
    assert article.source == "Test Gazette"
    again = ingest(collection, [archive], progress=False, prune=True)
    assert (again.added, again.unchanged, again.removed) == (0, 4, 0)


def test_warc_records_over_the_size_limit_are_skipped(tmp_path: Path) -> None:
    archive = _warc(tmp_path / "crawl.warc", pages=1, big=3_000_000)
    items = list(load_file(SourceFile(archive, str(archive)), max_bytes=1_000_000))
    errors = [str(i) for i in items if isinstance(i, LoadError)]
    assert [i.id for i in items if isinstance(i, Article)] == [f"{SITE}/story/0"]
    assert any(f"{SITE}/huge: page is over the size limit" in e for e in errors)


def test_not_a_warc(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.warc.gz"
    bogus.write_bytes(b"this is not an archive\n" * 10)
    (error,) = list(load_file(SourceFile(bogus, str(bogus)), max_bytes=1_000_000))
    assert "not a readable WARC file" in str(error)
