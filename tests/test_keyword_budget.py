"""Keyword search past its budget: the rarest words choose the chunks, the common ones
still add to their scores (``index.catalog.rare_and_common``), in both catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.articles import Article
from index.catalog import Catalog, rare_and_common
from index.chunking import chunk_article
from index.pg_catalog import PostgresCatalog
from index.sqlite_catalog import SqliteCatalog
from tests.services import PostgresCluster

TEXTS = {
    "both": "Zebras crossed the river this week. The week was busy. The week ended.",
    "rare": "Zebras grazed near the lake at dawn.",
    **{f"common{i}": f"Every week the market opens. Stall {i} sold fruit." for i in range(4)},
    **{f"other{i}": f"Stall {i} sold bread at the harbour." for i in range(10)},
}


def test_the_rarest_words_choose_until_the_budget_is_spent() -> None:
    counts = {"week": 40, "zebra": 2, "river": 5, "absent": 0}
    assert rare_and_common(counts, 10) == (["zebra", "river"], ["week"])
    assert rare_and_common(counts, 100) == (["zebra", "river", "week"], [])
    # The rarest word chooses even when it alone is over the budget.
    assert rare_and_common(counts, 1) == (["zebra"], ["week", "river"])
    assert rare_and_common({"absent": 0}, 10) == ([], [])


def _filled(catalog: Catalog) -> Catalog:
    articles = [Article(id=key, text=text, title="Notes") for key, text in TEXTS.items()]
    catalog.replace_articles([(a, chunk_article(a, 500)) for a in articles], "2026-12-01")
    return catalog


def _check_common_words_only_score(catalog: Catalog) -> None:
    catalog.keyword_budget = 100  # type: ignore[attr-defined]
    exact = {h.article_id: h.score for h in catalog.keyword_search("zebra week", 10)}
    assert set(exact) == {"both", "rare"} | {f"common{i}" for i in range(4)}
    catalog.keyword_budget = 2  # type: ignore[attr-defined]  # zebra: 2 chunks, week: 5
    hits = catalog.keyword_search("zebra week", 10)
    # Only the chunks with the rare word, each with its full BM25 score, "week" included.
    assert {h.article_id for h in hits} == {"both", "rare"}
    assert [h.score for h in hits] == pytest.approx([exact[h.article_id] for h in hits])
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    alone = {h.article_id: h.score for h in catalog.keyword_search("zebra", 10)}
    assert exact["both"] > alone["both"] + 0.1  # what "week" adds
    dated = catalog.keyword_search("zebra week", 10, source="elsewhere")
    assert dated == []  # the filters still apply past the budget


def test_sqlite_catalog_past_its_keyword_budget(tmp_path: Path) -> None:
    catalog = _filled(SqliteCatalog(tmp_path / "c.sqlite"))
    _check_common_words_only_score(catalog)
    catalog.close()


@pytest.mark.server
def test_postgresql_catalog_past_its_keyword_budget(postgres: PostgresCluster) -> None:
    catalog = _filled(PostgresCatalog(postgres.fresh_database("budget"), "budget"))
    _check_common_words_only_score(catalog)
    catalog.close()
