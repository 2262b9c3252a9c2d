"""Hybrid retrieval: dense (any LangChain ``VectorStore``) and BM25 fused, per article.

Both searches apply the filters inside their store (a Chroma ``where`` and SQL), then
reciprocal-rank fusion merges the chunk lists, and chunks are grouped per article so
one long article cannot crowd out the others. The result is LangChain ``Document``s,
best article first, each chunk's metadata carrying its article, offsets and score.
Choosing which sentences the LLM sees is the chain's job, not this file's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict

from assistant.types import Filters
from assistant.words import STOPWORDS
from index.catalog import Catalog, StoredArticle
from index.collection import NewsCollection, chunk_metadata, day_number
from index.store import store_errors

_RRF_K = 60


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


def _passes(meta: dict[str, Any], filters: Filters) -> bool:
    """What ``chroma_where(filters)`` lets through, for one chunk's metadata."""
    day = meta.get("published_day")
    if filters.published_from and (day is None or day < day_number(filters.published_from)):
        return False
    if filters.published_to and (day is None or day > day_number(filters.published_to)):
        return False
    return filters.source is None or meta.get("source") == filters.source


class HybridRetriever(BaseRetriever):
    """Dense + keyword retrieval over one collection, fused and grouped per article."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vector_store: VectorStore
    catalog: Catalog
    embeddings: Embeddings  # the vector store's, also used to score evidence sentences
    articles: int = 5  # distinct articles returned
    chunks_per_article: int = 3
    candidates: int = 40  # chunks of each ranked list that are fused
    pool: int = 200  # chunks fetched from each store, from which the lists are cut

    @classmethod
    def for_collection(cls, collection: NewsCollection, **options: Any) -> HybridRetriever:
        """The retriever of an open collection (``options``: ``articles``, ...)."""
        return cls(
            vector_store=collection.vector_store(),
            catalog=collection.catalog,
            embeddings=collection.embeddings,
            **options,
        )

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        filters: Filters | None = None,
        articles: int | None = None,
        prefer: tuple[date, date] | None = None,
        prefer_weight: float = 1.0,
    ) -> list[Document]:
        """``prefer``: a publication window whose chunks get a second, weighted rank in
        the fusion: in-window articles rise, the others stay in the running."""
        filters = filters or Filters()
        dense = self._dense(self.embeddings.embed_query(query), filters)
        keyword = self.catalog.keyword_search(
            query,
            self.pool,
            stopwords=STOPWORDS,
            published_from=filters.published_from,
            published_to=filters.published_to,
            source=filters.source,
        )
        docs = {str(d.id): d for d in dense}
        article_of = {str(d.id): d.metadata["article_id"] for d in dense}
        article_of.update((h.chunk_id, h.article_id) for h in keyword)
        ranked = [([str(d.id) for d in dense], 1.0), ([h.chunk_id for h in keyword], 1.0)]
        if prefer is not None:
            low, high = day_number(prefer[0]), day_number(prefer[1])
            in_dense = [
                str(d.id) for d in dense if low <= d.metadata.get("published_day", 0) <= high
            ]
            in_keyword = [
                h.chunk_id
                for h in keyword
                if h.published and low <= day_number(h.published) <= high
            ]
            ranked += [(in_dense, prefer_weight), (in_keyword, prefer_weight)]
        scores: dict[str, float] = defaultdict(float)
        for chunk_ids, weight in ranked:
            for rank, chunk_id in enumerate(chunk_ids[: self.candidates]):
                scores[chunk_id] += weight / (_RRF_K + rank)
        return self._group(scores, article_of, docs, articles or self.articles)

    def _dense(self, embedded: list[float], filters: Filters) -> list[Document]:
        """Nearest chunks that pass the filters, best first (up to ``pool``).

        Chroma's filtered search scans metadata (~170 ms at 47k chunks against 4 ms
        unfiltered), so the filters are applied to an unfiltered pool first; only when
        fewer than ``candidates`` pass does Chroma filter, and the result is the same.
        """
        with store_errors():
            pool = self.vector_store.similarity_search_by_vector(embedded, k=self.pool)
        where = chroma_where(filters)
        if where is None:
            return list(pool)
        passed = [d for d in pool if _passes(d.metadata, filters)]
        if len(passed) >= self.candidates or len(pool) < self.pool:
            return passed
        with store_errors():
            return list(
                self.vector_store.similarity_search_by_vector(embedded, k=self.pool, filter=where)
            )

    def _documents(self, chunk_ids: list[str]) -> dict[str, Document]:
        """Keyword hits that dense search did not return, read back from the catalog."""
        found = {}
        articles: dict[str, StoredArticle | None] = {}
        for chunk in self.catalog.chunks(chunk_ids):
            if chunk.article_id not in articles:
                articles[chunk.article_id] = self.catalog.get_article(chunk.article_id)
            article = articles[chunk.article_id]
            if article is None:
                continue
            found[chunk.id] = Document(
                id=chunk.id, page_content=chunk.text, metadata=chunk_metadata(article, chunk)
            )
        return found

    def _group(
        self,
        scores: dict[str, float],
        article_of: dict[str, str],
        docs: dict[str, Document],
        limit: int,
    ) -> list[Document]:
        per_article: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for chunk_id, score in sorted(scores.items(), key=lambda item: -item[1]):
            per_article[article_of[chunk_id]].append((chunk_id, score))
        # An article ranks by its best chunk, with a little credit for further hits.
        ranked = sorted(
            per_article.values(),
            key=lambda hits: -(hits[0][1] + 0.3 * sum(s for _, s in hits[1:3])),
        )[:limit]
        wanted = [cid for hits in ranked for cid, _ in hits[: self.chunks_per_article]]
        docs = {**docs, **self._documents([c for c in wanted if c not in docs])}
        result = []
        for rank, hits in enumerate(ranked):
            for chunk_id, score in hits[: self.chunks_per_article]:
                if chunk_id not in docs:  # deleted since it was found
                    continue
                doc = docs[chunk_id]
                doc.metadata.update(score=score, article_rank=rank, chunk_id=chunk_id)
                result.append(doc)
        return result
