"""Keyword ranking, embedded vs shared: FTS5 BM25 against PostgreSQL's full-text search.

    python benchmarks/keyword_ranking.py

Loads the dev articles and the 1,986 noise pages (``../shared/data/realtimeqa-dev``),
chunks them as an ingest does, and writes the same chunks into the embedded catalog
(SQLite FTS5, BM25) and the shared one (PostgreSQL 15 on a throwaway loopback cluster;
``tests/services.py``). Then asks every dev question whose gold article is in the
corpus, through ``keyword_search`` with the retriever's stopwords, and scores the
article ranking: Hits@1, Hits@5, MRR (first gold article among the distinct articles of
the top 50 chunks). Three rankings: FTS5 BM25 (the embedded default), our BM25 over
PostgreSQL's full-text parsing and an inverted index (``pg_catalog.py``), and
PostgreSQL's own ``ts_rank`` / ``ts_rank_cd`` over the same matches (no IDF, and with
no GIN index here: its time is not comparable), to show why the BM25 is there. No vectors:
this is the keyword half of retrieval only. Also prints each ranking's median query time.

``--budgets 20000,1100``: both BM25 rankings again with each of these keyword budgets
(``index.catalog.rare_and_common``: past it, the most frequent query words only add to
the scores of chunks that rarer words chose) instead of the exact ranking. The corpus has
47k chunks, so a budget of 1,100 cuts as deep into a question's words as the default
20,000 does at 859k chunks (100k articles).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.words import STOPWORDS  # noqa: E402
from index.articles import Article  # noqa: E402
from index.catalog import Catalog, query_words  # noqa: E402
from index.chunking import chunk_article  # noqa: E402
from index.loaders import SourceFile, load_file  # noqa: E402
from index.pg_catalog import PostgresCatalog  # noqa: E402
from index.sqlite_catalog import SqliteCatalog  # noqa: E402
from tests.services import PostgresCluster  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "realtimeqa-dev"
DEPTH = 50  # chunks read per question, as many as the retriever fuses at most
ASKED = 200  # chunks asked for, as the retriever asks (its ``pool``)

# Rank = a function of (question) -> article ids in ranked order.
Rank = Callable[[str], list[str]]


def _articles(paths: list[Path]) -> list[Article]:
    found = []
    for path in paths:
        found += [
            a for a in load_file(SourceFile(path, path.name), 10**8) if isinstance(a, Article)
        ]
    return found


def _fill(catalog: Catalog, articles: list[Article]) -> float:
    started = time.perf_counter()
    for i in range(0, len(articles), 200):
        part = articles[i : i + 200]
        catalog.replace_articles([(a, chunk_article(a, 500)) for a in part], "2026-11-30")
    return time.perf_counter() - started


def _distinct(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _bm25(catalog: Catalog, budget: int = 10**12) -> Rank:
    def rank(question: str) -> list[str]:
        catalog.keyword_budget = budget  # type: ignore[attr-defined]
        hits = catalog.keyword_search(question, ASKED, stopwords=STOPWORDS)
        return _distinct([h.article_id for h in hits[:DEPTH]])

    return rank


def _ts_rank(catalog: PostgresCatalog, function: str) -> Rank:
    """PostgreSQL's own ranking of the same matches: title weight 1.0, text 0.4 (its
    defaults for A and B), length-normalised (option 1: divide by 1 + log length)."""

    def rank(question: str) -> list[str]:
        words = query_words(question, STOPWORDS)
        if not words:
            return []
        rows = catalog.read(
            f"SELECT c.article_id, {function}(c.tsv, q, 1) AS r FROM chunks c, "
            "(SELECT to_tsquery('english', ?) AS q) x WHERE c.tsv @@ q ORDER BY r DESC LIMIT ?",
            (" | ".join(words), DEPTH),
        )
        return _distinct([str(r[0]) for r in rows])

    return rank


def _score(rank: Rank, questions: list[dict[str, object]]) -> dict[str, float]:
    hits1 = hits5 = rr = 0.0
    seconds = []
    for item in questions:
        gold = set(item["gold_sources"])  # type: ignore[arg-type]
        started = time.perf_counter()
        ranked = rank(str(item["question"]))
        seconds.append(time.perf_counter() - started)
        first = next((n for n, a in enumerate(ranked, 1) if a in gold), None)
        hits1 += first == 1
        hits5 += first is not None and first <= 5
        rr += 1 / first if first else 0.0
    n = len(questions)
    return {
        "hits_at_1": hits1 / n,
        "hits_at_5": hits5 / n,
        "mrr": rr / n,
        "p50_ms": statistics.median(seconds) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-noise", action="store_true", help="the dev articles only")
    parser.add_argument("--budgets", default="", help="keyword budgets to rank with too: a,b")
    args = parser.parse_args()
    paths = [DEV / "articles.jsonl"] + ([] if args.no_noise else [DEV / "noise.jsonl"])
    articles = _articles(paths)
    ids = {a.id for a in articles}
    questions = [
        q
        for q in map(json.loads, (DEV / "questions.jsonl").read_text().splitlines())
        if set(q["gold_sources"]) & ids
    ]
    print(f"{len(articles)} articles, {len(questions)} questions with a gold article in them")
    cluster = PostgresCluster()
    cluster.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            sqlite = SqliteCatalog(Path(folder) / "bench.sqlite")
            shared = PostgresCatalog(cluster.fresh_database("bench"), "bench")
            print(f"fill: sqlite {_fill(sqlite, articles):.1f} s, "
                  f"postgresql {_fill(shared, articles):.1f} s")  # fmt: skip
            with psycopg.connect(shared.url, autocommit=True) as db:
                db.execute("VACUUM ANALYZE")  # what autovacuum does after a big ingest
            rankings: dict[str, Rank] = {
                "sqlite fts5 bm25": _bm25(sqlite),
                "postgresql bm25 (postings)": _bm25(shared),
                "postgresql ts_rank": _ts_rank(shared, "ts_rank"),
                "postgresql ts_rank_cd": _ts_rank(shared, "ts_rank_cd"),
            }
            for budget in (int(b) for b in args.budgets.split(",") if b.strip()):
                rankings[f"sqlite fts5 bm25, budget {budget}"] = _bm25(sqlite, budget)
                rankings[f"postgresql bm25, budget {budget}"] = _bm25(shared, budget)
            for name, rank in rankings.items():
                rank(str(questions[0]["question"]))  # warm-up
                scores = _score(rank, questions)
                print(f"{name:<34}" + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()))
            sqlite.close()
            shared.close()
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
