"""Reading feeds (RSS 0.9x/1.0/2.0, Atom) and pages into entries and articles."""

from __future__ import annotations

from datetime import date

import pytest

from index.feeds import BadFeed, parse_feed
from index.fetching import Fetched
from index.pages import BadPage, entry_article, page_article
from tests.web_server import article_page, rss

URL = "https://news.example.org/feed.xml"

RSS1 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example.org/"><title>RDF News</title></channel>
<item rdf:about="https://news.example.org/a1"><title>Dam opens</title>
<link>https://news.example.org/a1</link><description>The dam opened.</description>
<dc:date>2026-11-28T10:00:00Z</dc:date></item></rdf:RDF>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title>
<id>urn:x</id><updated>2026-11-29T00:00:00Z</updated>
<entry><title>Bridge reopens</title><id>urn:entry:1</id>
<link href="/stories/bridge"/><updated>2026-11-29T08:30:00Z</updated>
<content type="html">&lt;p&gt;The bridge &lt;b&gt;reopened&lt;/b&gt; today.&lt;/p&gt;</content>
</entry></feed>"""

RSS091 = """<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title>
<link>https://news.example.org/</link><description>d</description>
<item><title>Port closes</title><link>https://news.example.org/p</link>
<description>The port closed.</description></item></channel></rss>"""


def test_rss2_entries_with_keys_links_and_dates() -> None:
    body = rss(
        "Gazette",
        [
            {
                "title": "A",
                "link": "/a",
                "guid": "https://news.example.org/a",
                "description": "<p>Lead <b>A</b></p>",
                "pubDate": "Sat, 28 Nov 2026 09:00:00 GMT",
            },
            {"title": "B", "link": "https://news.example.org/b"},
        ],
    )
    feed = parse_feed(body.encode(), URL, "application/rss+xml")
    assert feed.title == "Gazette" and feed.problem is None
    first, second = feed.entries
    assert (first.key, first.link) == ("https://news.example.org/a", "https://news.example.org/a")
    assert (first.summary, first.published) == ("Lead A", date(2026, 11, 28))
    assert (second.key, second.published) == ("https://news.example.org/b", None)  # no date


def test_rss1_rss091_and_atom() -> None:
    (rdf,) = parse_feed(RSS1.encode(), URL).entries
    assert (rdf.title, rdf.published) == ("Dam opens", date(2026, 11, 28))
    (old,) = parse_feed(RSS091.encode(), URL).entries
    assert (old.link, old.summary) == ("https://news.example.org/p", "The port closed.")
    atom = parse_feed(ATOM.encode(), URL)
    (entry,) = atom.entries
    assert atom.title == "Atom News"
    assert (entry.key, entry.link) == ("urn:entry:1", "https://news.example.org/stories/bridge")
    assert (entry.summary, entry.published) == ("The bridge reopened today.", date(2026, 11, 29))


def test_an_entry_without_id_or_link_gets_a_stable_key() -> None:
    body = rss("G", [{"title": "Only a title", "description": "and a summary"}]).encode()
    first, again = parse_feed(body, URL).entries[0], parse_feed(body, URL).entries[0]
    assert first.key.startswith("sha1:") and first.key == again.key and first.link == ""


@pytest.mark.parametrize(
    "body", [b"<rss><channel><title>x</title><item><ti", b"<html><body>a page</body></html>", b""]
)
def test_malformed_or_not_a_feed(body: bytes) -> None:
    with pytest.raises(BadFeed):
        parse_feed(body, URL)


def test_javascript_links_are_not_pages_to_fetch() -> None:
    body = rss("G", [{"title": "T", "link": "javascript:alert(1)", "description": "d"}])
    assert parse_feed(body.encode(), URL).entries[0].link == ""


def _page(html: str, url: str = "https://news.example.org/a", kind: str = "text/html") -> Fetched:
    return Fetched(url, 200, html.encode(), kind, "utf-8", None, None)


TEXT = (
    "Officials said the pelicans returned on Monday to the bay after ten years away.\n\n"
    "Residents welcomed them with a festival that drew thousands of visitors to the shore."
)


def test_page_extracted_without_its_script_and_with_fallbacks() -> None:
    html = article_page("Pelicans return", TEXT, extra="<script>var leak = 'SCRIPTJUNK';</script>")
    article = page_article(_page(html), (URL, "k"), published=date(2026, 11, 2), source="Feed")
    assert "festival" in article.text and "SCRIPTJUNK" not in article.text
    assert article.id == "https://news.example.org/a" and article.title == "Pelicans return"
    assert article.published == date(2026, 11, 2)  # the page has none: the entry's
    assert article.source == "Test Gazette" and article.origin == (URL, "k")


def test_a_canonical_url_counts_only_on_the_same_host() -> None:
    same = '<link rel="canonical" href="https://news.example.org/story">'
    other = '<link rel="canonical" href="https://other.example.com/story">'
    for head, expected in ((same, "https://news.example.org/story"), (other, None)):
        html = article_page("T", TEXT).replace("<head>", f"<head>{head}")
        article = page_article(_page(html, "https://news.example.org/a?utm=1"), (URL, ""))
        assert article.id == (expected or "https://news.example.org/a?utm=1")


def test_not_a_page() -> None:
    with pytest.raises(BadPage, match="not an HTML page"):
        page_article(_page("%PDF", kind="application/pdf"), (URL, ""))
    with pytest.raises(BadPage, match="no article text"):
        page_article(_page("<html><body></body></html>"), (URL, ""))


def test_entry_fallback_article() -> None:
    article = entry_article("k", "https://x.org/a", "Title", "Summary text", None, (URL, "k"))
    assert article is not None and (article.id, article.text) == ("https://x.org/a", "Summary text")
    assert entry_article("k", "", "", "", None, (URL, "k")) is None
