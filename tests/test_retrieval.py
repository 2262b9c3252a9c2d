"""Hybrid retrieval on a real Chroma and the FTS5 keyword index."""

from datetime import date
from pathlib import Path

from assistant.retrieval import HybridRetriever, chroma_where
from assistant.types import Filters
from index.collection import NewsCollection
from index.ingest import ingest
from tests.conftest import story, write_jsonl


def _retriever(collection: NewsCollection, tmp_path: Path, records: list[dict]) -> HybridRetriever:
    ingest(collection, [write_jsonl(tmp_path / "feed.jsonl", records)], progress=False)
    return HybridRetriever(
        vector_store=collection.vector_store(),
        catalog=collection.catalog,
        embeddings=collection.embeddings,
    )


def test_one_long_article_does_not_crowd_out_the_others(
    tmp_path: Path, collection: NewsCollection
) -> None:
    long = " ".join(
        f"The bridge inspection found crack number {i} in pillar {i}." for i in range(60)
    )
    records = [{"id": "long", "text": long}] + [
        {"id": f"s{i}", "text": story(i, "The bridge was inspected.")} for i in range(6)
    ]
    docs = _retriever(collection, tmp_path, records).invoke("bridge inspection", articles=5)
    per_article: dict[str, int] = {}
    for doc in docs:
        per_article[doc.metadata["article_id"]] = per_article.get(doc.metadata["article_id"], 0) + 1
    assert len(per_article) == 5 and max(per_article.values()) <= 3
    ranks = [d.metadata["article_rank"] for d in docs]
    assert ranks == sorted(ranks)


def test_keyword_search_finds_what_embeddings_miss(
    tmp_path: Path, collection: NewsCollection
) -> None:
    records = [{"id": f"s{i}", "text": story(i)} for i in range(12)]
    records.append({"id": "code", "text": story(99, "The permit number was QX-7731-ZB.")})
    docs = _retriever(collection, tmp_path, records).invoke("QX-7731-ZB", articles=3)
    assert docs[0].metadata["article_id"] == "code"


def test_filters_apply_inside_both_stores(tmp_path: Path, collection: NewsCollection) -> None:
    records = [
        {
            "id": f"web{i}",
            "text": story(i, "Ferry service resumed."),
            "source": "web",
            "published": f"2022-06-0{i + 1}",
        }
        for i in range(8)
    ]
    records.append(
        {
            "id": "cnn",
            "text": "Unrelated report about elections. Ferry mention.",
            "source": "CNN",
            "published": "2022-07-01",
        }
    )
    retriever = _retriever(collection, tmp_path, records)
    only_cnn = retriever.invoke("ferry service resumed", filters=Filters(source="CNN"))
    assert {d.metadata["article_id"] for d in only_cnn} == {"cnn"}
    window = Filters(published_from=date(2022, 6, 3), published_to=date(2022, 6, 5))
    dated = retriever.invoke("ferry service resumed", filters=window, articles=10)
    assert {d.metadata["article_id"] for d in dated} == {"web2", "web3", "web4"}


def test_chroma_where_clauses() -> None:
    assert chroma_where(Filters()) is None
    assert chroma_where(Filters(source="CNN")) == {"source": "CNN"}
    assert chroma_where(Filters(published_from=date(2022, 6, 1), source="CNN")) == {
        "$and": [{"published_day": {"$gte": 20220601}}, {"source": "CNN"}]
    }


def test_keyword_ranking_is_the_same_with_and_without_a_filter_that_passes_all(
    tmp_path: Path, collection: NewsCollection
) -> None:
    """The unfiltered search ranks in the FTS index alone, then reads the k best rows;
    the filtered one joins first: the same chunks, in the same order, with the same
    scores."""
    records: list[dict[str, object]] = [
        {"id": f"s{i}", "text": story(i, "The bridge was inspected." * (i % 3)), "published": day}
        for i, day in enumerate(f"2026-01-{1 + i % 9:02d}" for i in range(12))
    ]
    ingest(collection, [write_jsonl(tmp_path / "feed.jsonl", records)], progress=False)
    for query in ("bridge inspection repairs", "mayor town residents", "welcomed news"):
        plain = collection.catalog.keyword_search(query, 7)
        dated = collection.catalog.keyword_search(query, 7, published_from=date(2025, 1, 1))
        assert len(plain) == 7 and plain == dated
