"""Turn one file into articles: the sample format, plain text, Markdown, JSONL, HTML.

Each parser takes decoded text and returns articles or raises :class:`BadInput` with
the line it refers to; reading bytes, size limits and walking directories are the job
of ``loaders.py``. HTML goes through trafilatura, which is built for news pages.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from index.articles import Article, short_title

_SAMPLE_HEAD = re.compile(r"^\s*date (\d{4}-\d{2}-\d{2})\s+(.*\S)\s*$")
_MD_HEADING = re.compile(r"^#{1,2}\s+(.+?)\s*#*\s*$")
_MANY_SENTENCES = re.compile(r"[.!?][\"”’']?\s+\S")


class BadInput(ValueError):
    """Input that cannot become an article; ``line`` is 1-based when it is known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def parse_date(value: Any, field: str = "published") -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadInput(f"field {field!r}: expected a date string, got {type(value).__name__}")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        pass
    import dateparser  # slow to import; most inputs are ISO dates

    parsed = dateparser.parse(value, settings={"PREFER_DAY_OF_MONTH": "first"})
    if parsed is None:
        raise BadInput(f"field {field!r}: cannot read {value!r} as a date")
    return parsed.date()


def parse_text(text: str, article_id: str, origin: tuple[str, str]) -> Article:
    """A .txt file: the sample format (`` date YYYY-MM-DD <title or lead>``) or plain."""
    first, _, rest = text.partition("\n")
    head = _SAMPLE_HEAD.match(first)
    if head is None:
        body = text.strip()
        return Article(id=article_id, text=body, title=short_title(body), origin=origin)
    published = parse_date(head.group(1))
    lead = head.group(2)
    body = rest.strip()
    if len(lead) <= 150 and not lead.endswith(".") and not _MANY_SENTENCES.search(lead):
        title = lead
    else:  # the first line is the lead paragraph, so it belongs to the text
        title, body = short_title(lead), f"{lead}\n\n{body}".strip()
    return Article(id=article_id, text=body, title=title, published=published, origin=origin)


def parse_markdown(text: str, article_id: str, origin: tuple[str, str]) -> Article:
    lines = text.strip().splitlines()
    for i, line in enumerate(lines[:5]):
        heading = _MD_HEADING.match(line)
        if heading:
            body = "\n".join(lines[:i] + lines[i + 1 :]).strip()
            return Article(id=article_id, text=body, title=heading.group(1), origin=origin)
    body = text.strip()
    return Article(id=article_id, text=body, title=short_title(body), origin=origin)


def parse_html(html: str, article_id: str, origin: tuple[str, str]) -> Article:
    import trafilatura
    from trafilatura.settings import Document

    doc = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=False
    )
    text = (doc.text or "").strip() if isinstance(doc, Document) else ""
    if not text or not isinstance(doc, Document):
        raise BadInput("no article text found in the HTML page")
    authors = tuple(a.strip() for a in (doc.author or "").split(";") if a.strip())
    url = doc.url or ""
    return Article(
        id=url or article_id,
        text=text,
        title=(doc.title or "").strip() or short_title(text),
        published=parse_date(doc.date) if doc.date else None,
        source=(doc.sitename or "").strip(),
        url=url,
        authors=authors,
        origin=origin,
    )


def parse_jsonl_record(line: str, file_id: str, path: str, number: int) -> Article:
    """Line ``number`` of a JSONL file: one article. Reading the file line by line (and
    its size and UTF-8 checks) is ``loaders.py``'s job, so a huge file is never held whole.
    A record without ``id`` or ``url`` is ``file_id#number``."""
    try:
        return _record(line, file_id, path, number)
    except BadInput as error:
        error.line = number
        raise


def _record(line: str, file_id: str, path: str, number: int) -> Article:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadInput(f"invalid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(record, dict):
        raise BadInput("expected a JSON object")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadInput("field 'text' is missing or empty")
    for name in ("id", "url", "title", "source"):
        if record.get(name) is not None and not isinstance(record[name], str | int):
            raise BadInput(f"field {name!r}: expected a string")
    authors = record.get("authors") or []
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list):
        raise BadInput("field 'authors': expected a list of names")
    url = str(record.get("url") or "")
    article_id = str(record.get("id") or url or f"{file_id}#{number}")
    body = text.strip()
    return Article(
        id=article_id,
        text=body,
        title=str(record.get("title") or "").strip() or short_title(body),
        published=parse_date(record.get("published")),
        source=str(record.get("source") or ""),
        url=url,
        authors=tuple(str(a) for a in authors),
        origin=(path, article_id),
    )
