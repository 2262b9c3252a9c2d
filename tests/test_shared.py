"""Shared mode: the catalog in a real PostgreSQL 15, the vectors in a real ``chroma run``.

Several writers on "several machines" (processes with their own data dirs), faults of
the database at start and in the middle of an ingest, and the keyword ranking against
the embedded catalog's FTS5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from index.articles import Article
from index.chunking import chunk_article
from index.collection import NewsCollection
from index.errors import StoreError, UnknownCollection
from index.ingest import IngestReport, ingest, writing
from index.loaders import SourceFile, load_file
from index.pg_schema import schema_name
from settings import Settings
from tests.conftest import ROOT, SAMPLES, CountingEmbeddings, story, write_jsonl
from tests.services import PostgresCluster, free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _cli(*args: str, data_dir: Path, **env: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir), "NEWSQA_INGEST_BATCH": "5", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "index", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _expected_chunks(*feeds: Path) -> set[str]:
    articles = [
        a
        for feed in feeds
        for a in load_file(SourceFile(feed, feed.name), 10**7)
        if isinstance(a, Article)
    ]
    return {c.id for a in articles for c in chunk_article(a, 500)}


def test_ingest_search_and_stats_in_shared_mode(
    shared_settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    collection = NewsCollection(shared_settings, embeddings=embeddings, create=True)
    report = ingest(collection, [SAMPLES], progress=False)
    assert report.added == 2 and collection.problems() == []
    again = ingest(collection, [SAMPLES], progress=False)
    assert (again.added, again.unchanged) == (0, 2)
    stats = collection.stats()
    assert stats["catalog_backend"] == "postgresql"
    assert stats["vector_backend"] == "chroma server"
    assert PostgresCluster.password not in stats["catalog"]
    assert stats["vectors"] == stats["chunks"] > 0

    # The same articles in the embedded default rank the same articles first.
    embedded = NewsCollection(
        shared_settings.model_copy(
            update={"database_url": "", "chroma_url": "", "data_dir": tmp_path / "embedded"}
        ),
        embeddings=embeddings,
        create=True,
    )
    ingest(embedded, [SAMPLES], progress=False)
    for query in ("Coatepec Harinas ambush officers", "mayor candidate Oaxaca", "police killed"):
        shared_hits = collection.catalog.keyword_search(query, 3)
        fts5_hits = embedded.catalog.keyword_search(query, 3)
        assert shared_hits and shared_hits[0].article_id == fts5_hits[0].article_id
    embedded.close()
    collection.close()

    shown = _cli("stats", data_dir=tmp_path / "elsewhere")
    out, err = shown.communicate(timeout=120)
    assert shown.returncode == 0, err
    assert "postgresql" in out and "chroma server" in out


def test_two_machines_ingesting_at_once_store_every_article_once(
    shared_settings: Settings, tmp_path: Path
) -> None:
    """Two ingests into one shared collection, started together: A's 40 articles, and B
    with 20 of them again plus the texts of 20 others under new ids (duplicates)."""
    records: list[dict[str, object]] = [
        {"id": f"a{i}", "text": story(i, "Pelicans nested there.")} for i in range(40)
    ]
    feed_a = write_jsonl(tmp_path / "a.jsonl", records)
    again = records[:20] + [{**r, "id": f"b{i}"} for i, r in enumerate(records[20:])]
    feed_b = write_jsonl(tmp_path / "b.jsonl", again)
    runs = [
        _cli("ingest", str(feed), "--json", data_dir=tmp_path / machine)
        for feed, machine in ((feed_a, "machine-a"), (feed_b, "machine-b"))
    ]
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(r["added"] for r in reports) == 40
    assert all(r["added"] + r["unchanged"] + r["duplicates"] == 40 for r in reports)

    collection = NewsCollection(shared_settings)
    assert collection.problems() == []
    assert collection.catalog.counts()[0] == 40
    assert collection.catalog.chunk_ids() == collection.stored_chunk_ids()
    # Each text once, under whichever id reached the database first.
    stored = [collection.catalog.get_article(i) for i in collection.catalog.content_hashes()]
    assert sorted(a.text for a in stored if a) == sorted(str(r["text"]) for r in records)
    hits = collection.catalog.keyword_search("pelicans", 400)
    assert len({h.article_id for h in hits}) == 40
    collection.close()


def test_database_down_at_start_is_one_clear_error(shared_settings: Settings) -> None:
    dead = f"postgresql://newsqa:x@127.0.0.1:{free_port()}/newsqa"
    shown = _cli("stats", data_dir=shared_settings.data_dir, NEWSQA_DATABASE_URL=dead)
    _, err = shown.communicate(timeout=120)
    assert shown.returncode == 2
    assert err.startswith("error: cannot connect to PostgreSQL at postgresql://127.0.0.1:")
    assert "Traceback" not in err


def test_wrong_password_is_named_and_not_shown(
    shared_settings: Settings, postgres: PostgresCluster
) -> None:
    wrong = postgres.url_for("newsqa", password="not-the-password")
    with pytest.raises(StoreError, match="password authentication failed") as raised:
        NewsCollection(shared_settings.model_copy(update={"database_url": wrong}), create=True)
    assert "not-the-password" not in str(raised.value)


def test_a_catalog_without_shared_vectors_is_refused(shared_settings: Settings) -> None:
    with pytest.raises(StoreError, match="NEWSQA_CHROMA_URL"):
        NewsCollection(shared_settings.model_copy(update={"chroma_url": ""}), create=True)


def test_database_restarted_mid_ingest_then_the_rerun_is_whole(
    shared_settings: Settings,
    embeddings: CountingEmbeddings,
    postgres: PostgresCluster,
    tmp_path: Path,
) -> None:
    feed = write_jsonl(
        tmp_path / "feed.jsonl",
        [{"id": f"a{i}", "text": story(i, "Herons nested there.")} for i in range(30)],
    )
    settings = shared_settings.model_copy(update={"ingest_batch": 5})
    collection = NewsCollection(settings, embeddings=embeddings, create=True)

    def stop_database(step: str, batch: int) -> None:
        if (step, batch) == ("vectors", 3):
            postgres.stop("immediate")

    try:
        with pytest.raises(StoreError, match=r"postgresql://127\.0\.0\.1"):
            ingest(collection, [feed], progress=False, on_step=stop_database)
    finally:
        postgres.start()
    report = ingest(collection, [feed], progress=False)  # the same object reconnects
    assert report.repaired > 0 and report.added + report.updated > 0
    assert collection.problems() == []
    assert collection.catalog.counts()[0] == 30
    assert collection.catalog.chunk_ids() == collection.stored_chunk_ids()
    assert collection.catalog.chunk_ids() == _expected_chunks(feed)
    collection.close()


def test_tables_of_a_newer_version_are_refused_by_name(shared_settings: Settings) -> None:
    NewsCollection(shared_settings, create=True).close()
    with psycopg.connect(shared_settings.database_url, autocommit=True) as db:
        db.execute("UPDATE newsqa_collections SET version = 99")
        assert db.execute("SELECT schema FROM newsqa_collections").fetchone() == (
            schema_name(shared_settings.collection),
        )
    with pytest.raises(StoreError, match="version 99, made by a newer newsqa"):
        NewsCollection(shared_settings)


def test_a_batch_stored_by_another_writer_meanwhile_is_not_stored_twice(
    shared_settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    """Two writers read the catalog before either stores anything; the second to take
    the lock finds the first's articles (same ids: unchanged; same texts under other
    ids: duplicates) and writes none of them."""
    texts = [story(i, "Ospreys nested there.") for i in range(6)]
    first = load_file(
        SourceFile(
            write_jsonl(
                tmp_path / "a.jsonl", [{"id": f"a{i}", "text": t} for i, t in enumerate(texts)]
            ),
            "a.jsonl",
        ),
        10**7,
    )
    second = load_file(
        SourceFile(
            write_jsonl(
                tmp_path / "b.jsonl",
                [{"id": f"a{i}" if i < 3 else f"b{i}", "text": t} for i, t in enumerate(texts)],
            ),
            "b.jsonl",
        ),
        10**7,
    )
    one = NewsCollection(shared_settings, embeddings=embeddings, create=True)
    two = NewsCollection(shared_settings, embeddings=embeddings)
    reports = IngestReport(), IngestReport()
    with writing(one, reports[0]) as run_one, writing(two, reports[1]) as run_two:
        for article in second:
            assert isinstance(article, Article)
            run_two.take(article)
        for article in first:
            assert isinstance(article, Article)
            run_one.take(article)
        assert reports[1].added == 6  # as far as the second writer knew then
        run_one.flush()
    assert (reports[0].added, reports[1].added) == (6, 0)
    assert (reports[1].unchanged, reports[1].duplicates) == (3, 3)
    assert one.catalog.counts()[0] == 6 and one.problems() == []
    assert one.catalog.chunk_ids() == two.stored_chunk_ids()
    one.close()
    two.close()


def test_problems_name_a_keyword_index_out_of_step(
    shared_settings: Settings, embeddings: CountingEmbeddings
) -> None:
    collection = NewsCollection(shared_settings, embeddings=embeddings, create=True)
    ingest(collection, [SAMPLES], progress=False)
    schema = schema_name(shared_settings.collection)
    with psycopg.connect(shared_settings.database_url, autocommit=True) as db:
        db.execute(f"DELETE FROM {schema}.postings WHERE lexeme = 'ambush'")
        db.execute(f"UPDATE {schema}.totals SET chunks = chunks + 1")
    found = collection.problems()
    assert "keyword index has 1 words with a wrong document count" in found
    assert any(p.startswith("keyword totals say") for p in found)
    collection.close()


def test_opening_a_collection_connects_once_and_a_failed_open_leaves_none_open(
    shared_settings: Settings, embeddings: CountingEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.pg_catalog

    opened: list[psycopg.Connection[object]] = []
    real = index.pg_catalog.connect

    def counting(url: str) -> psycopg.Connection[object]:
        opened.append(real(url))
        return opened[-1]

    monkeypatch.setattr(index.pg_catalog, "connect", counting)
    made = NewsCollection(shared_settings, embeddings=embeddings, create=True)
    ingest(made, [SAMPLES], progress=False)
    made.close()
    before = len(opened)  # making it asked first (the name's rules), then made it
    again = NewsCollection(shared_settings, embeddings=embeddings)
    assert len(opened) == before + 1 and again.stats()["articles"] == 2
    again.close()
    other = shared_settings.model_copy(update={"collection": "nowhere"})
    with pytest.raises(UnknownCollection, match="no collection 'nowhere'"):
        NewsCollection(other, embeddings=embeddings)
    assert all(conn.closed for conn in opened)


def test_a_word_no_chunk_holds_any_more_leaves_the_keyword_index(
    shared_settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    collection = NewsCollection(shared_settings, embeddings=embeddings, create=True)
    first: list[dict[str, object]] = [{"id": "a1", "text": story(1, "Zyzzyvas swarmed.")}]
    ingest(collection, [write_jsonl(tmp_path / "v1.jsonl", first)], progress=False)
    second: list[dict[str, object]] = [{"id": "a1", "text": story(1, "Pelicans nested.")}]
    report = ingest(collection, [write_jsonl(tmp_path / "v2.jsonl", second)], progress=False)
    assert report.updated == 1
    schema = schema_name(shared_settings.collection)
    with psycopg.connect(shared_settings.database_url, autocommit=True) as db:
        rows = db.execute(f"SELECT lexeme, df FROM {schema}.terms").fetchall()
    words: dict[str, int] = dict(rows)
    assert "zyzzyva" not in words and "pelican" in words and min(words.values()) > 0
    assert collection.catalog.keyword_search("zyzzyvas", 3) == []
    assert collection.problems() == []
    collection.close()


def test_health_says_503_while_the_database_is_down_and_ok_once_it_is_back(
    shared_settings: Settings, embeddings: CountingEmbeddings, postgres: PostgresCluster
) -> None:
    from assistant import build_chain
    from assistant.fake import RecordingChatModel
    from assistant.server import api_app
    from tests.served import serving

    collection = NewsCollection(shared_settings, embeddings=embeddings, create=True)
    ingest(collection, [SAMPLES], progress=False)
    collection.close()
    settings = shared_settings.model_copy(update={"api_key": SecretStr("k3y")})
    chain = build_chain(settings, llm=RecordingChatModel(), embeddings=embeddings, progress=False)
    with serving(api_app(chain)) as url:
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        postgres.stop("immediate")
        try:
            down = httpx.get(f"{url}/healthz", timeout=30)
            told = httpx.get(f"{url}/healthz", headers={"Authorization": "Bearer k3y"}, timeout=30)
        finally:
            postgres.start()
        assert down.status_code == 503 and down.json() == {"status": "unavailable"}
        assert told.status_code == 503 and "PostgreSQL" in told.json()["error"]
        assert PostgresCluster.password not in told.text
        back = httpx.get(f"{url}/healthz", timeout=30)  # the same replica reconnects
        assert back.status_code == 200 and back.json()["status"] == "ok"
