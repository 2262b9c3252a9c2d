"""kill -9 in the middle of an ingest, run it again: the index must be whole and consistent."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.articles import Article
from index.chunking import chunk_article
from index.collection import NewsCollection
from index.ingest import ingest
from index.loaders import SourceFile, load_file
from settings import get_settings
from tests.conftest import ROOT, story, write_jsonl

pytestmark = pytest.mark.slow
ARTICLES = 60


def _start(
    feed: Path, kill_at: tuple[str, int] | None = None, data_dir: Path | None = None
) -> subprocess.Popen[bytes]:
    """A real ingest in its own process: the CLI, or with `kill_at` one that kills
    itself (SIGKILL) right after that step of that batch. ``data_dir``: another
    machine's (in shared mode it shares only the database and the Chroma server)."""
    env = {**os.environ, "NEWSQA_INGEST_BATCH": "5"}
    if data_dir is not None:
        env["NEWSQA_DATA_DIR"] = str(data_dir)
    command = ["-m", "index", "ingest", str(feed), "--json"]
    if kill_at is not None:
        call = f"ingest_and_die{(str(feed), *kill_at)!r}"
        command = ["-c", f"from tests.test_crash import ingest_and_die; {call}"]
    return subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ingest_and_die(feed: str, step: str, batch: int) -> None:
    """Run by the child process: the ingest, killed with SIGKILL after `step` of `batch`."""

    def kill_at(done: str, number: int) -> None:
        if (done, number) == (step, batch):
            os.kill(os.getpid(), signal.SIGKILL)

    ingest(NewsCollection(get_settings()), [Path(feed)], progress=False, on_step=kill_at)


def _catalog() -> Path:
    return get_settings().data_dir / "catalog" / "news.sqlite"


def _kill_when(process: subprocess.Popen[bytes], query: str) -> int:
    """SIGKILL the ingest from outside as soon as `query` on its catalog is true."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with sqlite3.connect(f"file:{_catalog()}?mode=ro", uri=True, timeout=0.1) as db:
                if db.execute(query).fetchone()[0]:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
                    return int(db.execute("SELECT count(*) FROM articles").fetchone()[0])
        except sqlite3.OperationalError:
            pass  # not created yet, or busy
        time.sleep(0.02)
    raise AssertionError("the ingest finished before it could be killed")


def _check_whole(feed: Path, word: str) -> None:
    """Exactly the chunks of the current feed, in the store, catalog and keyword index."""
    articles = [a for a in load_file(SourceFile(feed, feed.name), 10**7) if isinstance(a, Article)]
    expected = {c.id for a in articles for c in chunk_article(a, get_settings().chunk_chars)}
    collection = NewsCollection(get_settings())
    try:
        assert collection.problems() == []
        assert collection.catalog.chunk_ids() == expected
        assert collection.stored_chunk_ids() == expected
        hits = collection.catalog.keyword_search(word, 10 * ARTICLES)
        assert len({h.article_id for h in hits}) == ARTICLES
    finally:
        collection.close()


def _feed(path: Path, word: str) -> Path:
    return write_jsonl(
        path, [{"id": f"a{i}", "text": story(i, f"{word} nested there.")} for i in range(ARTICLES)]
    )


def test_kill_9_from_outside_during_first_ingest(tmp_path: Path) -> None:
    feed = _feed(tmp_path / "feed.jsonl", "Pelicans")
    done = _kill_when(_start(feed), "SELECT count(*) >= 15 FROM articles")
    assert 0 < done < ARTICLES
    assert _start(feed).wait(timeout=300) == 0
    _check_whole(feed, "pelicans")


@pytest.mark.parametrize("step", ["pending", "vectors", "catalog", "cleanup"])
@pytest.mark.parametrize("mode", ["embedded", pytest.param("shared", marks=pytest.mark.server)])
def test_kill_9_at_each_step_of_an_update(
    tmp_path: Path, step: str, mode: str, request: pytest.FixtureRequest
) -> None:
    """Shared mode: the writer killed holds the database's lock; the repair runs on
    another machine (its own data dir), which gets the lock once the dead one's
    connection is gone."""
    other = None
    if mode == "shared":
        request.getfixturevalue("shared_settings")
        other = tmp_path / "other-machine"
    feed = _feed(tmp_path / "feed.jsonl", "Pelicans")
    assert _start(feed).wait(timeout=300) == 0
    _feed(feed, "Herons")
    crashed = _start(feed, kill_at=(step, 3)).wait(timeout=300)
    assert crashed == -signal.SIGKILL
    assert _start(feed, data_dir=other).wait(timeout=300) == 0
    _check_whole(feed, "herons")
