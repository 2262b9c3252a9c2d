"""A fetched web page, or a feed entry whose page failed, as an :class:`Article`.

Pages go through the same trafilatura extraction as ``.html`` files
(``formats.parse_html``: title, date, authors, site, body). A page's id is its final
URL, or the canonical URL it names when that is on the same host (a page cannot claim
another site's address and so replace its article). When a feed entry's page cannot
be fetched or extracted, :func:`entry_article` builds the article from the entry's own
title, summary and date; ``how`` in :class:`PageArticle` says which it was.

It leaves out fetching (``fetching.py``) and reading the feed (``feeds.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from index import formats
from index.articles import Article, short_title
from index.fetching import Fetched

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", ""})
PAGE = "page"  # extracted from the fetched page
FEED_ENTRY = "feed entry"  # the page failed: the entry's own title, summary and date


class BadPage(ValueError):
    """A fetched page that is not an article (not HTML, no text found)."""


@dataclass(frozen=True)
class PageArticle:
    article: Article
    how: str  # PAGE or FEED_ENTRY
    problem: str | None = None  # why the page was not used, for a FEED_ENTRY


def page_article(
    fetched: Fetched,
    origin: tuple[str, str],
    *,
    published: date | None = None,
    source: str = "",
) -> Article:
    """The article on a fetched page; ``published`` and ``source`` fill in what the page
    does not say (from its feed entry). Raises :class:`BadPage`."""
    if fetched.content_type not in HTML_TYPES:
        raise BadPage(f"{fetched.url}: not an HTML page ({fetched.content_type})")
    html = decode(fetched.body, fetched.charset)
    try:
        article = formats.parse_html(html, fetched.url, origin)
    except formats.BadInput as error:
        raise BadPage(f"{fetched.url}: {error}") from None
    url = _same_site(article.url, fetched.url)
    return dataclasses.replace(
        article,
        id=url,
        url=url,
        published=article.published or published,
        source=article.source or source,
    )


def entry_article(
    key: str,
    link: str,
    title: str,
    summary: str,
    published: date | None,
    origin: tuple[str, str],
    source: str = "",
) -> Article | None:
    """A feed entry as its own article (None when it has no text at all)."""
    text = summary.strip() or title.strip()
    if not text:
        return None
    return Article(
        id=link or f"{origin[0]}#{key}",
        text=text,
        title=title.strip() or short_title(text),
        published=published,
        source=source,
        url=link,
        origin=origin,
    )


def decode(body: bytes, charset: str | None) -> str:
    if charset:
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    from trafilatura.utils import decode_file  # guesses the encoding from the bytes

    return decode_file(body)


def _same_site(claimed: str, fetched_url: str) -> str:
    if not claimed:
        return fetched_url
    a, b = urlsplit(claimed), urlsplit(fetched_url)
    if a.scheme in ("http", "https") and a.hostname and a.hostname == b.hostname:
        return claimed
    return fetched_url
