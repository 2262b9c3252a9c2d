from datetime import date

import pytest

from index import formats
from index.articles import Article, short_title
from tests.conftest import SAMPLES

ORIGIN = ("/x", "")


def test_sample_format_with_title_line() -> None:
    text = (SAMPLES / "000_529f16d631959521.txt").read_text()
    article = formats.parse_text(text, "data/000.txt", ORIGIN)
    assert article.title == "13 law enforcement officers killed in Mexico ambush"
    assert article.published == date(2021, 3, 19)
    assert article.text.startswith("MEXICO CITY — Gunmen on Thursday ambushed")
    assert "date 2021" not in article.text


def test_sample_format_with_lead_paragraph_derives_a_short_title() -> None:
    text = (SAMPLES / "002_1edb485b8cb994a6.txt").read_text()
    article = formats.parse_text(text, "data/002.txt", ORIGIN)
    assert article.published == date(2021, 3, 23)
    assert article.title.startswith("Mexican officials condemned the killing")
    assert len(article.title) <= 81
    # The lead paragraph is part of the story, so it stays in the text.
    assert article.text.startswith("Mexican officials condemned the killing")
    assert "Ivonne Gallegos Carreño" in article.text


def test_plain_text_and_markdown() -> None:
    plain = formats.parse_text("Storm hits coast\n\nWinds of 100 mph.", "a.txt", ORIGIN)
    assert (plain.title, plain.published) == ("Storm hits coast", None)
    md = formats.parse_markdown("# Storm hits coast\n\nWinds of *100* mph.\n", "a.md", ORIGIN)
    assert md.title == "Storm hits coast"
    assert md.text == "Winds of *100* mph."


def test_short_title_cuts_at_a_word() -> None:
    long = "word " * 40
    title = short_title(long)
    assert title.endswith("…") and len(title) <= 81 and "wor…" not in title


def test_jsonl_records_and_their_errors() -> None:
    lines = [
        '{"id": "u1", "url": "https://e.com/1", "title": "T", "published": "2022-06-12", '
        '"authors": ["A B"], "source": "CNN", "text": "Body one."}',
        '{"text": "No id here. Second sentence."}',
        "{not json",
        '{"id": "u3", "title": "no text"}',
        '{"id": "u4", "text": "x", "published": "not a date at all"}',
    ]
    items: list[Article | formats.BadInput] = []
    for number, line in enumerate(lines, start=1):
        try:
            items.append(
                formats.parse_jsonl_record(line, "/abs/feed.jsonl", "/abs/feed.jsonl", number)
            )
        except formats.BadInput as error:
            items.append(error)
    first, second, *errors = items
    assert isinstance(first, Article) and first.id == "u1" and first.source == "CNN"
    assert first.published == date(2022, 6, 12) and first.authors == ("A B",)
    assert first.origin == ("/abs/feed.jsonl", "u1")
    assert isinstance(second, Article) and second.id == "/abs/feed.jsonl#2"
    assert second.origin == ("/abs/feed.jsonl", "/abs/feed.jsonl#2")
    assert second.title == "No id here."
    assert [(getattr(e, "line", None), str(e).split(":")[0]) for e in errors] == [
        (3, "invalid JSON"),
        (4, "field 'text' is missing or empty"),
        (5, "field 'published'"),
    ]


def test_html_news_page_metadata_and_body() -> None:
    html = """<html><head><title>Flood closes bridge | Daily News</title>
    <meta property="og:title" content="Flood closes bridge">
    <meta name="author" content="Jane Reporter">
    <meta property="article:published_time" content="2022-07-04T10:00:00Z">
    <meta property="og:url" content="https://news.example/flood">
    <meta property="og:site_name" content="Daily News"></head>
    <body><nav>Home | World | Sports</nav><article><h1>Flood closes bridge</h1>
    <p>The river rose four meters overnight and the old bridge was closed to traffic,
    officials said on Monday morning after an inspection of the damaged pillars.</p>
    <p>Engineers expect repairs to take three weeks, and a ferry will run meanwhile
    between the two banks for residents who need to reach the hospital.</p>
    </article><footer>Copyright Daily News</footer></body></html>"""
    article = formats.parse_html(html, "flood.html", ORIGIN)
    assert article.title == "Flood closes bridge"
    assert article.published == date(2022, 7, 4)
    assert article.authors == ("Jane Reporter",)
    assert article.id == article.url == "https://news.example/flood"
    assert "four meters" in article.text and "Copyright" not in article.text


def test_html_without_text_is_bad_input() -> None:
    with pytest.raises(formats.BadInput):
        formats.parse_html("<html><body></body></html>", "e.html", ORIGIN)
