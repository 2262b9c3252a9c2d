"""Choose what the model reads: the best passages of the best articles, within a budget.

Retrieval returns chunks grouped per article, best first. This file keeps the top
articles and, within a token budget, their best chunks, in article order, and renders
them as numbered sources. Prompt length is the latency on a 2-core CPU, so the budget
is tight (``NEWSQA_CONTEXT_TOKENS``); tokens are estimated at 4 characters each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from langchain_core.documents import Document

CHARS_PER_TOKEN = 4


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


def select_sources(docs: list[Document], max_sources: int, budget_tokens: int) -> list[Source]:
    by_article: dict[str, list[Document]] = {}
    for doc in docs:
        by_article.setdefault(doc.metadata["article_id"], []).append(doc)
    budget = budget_tokens * CHARS_PER_TOKEN
    sources: list[Source] = []
    # Round-robin over ranks: every shown article gets its best chunk before any
    # article gets a second one.
    articles = list(by_article.items())[:max_sources]
    for depth in range(max(len(chunks) for _, chunks in articles) if articles else 0):
        for rank, (article_id, chunks) in enumerate(articles):
            if depth >= len(chunks):
                continue
            doc = chunks[depth]
            cost = len(doc.page_content) + (len(doc.metadata.get("title", "")) if depth == 0 else 0)
            if cost > budget and (sources or depth > 0):
                continue
            budget -= cost
            source = next((s for s in sources if s.article_id == article_id), None)
            if source is None:
                meta = doc.metadata
                published = meta.get("published")
                source = Source(
                    n=0,
                    article_id=article_id,
                    title=meta.get("title", ""),
                    published=date.fromisoformat(published) if published else None,
                    source=meta.get("source", ""),
                    url=meta.get("url", ""),
                )
                source.n = rank  # provisional: renumbered below
                sources.append(source)
            source.passages.append(
                Passage(int(doc.metadata["start"]), int(doc.metadata["end"]), doc.page_content)
            )
    sources.sort(key=lambda s: s.n)
    for n, source in enumerate(sources, start=1):
        source.n = n
        source.passages.sort(key=lambda p: p.start)
    return sources


def render_sources(sources: list[Source]) -> str:
    return "\n\n".join(s.render() for s in sources)
