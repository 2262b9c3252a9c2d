"""Collections are made only by ingest or an explicit create: opening one by name never
creates it, new names follow one rule, every entry point says so in one line, and a
chain keeps a bounded number of collections open, from any number of threads."""

from __future__ import annotations

import gc
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest

from assistant import Question, build_chain
from assistant import builder as builder_module
from assistant import cli as assistant_cli
from assistant.fake import RecordingChatModel
from eval import cli as eval_cli
from index import cli as index_cli
from index.collection import NewsCollection, catalog_path, collection_names
from index.errors import InvalidInput, UnknownCollection
from index.ingest import ingest
from index.sqlite_catalog import SqliteCatalog
from index.store import chroma_client
from settings import Settings, get_settings
from tests.conftest import (
    ROOT,
    ChromaServer,
    CountingEmbeddings,
    stored_collections,
    story,
    write_jsonl,
)


def _named(settings: Settings, name: str) -> Settings:
    return settings.model_copy(update={"collection": name})


def _create(settings: Settings, name: str) -> None:
    NewsCollection(_named(settings, name), create=True).close()


def test_an_unknown_collection_is_an_error_listing_the_others_and_creates_nothing(
    settings: Settings,
) -> None:
    with pytest.raises(UnknownCollection, match=r"no collection 'news' \(there are none yet\)"):
        NewsCollection(settings)
    assert stored_collections(settings) == ([], [])
    _create(settings, "news")
    _create(settings, "sport")
    before = stored_collections(settings)
    with pytest.raises(
        UnknownCollection,
        match=r"there is no collection 'nope' \(the collections are: news, sport\); "
        r"python -m index ingest --collection NAME PATH or the Articles tab creates one",
    ):
        NewsCollection(_named(settings, "nope"))
    assert stored_collections(settings) == before
    opened = NewsCollection(settings)
    assert opened.stats()["articles"] == 0
    opened.close()


@pytest.mark.parametrize(
    "name", ["ab", "News", "a" * 64, "a.b", "-ab", "_ab", "ab-", "a b", "é-news", "", "../x"]
)
def test_a_new_collection_needs_a_plain_name(settings: Settings, name: str) -> None:
    with pytest.raises(InvalidInput, match="cannot name a new collection: use 3-63 lowercase"):
        _create(settings, name)
    assert stored_collections(settings) == ([], [])


@pytest.mark.parametrize("name", ["abc", "news_2021", "a" * 63, "0-x", "wire-feed-2"])
def test_plain_names_are_created_and_listed(settings: Settings, name: str) -> None:
    _create(settings, name)
    assert collection_names(settings) == [name]


def test_collections_made_before_the_rule_still_open(settings: Settings) -> None:
    # An older version accepted any name Chroma does: such a collection keeps working.
    chroma_client(settings).get_or_create_collection("Old.News", embedding_function=None)
    SqliteCatalog(catalog_path(settings, "Old.News")).close()
    assert collection_names(settings) == ["Old.News"]
    NewsCollection(_named(settings, "Old.News")).close()
    NewsCollection(_named(settings, "Old.News"), create=True).close()


def test_half_a_collection_is_named_for_what_it_lacks(settings: Settings) -> None:
    _create(settings, "news")
    chroma_client(settings).delete_collection("news")
    with pytest.raises(UnknownCollection, match=r"has a catalog .* but no vectors"):
        NewsCollection(settings)
    _create(settings, "news")  # an ingest makes the vectors again (and repairs them)
    assert collection_names(settings) == ["news"]
    catalog_path(settings, "news").unlink()
    with pytest.raises(UnknownCollection, match=r"but has no catalog .* another NEWSQA_DATA_DIR"):
        NewsCollection(settings)


def test_index_stats_and_assistant_ask_do_not_create_collections(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSQA_LLM", "fake")
    get_settings.cache_clear()
    assert index_cli.main(["stats", "--collection", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: there is no collection 'nope'")
    assert assistant_cli.main(["ask", "Who won?", "--collection", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: there is no collection 'nope'")
    seed = str(ROOT / "eval" / "sets" / "seed.jsonl")
    out = str(settings.data_dir.parent / "run")
    assert eval_cli.main(["run", seed, "--collection", "nope", "--out", out, "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: there is no collection 'nope'")
    assert stored_collections(settings) == ([], [])


def test_index_ingest_checks_a_new_name(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [{"id": "s1", "text": story(1)}])
    assert index_cli.main(["ingest", str(feed), "--collection", "Wire", "--json"]) == 2
    assert "'Wire' cannot name a new collection" in capsys.readouterr().err
    assert stored_collections(settings) == ([], [])


def _story_in(settings: Settings, name: str, embeddings: CountingEmbeddings, tmp: Path) -> None:
    collection = NewsCollection(_named(settings, name), embeddings=embeddings, create=True)
    feed = write_jsonl(tmp / f"{name}.jsonl", [{"id": name, "title": name, "text": story(1)}])
    ingest(collection, [feed], progress=False)
    collection.close()


def test_a_chain_keeps_only_the_last_collections_open(
    settings: Settings,
    embeddings: CountingEmbeddings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(builder_module, "OPEN_COLLECTIONS", 2)
    names = ["one", "two", "three", "four"]
    for name in names:
        _story_in(settings, name, embeddings, tmp_path)
    chain = build_chain(settings, llm=RecordingChatModel(), embeddings=embeddings)
    catalogs = [weakref.ref(chain.retriever_for(name).catalog) for name in names]
    gc.collect()
    # The two used last are open; the others are gone, and so are their SQLite
    # connections: the last connection to a WAL database removes its -wal file.
    assert [ref() is not None for ref in catalogs] == [False, False, True, True]
    wal = [catalog_path(settings, n).with_suffix(".sqlite-wal").exists() for n in names]
    assert wal == [False, False, True, True]
    # One still in use when it is evicted (a request reading it) keeps working.
    held = chain.collection("one")
    for name in ("two", "three"):
        chain.collection(name)
    assert held.catalog.counts() == (1, 1) and held.stats()["vectors"] == 1
    # An evicted collection opens again and answers from its own articles.
    docs = chain.retrieve(Question(question="When does the bridge reopen?", collection="one"))
    assert {d.metadata["article_id"] for d in docs} == {"one"}


def test_threads_opening_many_collections_never_exceed_the_bound(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder_module, "OPEN_COLLECTIONS", 2)
    names = [f"col-{n}" for n in range(5)]
    for name in names:
        _create(settings, name)
    chain = build_chain(settings, llm=RecordingChatModel())
    live: weakref.WeakSet[Any] = weakref.WeakSet()
    opens, lock = [0], threading.Lock()
    failures: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for step in range(40):
                collection = chain.collection(names[(offset + step) % len(names)])
                with lock:
                    if collection.catalog not in live:
                        live.add(collection.catalog)
                        opens[0] += 1
                assert collection.catalog.counts() == (0, 0)  # usable even once evicted
        except BaseException as error:  # reported below, with the thread's own error
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    gc.collect()
    assert opens[0] > len(names)  # collections were evicted and opened again
    assert len(live) <= 2


@pytest.mark.server
@pytest.mark.slow
def test_a_question_creates_nothing_on_a_chroma_server(
    settings: Settings, chroma_server: ChromaServer
) -> None:
    remote = settings.model_copy(update={"chroma_url": chroma_server.url})
    with pytest.raises(UnknownCollection, match=r"no collection 'nope' \(there are none yet\)"):
        NewsCollection(_named(remote, "nope"))
    _create(remote, "wire")
    with pytest.raises(UnknownCollection, match=r"\(the collections are: wire\)"):
        NewsCollection(_named(remote, "nope"))
    assert stored_collections(remote)[0] == ["wire"]
