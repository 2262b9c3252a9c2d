"""HTML for the chat page. Every text that comes from an article, a user or the model is
escaped here, so an article containing ``<script>`` shows the tag and runs nothing.

Citation markers become links to ``#src-TURN-N``; the page's script (``ui/page.py``)
opens the matching card in the sources panel.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from assistant import Answer, Citation
from assistant.words import MARKER
from index.catalog import StoredArticle

# Markdown would read these in model text; as entities they are just characters.
_MARKDOWN = str.maketrans({"[": "&#91;", "]": "&#93;", "*": "&#42;", "_": "&#95;", "`": "&#96;"})


def text(value: str) -> str:
    """Escaped for HTML and inert for Markdown; line breaks kept."""
    return html.escape(value).translate(_MARKDOWN).replace("\n", "<br>")


def card_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def safe_url(url: str) -> str | None:
    parsed = urlparse(url.strip())
    return url.strip() if parsed.scheme in ("http", "https") and parsed.netloc else None


def streaming_message(partial: str) -> str:
    return f'<div class="newsqa-streaming">{text(partial)}</div>'


def status_message(message: str) -> str:
    return f'<div class="newsqa-status">{text(message)}</div>'


def stopped_message(partial: str) -> str:
    shown = f'<div class="newsqa-streaming">{text(partial)}</div>' if partial.strip() else ""
    return f'{shown}<div class="newsqa-stopped">Stopped.</div>'


def error_message(message: str) -> str:
    return f'<div class="newsqa-error">{text(message)}</div>'


def answer_message(answer: Answer, turn: int) -> str:
    """The final bubble: the answer with clickable markers, or the refusal, and timings."""
    if answer.refused:
        body = f'<div class="newsqa-refusal">{text(answer.answer)}</div>'
    else:
        titles = {c.n: c.title for c in answer.citations}
        parts = []
        for i, piece in enumerate(MARKER.split(answer.answer)):
            if i % 2 == 0:
                parts.append(text(piece))
            elif int(piece) in titles:
                n = int(piece)
                parts.append(
                    f'<a class="newsqa-cite" href="#{card_id(turn, n)}" '
                    f'title="{html.escape(titles[n])}">&#91;{n}&#93;</a>'
                )
            else:
                parts.append(f"&#91;{piece}&#93;")
        body = f'<div class="newsqa-answer">{"".join(parts)}</div>'
    if answer.standalone_question:  # a follow-up: the question the chain understood
        body += f'<div class="newsqa-timings">Asked as: {text(answer.standalone_question)}</div>'
    return body + f'<div class="newsqa-timings">{text(timings_line(answer))}</div>'


def timings_line(answer: Answer) -> str:
    t = answer.timings
    parts = [f"{t.total_s:.1f} s"]
    if t.ttft_s is not None:
        parts.append(f"first token {t.ttft_s:.1f} s")
    if t.prompt_tokens:
        parts.append(f"{t.prompt_tokens} prompt tokens")
    if answer.confidence is not None:
        parts.append(f"confidence {answer.confidence:.2f}")
    return " · ".join(parts)


def source_cards(
    answer: Answer, turn: int, articles: dict[str, StoredArticle | None], latest: bool
) -> str:
    """One collapsible card per citation: metadata, the quote, the article text with
    the quote highlighted at its offsets."""
    return "".join(_card(c, turn, articles.get(c.article_id), latest) for c in answer.citations)


def _card(citation: Citation, turn: int, article: StoredArticle | None, latest: bool) -> str:
    meta = [
        m for m in (citation.published and citation.published.isoformat(), citation.source) if m
    ]
    url = safe_url(citation.url)
    link = (
        f' · <a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
        f"{text(urlparse(url).netloc)}</a>"
        if url
        else ""
    )
    quote = (
        f'<blockquote class="src-quote">{text(citation.quote)}</blockquote>'
        if citation.quote
        else ""
    )
    return (
        f'<details id="{card_id(turn, citation.n)}" '
        f'class="src-card{" latest" if latest else ""}">'
        f'<summary><span class="src-n">&#91;{citation.n}&#93;</span> '
        f'<span class="src-title">{text(citation.title or citation.article_id)}</span></summary>'
        f'<div class="src-meta">{text(" · ".join(meta))}{link}</div>'
        f"{quote}"
        f'<div class="src-text">{_highlighted(citation, article)}</div>'
        "</details>"
    )


def _highlighted(citation: Citation, article: StoredArticle | None) -> str:
    """The article, headline first, with the quote marked: in the text at its offsets,
    or the headline itself when that is what supports the claim."""
    if article is None:
        return "<em>The article is no longer in the index.</em>"
    body = article.text
    start, end = citation.start, citation.end
    headline = text(article.title)
    if start is None and citation.quote and citation.quote == article.title:
        headline = f"<mark>{headline}</mark>"
    head = f'<div class="src-headline">{headline}</div>' if article.title else ""
    if start is None or end is None or not 0 <= start < end <= len(body):
        return head + text(body)
    return f"{head}{text(body[:start])}<mark>{text(body[start:end])}</mark>{text(body[end:])}"


def sources_panel(exchanges: Sequence[tuple[Answer, dict[str, StoredArticle | None]]]) -> str:
    """Cards for every answer so far; the latest answer's are listed, the older ones
    open when one of their citations is clicked."""
    last = len(exchanges) - 1
    cards = "".join(
        source_cards(answer, turn, articles, latest=turn == last)
        for turn, (answer, articles) in enumerate(exchanges)
    )
    if not cards:
        return (
            '<div class="newsqa-sources-empty">The sources of an answer appear here. '
            "Click a citation such as [1] to read the article with the quote highlighted."
            "</div>"
        )
    return f'<div class="newsqa-sources">{cards}</div>'


def stats_table(stats: dict[str, Any], data_dir: Path | None = None) -> str:
    """The index stats; with ``data_dir``, the store's and catalog's places are shown
    inside it (``NEWSQA_DATA_DIR/chroma``), not as the server's full paths."""
    if data_dir is not None:
        stats = {
            k: _inside(v, data_dir) if k in ("store", "catalog") else v for k, v in stats.items()
        }
    rows = [
        ("collection", stats.get("collection")),
        ("articles", f"{stats.get('articles', 0):,}"),
        ("chunks", f"{stats.get('chunks', 0):,}"),
        ("last ingest", stats.get("last_ingest") or "never"),
        ("vectors", f"{stats.get('vector_backend')}: {stats.get('store')}"),
        ("catalog", f"{stats.get('catalog_backend')}: {stats.get('catalog')}"),
    ]
    body = "".join(f"<tr><th>{text(k)}</th><td>{text(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="newsqa-stats">{body}</table>'


def _inside(place: Any, data_dir: Path) -> Any:
    if not isinstance(place, str):
        return place
    for root in {str(data_dir.resolve()), str(data_dir)}:
        if place == root or place.startswith(root.rstrip("/") + "/"):
            return "NEWSQA_DATA_DIR" + place[len(root.rstrip("/")) :]
    return place
