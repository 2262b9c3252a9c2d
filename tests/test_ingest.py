import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.collection import NewsCollection
from index.ingest import ingest
from index.loaders import SourceFile
from settings import Settings
from tests.conftest import ROOT, SAMPLES, CountingEmbeddings, story, write_jsonl

AMBUSH = str(SAMPLES / "000_529f16d631959521.txt")
CANDIDATE = str(SAMPLES / "002_1edb485b8cb994a6.txt")


def test_sample_articles_are_indexed_with_metadata(collection: NewsCollection) -> None:
    report = ingest(collection, [SAMPLES], progress=False)
    assert (report.added, report.failed) == (2, [])
    assert report.chunks == collection.catalog.counts()[1] > 4
    assert collection.problems() == []
    got = collection.chroma.get(where={"article_id": AMBUSH}, include=["metadatas", "documents"])
    article = collection.catalog.get_article(AMBUSH)
    assert article is not None
    for meta, doc in zip(got["metadatas"], got["documents"], strict=True):
        assert meta["title"] == "13 law enforcement officers killed in Mexico ambush"
        assert meta["published"] == "2021-03-19" and meta["published_day"] == 20210319
        assert article.text[meta["start"] : meta["end"]] == doc


def test_dense_and_keyword_search_find_the_ambush(collection: NewsCollection) -> None:
    ingest(collection, [SAMPLES], progress=False)
    store = collection.vector_store()
    top = store.similarity_search("How many officers died in the Coatepec Harinas ambush?", k=1)
    assert top[0].metadata["article_id"] == AMBUSH
    hits = collection.catalog.keyword_search("Ivonne Gallegos Carreño mayor", 3)
    assert hits[0].article_id == CANDIDATE


def test_unchanged_corpus_embeds_nothing(
    collection: NewsCollection, embeddings: CountingEmbeddings
) -> None:
    ingest(collection, [SAMPLES], progress=False)
    first = embeddings.texts
    report = ingest(collection, [SAMPLES], progress=False)
    assert embeddings.texts == first
    assert (report.added, report.updated, report.unchanged) == (0, 0, 2)


def test_changed_article_replaces_its_chunks(
    tmp_path: Path, collection: NewsCollection, embeddings: CountingEmbeddings
) -> None:
    feed = write_jsonl(
        tmp_path / "feed.jsonl", [{"id": f"s{i}", "text": story(i)} for i in range(3)]
    )
    ingest(collection, [feed], progress=False)
    before = collection.catalog.chunk_ids(["s1"])
    embedded = embeddings.texts
    write_jsonl(
        feed,
        [{"id": f"s{i}", "text": story(i, "A ferry runs meanwhile." * (i == 1))} for i in range(3)],
    )
    report = ingest(collection, [feed], progress=False)
    assert (report.updated, report.unchanged) == (1, 2)
    after = collection.catalog.chunk_ids(["s1"])
    assert not before & after
    assert embeddings.texts - embedded == len(after)
    assert collection.problems() == []
    assert [h.article_id for h in collection.catalog.keyword_search("ferry", 5)] == ["s1"]


def test_same_article_under_two_paths_is_stored_once(
    tmp_path: Path, collection: NewsCollection
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "bridge.txt").write_text(story(7))
    report = ingest(collection, [tmp_path / "a", tmp_path / "b"], progress=False)
    assert (report.added, report.duplicates) == (1, 1)
    assert collection.catalog.counts()[0] == 1
    assert len(collection.catalog.sources()) == 2


def test_prune_drops_articles_whose_source_is_gone(
    tmp_path: Path, collection: NewsCollection
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"{i}.txt").write_text(story(i))
    feed = write_jsonl(
        corpus / "feed.jsonl", [{"id": "j1", "text": story(10)}, {"id": "j2", "text": story(11)}]
    )
    ingest(collection, [corpus], progress=False)
    (corpus / "0.txt").unlink()
    write_jsonl(feed, [{"id": "j1", "text": story(10)}])
    kept = ingest(collection, [corpus], progress=False)
    assert kept.removed == 0 and collection.catalog.counts()[0] == 5
    pruned = ingest(collection, [corpus], prune=True, progress=False)
    assert pruned.removed == 2
    assert sorted(collection.catalog.content_hashes()) == [
        str(corpus / "1.txt"),
        str(corpus / "2.txt"),
        "j1",
    ]
    assert collection.problems() == []


def test_named_collections_are_separate(settings: Settings, embeddings: CountingEmbeddings) -> None:
    first = NewsCollection(settings, embeddings=embeddings, create=True)
    other = NewsCollection(
        settings.model_copy(update={"collection": "other"}), embeddings=embeddings, create=True
    )
    ingest(first, [SAMPLES], progress=False)
    assert other.stats()["articles"] == 0 and other.chroma.count() == 0
    assert first.stats()["articles"] == 2


def test_bad_file_does_not_damage_what_is_indexed(
    tmp_path: Path, collection: NewsCollection
) -> None:
    ingest(collection, [SAMPLES], progress=False)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe garbage")
    report = ingest(collection, [SAMPLES, tmp_path / "bad.txt"], prune=True, progress=False)
    assert [Path(f.path).name for f in report.failed] == ["bad.txt"]
    assert collection.catalog.counts()[0] == 2 and collection.problems() == []


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "index", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_json_report_and_exit_status(tmp_path: Path) -> None:
    env = {**os.environ, "NEWSQA_DATA_DIR": str(tmp_path / "state")}
    (tmp_path / "broken.jsonl").write_text('{"id": 1, "text": "Fine story."}\n{oops\n')
    done = _cli(
        "ingest",
        str(SAMPLES),
        str(tmp_path / "broken.jsonl"),
        "--collection",
        "cli-test",
        "--json",
        env=env,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert {k: report[k] for k in ("added", "updated", "unchanged", "removed")} == {
        "added": 3,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
    }
    assert report["failed"] == [
        {
            "path": str(tmp_path / "broken.jsonl"),
            "line": 2,
            "error": "invalid JSON: Expecting property name enclosed in double quotes at column 2",
        }
    ]
    assert report["chunks"] > 4 and report["seconds"] > 0
    again = _cli("ingest", str(SAMPLES), "--collection", "cli-test", "--json", env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] == 2
    stats = _cli("stats", "--collection", "cli-test", "--json", env=env)
    assert json.loads(stats.stdout)["articles"] == 3


def test_files_of_the_same_name_in_different_places_are_different_articles(
    tmp_path: Path, collection: NewsCollection
) -> None:
    for folder in ("a", "b", "x/data", "y/data"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "story.txt").write_text(story(len(folder), f"Filed in {folder}."))
    given = [tmp_path / "a" / "story.txt", tmp_path / "b" / "story.txt"]
    report = ingest(collection, [*given, tmp_path / "x/data", tmp_path / "y/data"], progress=False)
    assert (report.added, report.duplicates) == (4, 0)
    assert collection.catalog.counts()[0] == 4 and collection.problems() == []
    hits = collection.catalog.keyword_search("Filed", 10)
    assert {h.article_id for h in hits} == {
        str((tmp_path / folder / "story.txt").resolve())
        for folder in ("a", "b", "x/data", "y/data")
    }


def test_the_same_location_updates_in_place_however_it_is_named(
    tmp_path: Path, collection: NewsCollection, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bridge.txt").write_text(story(1))
    ingest(collection, [corpus], progress=False)
    (corpus / "bridge.txt").write_text(story(1, "A ferry runs meanwhile."))
    monkeypatch.chdir(corpus)
    report = ingest(collection, [Path("bridge.txt")], progress=False)
    assert (report.added, report.updated) == (0, 1)
    assert collection.catalog.counts()[0] == 1
    hits = collection.catalog.keyword_search("ferry", 5)
    assert [h.article_id for h in hits] == [str((corpus / "bridge.txt").resolve())]


def test_a_moved_corpus_keeps_one_copy_of_each_story(
    tmp_path: Path, collection: NewsCollection, embeddings: CountingEmbeddings
) -> None:
    old = tmp_path / "old" / "corpus"
    old.mkdir(parents=True)
    for i in range(3):
        (old / f"{i}.txt").write_text(story(i))
    write_jsonl(old / "feed.jsonl", [{"text": story(10)}, {"id": "j2", "text": story(11)}])
    ingest(collection, [old], progress=False)
    embedded = embeddings.texts
    new = tmp_path / "new" / "corpus"
    new.parent.mkdir()
    old.rename(new)
    moved = ingest(collection, [new], progress=False)
    assert (moved.added, moved.updated, moved.duplicates, moved.unchanged) == (0, 0, 4, 1)
    assert embeddings.texts == embedded
    assert collection.catalog.counts()[0] == 5
    pruned = ingest(collection, [new], prune=True, progress=False)
    assert pruned.removed == 0 and collection.catalog.counts()[0] == 5
    assert {path for path, _, _ in collection.catalog.sources()} == {
        str(p.resolve()) for p in new.iterdir()
    }
    assert collection.problems() == []


def test_a_collection_with_the_old_folder_name_ids_is_not_duplicated(
    tmp_path: Path, collection: NewsCollection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collections indexed before ids were absolute paths have ids like "data/0.txt":
    re-ingesting the folder keeps each story once, under its old id."""
    corpus = tmp_path / "data"
    corpus.mkdir()
    for i in range(2):
        (corpus / f"{i}.txt").write_text(story(i))

    def old_ids(paths: list[Path]) -> Iterator[SourceFile]:
        for path in sorted(corpus.iterdir()):
            yield SourceFile(path, f"data/{path.name}")

    with monkeypatch.context() as patch:
        # By the module: the name `index.ingest` is the function.
        patch.setattr(importlib.import_module("index.ingest"), "find_files", old_ids)
        ingest(collection, [corpus], progress=False)
    assert sorted(collection.catalog.content_hashes()) == ["data/0.txt", "data/1.txt"]
    again = ingest(collection, [corpus], progress=False)
    assert (again.added, again.duplicates) == (0, 2)
    assert sorted(collection.catalog.content_hashes()) == ["data/0.txt", "data/1.txt"]
    # A file changed since gets its new id; --prune drops the version under the old one.
    (corpus / "0.txt").write_text(story(0, "A ferry runs meanwhile."))
    changed = ingest(collection, [corpus], progress=False)
    assert changed.added == 1 and collection.catalog.counts()[0] == 3
    pruned = ingest(collection, [corpus], prune=True, progress=False)
    assert pruned.removed == 1
    assert sorted(collection.catalog.content_hashes()) == [
        str((corpus / "0.txt").resolve()),
        "data/1.txt",
    ]
    assert collection.problems() == []
