"""Choose what the model reads: the sentences that bear on the question, in context.

Retrieval returns whole chunks of the best articles. A 1.5B model on 2 cores reads
~50-80 prompt tokens a second and loses the thread in long context, so this file
narrows them down: every sentence of the retrieved chunks is scored against the
question (embedding similarity plus the share of the question's content words it
contains), the best ones are taken with one neighbouring sentence on each side,
overlapping windows are merged, and windows are added best first until the token
budget (``NEWSQA_CONTEXT_TOKENS``, estimated at 4 characters a token) is spent.
Windows are shown grouped per article, in article order, as numbered sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from assistant.words import content_words
from index.catalog import Catalog
from index.chunking import sentence_spans

CHARS_PER_TOKEN = 4
LEXICAL_WEIGHT = 0.3  # how much word overlap counts next to embedding similarity
WINDOW = 1  # neighbouring sentences shown on each side of a chosen one


@dataclass(frozen=True)
class Passage:
    start: int  # offsets in the article text
    end: int
    text: str


@dataclass
class Source:
    n: int
    article_id: str
    title: str
    published: date | None = None
    source: str = ""
    url: str = ""
    passages: list[Passage] = field(default_factory=list)
    score: float = 0.0  # best sentence score, for ordering and refusal decisions

    def render(self) -> str:
        head = f"[{self.n}] {self.title}"
        if self.published:
            head += f" ({self.published.isoformat()})"
        body = ""
        for i, passage in enumerate(self.passages):
            if i:  # a gap in the article is shown as an ellipsis
                body += " " if passage.start - self.passages[i - 1].end <= 2 else " … "
            body += " ".join(passage.text.split())
        return f"{head}\n{body}"


@dataclass
class _Sentence:
    article_id: str
    index: int  # position among the article's sentences
    score: float = 0.0


def select_evidence(
    question: str,
    docs: list[Document],
    catalog: Catalog,
    embeddings: Embeddings,
    *,
    max_sources: int,
    budget_tokens: int,
    stopwords: frozenset[str] = frozenset(),
) -> list[Source]:
    articles: dict[str, tuple[str, list[tuple[int, int]], Document]] = {}
    candidates: list[_Sentence] = []
    for doc in docs:
        article_id = doc.metadata["article_id"]
        if article_id not in articles:
            if len(articles) == max_sources:
                continue
            stored = catalog.get_article(article_id)
            if stored is None:
                continue
            articles[article_id] = (stored.text, sentence_spans(stored.text), doc)
        spans = articles[article_id][1]
        start, end = int(doc.metadata["start"]), int(doc.metadata["end"])
        candidates += [
            _Sentence(article_id, i) for i, (s, e) in enumerate(spans) if s >= start and e <= end
        ]
    if not candidates:
        return []
    _score(question, candidates, articles, embeddings, stopwords)
    chosen = _windows(candidates, articles, budget_tokens * CHARS_PER_TOKEN)
    return _sources(chosen, articles)


def _score(
    question: str,
    candidates: list[_Sentence],
    articles: dict[str, tuple[str, list[tuple[int, int]], Document]],
    embeddings: Embeddings,
    stopwords: frozenset[str],
) -> None:
    texts = []
    for sentence in candidates:
        text, spans, _ = articles[sentence.article_id]
        s, e = spans[sentence.index]
        texts.append(text[s:e])
    vectors = np.array(embeddings.embed_documents(texts))
    query = np.array(embeddings.embed_query(question))
    similarity = vectors @ query
    wanted = content_words(question, stopwords)
    for sentence, text, sim in zip(candidates, texts, similarity, strict=True):
        overlap = len(wanted & content_words(text, stopwords)) / len(wanted) if wanted else 0.0
        sentence.score = float(sim) + LEXICAL_WEIGHT * overlap


def _windows(
    candidates: list[_Sentence],
    articles: dict[str, tuple[str, list[tuple[int, int]], Document]],
    budget: int,
) -> dict[str, dict[int, float]]:
    """Sentence indexes to show per article (with the score of the window's best)."""
    chosen: dict[str, dict[int, float]] = {}
    seen: set[tuple[str, int]] = set()
    for best in sorted(candidates, key=lambda s: -s.score):
        if (best.article_id, best.index) in seen:
            continue
        spans = articles[best.article_id][1]
        window = range(max(0, best.index - WINDOW), min(len(spans), best.index + WINDOW + 1))
        new = [i for i in window if (best.article_id, i) not in seen]
        cost = sum(spans[i][1] - spans[i][0] + 1 for i in new)
        if cost > budget:
            new = [best.index] if (best.article_id, best.index) not in seen else []
            cost = sum(spans[i][1] - spans[i][0] + 1 for i in new)
            if cost > budget and chosen:
                continue
        budget -= cost
        picked = chosen.setdefault(best.article_id, {})
        for i in new:
            seen.add((best.article_id, i))
            picked[i] = max(picked.get(i, 0.0), best.score)
        if budget <= 0:
            break
    return chosen


def _sources(
    chosen: dict[str, dict[int, float]],
    articles: dict[str, tuple[str, list[tuple[int, int]], Document]],
) -> list[Source]:
    sources = []
    for article_id, picked in chosen.items():
        text, spans, doc = articles[article_id]
        meta = doc.metadata
        published = meta.get("published")
        source = Source(
            n=0,
            article_id=article_id,
            title=meta.get("title", ""),
            published=date.fromisoformat(published) if published else None,
            source=meta.get("source", ""),
            url=meta.get("url", ""),
            score=max(picked.values()),
        )
        run: list[int] = []
        for i in sorted(picked):
            if run and i != run[-1] + 1:
                source.passages.append(_passage(text, spans, run))
                run = []
            run.append(i)
        source.passages.append(_passage(text, spans, run))
        sources.append(source)
    sources.sort(key=lambda s: -s.score)
    for n, source in enumerate(sources, start=1):
        source.n = n
    return sources


def _passage(text: str, spans: list[tuple[int, int]], run: list[int]) -> Passage:
    start, end = spans[run[0]][0], spans[run[-1]][1]
    return Passage(start, end, text[start:end])


def render_sources(sources: list[Source]) -> str:
    return "\n\n".join(s.render() for s in sources)
