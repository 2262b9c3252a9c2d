"""Read a fetched RSS (0.9x, 1.0, 2.0) or Atom feed into its entries, with feedparser.

feedparser only ever sees bytes we fetched (``fetching.py``), never a URL: it would
fetch it itself, impolitely and with no address checks. Each :class:`FeedEntry` gets a
stable ``key`` (the entry's id, else its link, else a hash of its title and summary)
that the catalog remembers once the entry is indexed, so a poll skips what it has.
A document that is not a feed at all is a :class:`BadFeed`; one feedparser could read
only leniently (broken XML) still gives its entries, with ``problem`` saying so.

Fetching the entries' pages and indexing them is ``watch.py``'s job.
"""

from __future__ import annotations

import calendar
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser


class BadFeed(ValueError):
    """The bytes at a feed URL are not a feed feedparser can read."""


@dataclass(frozen=True)
class FeedEntry:
    key: str
    link: str  # absolute, "" when the entry has none
    title: str
    summary: str  # plain text
    published: date | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: list[FeedEntry]
    problem: str | None = None


def parse_feed(body: bytes, url: str, content_type: str = "") -> ParsedFeed:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    error = parsed.get("bozo_exception")
    entries = [e for e in (_entry(raw, url) for raw in parsed.entries) if e is not None]
    problem = None
    if parsed.get("bozo") and not isinstance(error, feedparser.NonXMLContentType | _Override):
        problem = f"malformed feed: {error}"
        if not entries:
            raise BadFeed(problem)
    if not parsed.get("version") and not entries:
        raise BadFeed("not an RSS or Atom feed")
    title = str(parsed.feed.get("title") or "").strip()
    return ParsedFeed(title, entries, problem)


_Override = feedparser.CharacterEncodingOverride


def _entry(raw: Any, feed_url: str) -> FeedEntry | None:
    link = str(raw.get("link") or "").strip()
    link = urljoin(feed_url, link) if link else ""
    if link and not link.startswith(("http://", "https://")):
        link = ""  # a javascript: or mailto: link is no page of ours to fetch
    title = _plain(str(raw.get("title") or ""))
    summary = _plain(_summary(raw))
    if not (link or title or summary):
        return None
    key = str(raw.get("id") or "").strip() or link
    if not key:
        key = "sha1:" + hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()
    return FeedEntry(key, link, title, summary, _date(raw))


def _summary(raw: Any) -> str:
    # Atom content is often the whole article; a summary is only its lead.
    for content in raw.get("content") or []:
        if content.get("value"):
            return str(content["value"])
    return str(raw.get("summary") or "")


def _plain(html: str) -> str:
    if "<" not in html and "&" not in html:
        return " ".join(html.split())
    import lxml.html

    try:
        text = lxml.html.fromstring(f"<div>{html}</div>").text_content()
    except Exception:  # lxml's parse errors have no common base worth naming
        text = html
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


def _date(raw: Any) -> date | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(name)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC).date()
    return None
