"""Hybrid retrieval: dense (any LangChain ``VectorStore``) and BM25 fused, per article.

Both searches apply the filters inside their store (a Chroma ``where`` and SQL), then
reciprocal-rank fusion merges the chunk lists, and chunks are grouped per article so
one long article cannot crowd out the others. The result is LangChain ``Document``s,
best article first, each chunk's metadata carrying its article, offsets and score.
Choosing which sentences the LLM sees is the chain's job, not this file's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from assistant.types import Filters
from index.catalog import Catalog
from index.collection import chunk_metadata, day_number

_RRF_K = 60
STOPWORDS = frozenset(ENGLISH_STOP_WORDS)


def chroma_where(filters: Filters) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if filters.published_from:
        clauses.append({"published_day": {"$gte": day_number(filters.published_from)}})
    if filters.published_to:
        clauses.append({"published_day": {"$lte": day_number(filters.published_to)}})
    if filters.source is not None:
        clauses.append({"source": filters.source})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class HybridRetriever(BaseRetriever):
    """Dense + keyword retrieval over one collection, fused and grouped per article."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vector_store: VectorStore
    catalog: Catalog
    embeddings: Embeddings  # the vector store's, also used to score evidence sentences
    articles: int = 5  # distinct articles returned
    chunks_per_article: int = 3
    candidates: int = 40  # chunks asked of each search

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        filters: Filters | None = None,
        articles: int | None = None,
    ) -> list[Document]:
        filters = filters or Filters()
        scores: dict[str, float] = defaultdict(float)
        docs: dict[str, Document] = {}
        dense = self.vector_store.similarity_search(
            query, k=self.candidates, filter=chroma_where(filters)
        )
        for rank, doc in enumerate(dense):
            chunk_id = str(doc.id)
            docs[chunk_id] = doc
            scores[chunk_id] += 1 / (_RRF_K + rank)
        keyword = self.catalog.keyword_search(
            query,
            self.candidates,
            stopwords=STOPWORDS,
            published_from=filters.published_from,
            published_to=filters.published_to,
            source=filters.source,
        )
        for rank, hit in enumerate(keyword):
            scores[hit.chunk_id] += 1 / (_RRF_K + rank)
        missing = [h.chunk_id for h in keyword if h.chunk_id not in docs]
        docs.update(self._documents(missing))
        return self._group(
            [(cid, s) for cid, s in scores.items() if cid in docs], docs, articles or self.articles
        )

    def _documents(self, chunk_ids: list[str]) -> dict[str, Document]:
        """Keyword hits that dense search did not return, read back from the catalog."""
        found = {}
        for chunk in self.catalog.chunks(chunk_ids):
            article = self.catalog.get_article(chunk.article_id)
            if article is None:
                continue
            found[chunk.id] = Document(
                id=chunk.id, page_content=chunk.text, metadata=chunk_metadata(article, chunk)
            )
        return found

    def _group(
        self, scored: list[tuple[str, float]], docs: dict[str, Document], limit: int
    ) -> list[Document]:
        per_article: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for chunk_id, score in sorted(scored, key=lambda item: -item[1]):
            per_article[docs[chunk_id].metadata["article_id"]].append((chunk_id, score))
        # An article ranks by its best chunk, with a little credit for further hits.
        ranked = sorted(
            per_article.values(),
            key=lambda hits: -(hits[0][1] + 0.3 * sum(s for _, s in hits[1:3])),
        )
        result = []
        for rank, hits in enumerate(ranked[:limit]):
            for chunk_id, score in hits[: self.chunks_per_article]:
                doc = docs[chunk_id]
                doc.metadata.update(score=score, article_rank=rank, chunk_id=chunk_id)
                result.append(doc)
        return result
