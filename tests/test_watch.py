"""Feeds polled into a real collection from a real HTTP server on 127.0.0.1: new
entries answerable after the next poll, 304s that fetch nothing, faults reported by URL,
failing feeds backing off, the CLI, and a watch killed mid-poll."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from assistant import build_chain
from assistant.fake import RecordingChatModel
from index.cli import main as cli
from index.collection import NewsCollection
from index.errors import InvalidInput
from index.feed_store import FeedStore
from index.fetching import Fetcher
from index.ingest import ingest
from index.watch import BackgroundWatch, PollReport, background_watch, parse_every, poll_once
from settings import get_settings
from tests.conftest import ROOT, CountingEmbeddings, story
from tests.web_server import WebServer, article_page, rss

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web() -> Iterator[WebServer]:
    with WebServer() as server:
        server.route(
            "/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain"
        )
        yield server


@pytest.fixture(autouse=True)
def _local_and_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_FETCH_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("NEWSQA_FETCH_HOST_DELAY", "0")
    monkeypatch.setenv("NEWSQA_FETCH_READ_TIMEOUT", "1")
    get_settings.cache_clear()


def _page(web: WebServer, path: str, title: str, n: int, words: str, **options: object) -> str:
    return web.route(path, article_page(title, story(n, words), "2026-11-20"), **options)


def _feed(web: WebServer, path: str, items: list[dict[str, str]], etag: str) -> str:
    return web.route(
        path, rss("Test Gazette", items), content_type="application/rss+xml", etag=etag
    )


def _poll(collection: NewsCollection) -> PollReport:
    fetcher = Fetcher(collection.settings)
    try:
        return poll_once(collection, fetcher)
    finally:
        fetcher.close()


def _item(link: str, title: str, summary: str = "", date: str = "") -> dict[str, str]:
    return {"title": title, "link": link, "guid": link, "description": summary, "pubDate": date}


@pytest.mark.parametrize("mode", ["embedded", pytest.param("shared", marks=pytest.mark.server)])
def test_new_entry_answerable_after_next_poll_and_304_fetches_nothing(
    web: WebServer,
    embeddings: CountingEmbeddings,
    tmp_path: Path,
    mode: str,
    request: pytest.FixtureRequest,
) -> None:
    """Shared mode: the feeds' state lives in the PostgreSQL catalog."""
    if mode == "shared":
        request.getfixturevalue("shared_settings")
    collection = NewsCollection(get_settings(), embeddings=embeddings, create=True)
    a = _page(web, f"/{mode}/a", "Pelicans return to the bay", 1, "The pelicans came back.")
    b = _page(web, f"/{mode}/b", "Harbour crane collapses", 2, "A crane fell in the harbour.")
    items = [_item(a, "Pelicans"), _item(b, "Crane")]
    feed = _feed(web, f"/{mode}/feed.xml", items, '"v1"')
    FeedStore(collection.catalog).add(feed)
    first = _poll(collection)
    assert (first.report.added, first.report.failed) == (2, [])
    assert first.feeds[0].status == "ok" and first.feeds[0].added == 2
    chain = build_chain(get_settings(), llm=RecordingChatModel(), embeddings=embeddings)
    assert chain.retrieve("Where did the pelicans return?")[0].metadata["article_id"] == a

    pages = web.hits(f"/{mode}/a") + web.hits(f"/{mode}/b")
    again = _poll(collection)
    assert again.feeds[0].status == "not modified" and again.report.added == 0
    assert web.hits(f"/{mode}/a") + web.hits(f"/{mode}/b") == pages
    assert web.requests[-1][1]["If-None-Match"] == '"v1"'

    c = _page(web, f"/{mode}/c", "Glacier museum opens", 3, "A museum about glaciers opened.")
    _feed(web, f"/{mode}/feed.xml", [_item(c, "Glacier museum"), *items], '"v2"')
    third = _poll(collection)
    assert third.report.added == 1 and third.feeds[0].entries == 1
    assert (web.hits(f"/{mode}/a"), web.hits(f"/{mode}/c")) == (1, 1)  # only the new page
    # The chain built before the poll answers from it: no restart.
    assert chain.retrieve("What opened about glaciers?")[0].metadata["article_id"] == c
    # An ingest --prune of files leaves what came from the web alone.
    (tmp_path / "local.txt").write_text(story(4, "A local story."), encoding="utf-8")
    assert ingest(collection, [tmp_path], prune=True, progress=False).removed == 0
    assert collection.catalog.counts()[0] == 4
    store = FeedStore(collection.catalog)
    assert store.get(feed).new_articles == 1 and store.get(feed).etag == '"v2"'  # type: ignore[union-attr]
    assert store.how_fetched(c) is not None and collection.problems() == []
    collection.close()


@pytest.mark.parametrize("mode", ["embedded", pytest.param("shared", marks=pytest.mark.server)])
def test_watchers_of_one_catalog_fetch_a_feed_once_a_round_between_them(
    web: WebServer, embeddings: CountingEmbeddings, mode: str, request: pytest.FixtureRequest
) -> None:
    """App replicas watching one shared collection: a feed another watcher polled less
    than half an interval ago is left to it; a manual poll always polls."""
    if mode == "shared":
        request.getfixturevalue("shared_settings")
    first = NewsCollection(get_settings(), embeddings=embeddings, create=True)
    second = NewsCollection(get_settings(), embeddings=embeddings)  # another replica
    page = _page(web, f"/twice-{mode}/a", "Ferry timetable changes", 41, "Ferries run later.")
    feed = _feed(web, f"/twice-{mode}/feed.xml", [_item(page, "Ferry")], '"t1"')
    FeedStore(first.catalog).add(feed)

    def round_(collection: NewsCollection) -> str:
        fetcher = Fetcher(collection.settings)
        try:
            (result,) = poll_once(collection, fetcher, fresh_for=300).feeds
            return result.status
        finally:
            fetcher.close()

    if mode == "shared":  # two replicas' rounds at the same moment
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(round_, [first, second]))
    else:  # one process writes an embedded catalog at a time
        statuses = [round_(first), round_(second)]
    assert sorted(statuses) == ["ok", "polled elsewhere"]
    assert web.hits(f"/twice-{mode}/feed.xml") == 1 and web.hits(f"/twice-{mode}/a") == 1
    assert _poll(second).feeds[0].status == "not modified"  # manual: polled at once
    assert web.hits(f"/twice-{mode}/feed.xml") == 2
    assert second.catalog.counts()[0] == 1 and second.problems() == []
    first.close()
    second.close()


def test_faults_are_reported_by_url_and_cost_nothing_else(
    web: WebServer, collection: NewsCollection
) -> None:
    web.route("/f/500", status=500)
    web.route("/f/slow", "<p>late</p>", delay=3.0)
    web.route("/f/loop", status=302, headers={"Location": "/f/loop"})
    web.route("/f/big", size=50_000_000)
    web.route("/f/doc.pdf", b"%PDF-1.4", content_type="application/pdf")
    script = article_page(
        "Lighthouse relit",
        story(7, "The lighthouse shone again."),
        extra="<script>var leak = 'SCRIPTJUNK';</script>",
    )
    web.route("/f/script", script)
    bad = ["/f/404", "/f/500", "/f/slow", "/f/loop", "/f/big", "/f/doc.pdf", "/private/f"]
    items = [_item(web.url(p), f"Entry {p}", f"Summary of {p} story.") for p in bad]
    items.append(_item(web.url("/f/script"), "Lighthouse"))  # no dates anywhere
    good = _feed(web, "/f/feed.xml", items, '"f1"')
    malformed = web.route("/f/broken.xml", "<rss><channel><item><ti", content_type="text/xml")
    down = web.route("/f/down.xml", status=500)
    store = FeedStore(collection.catalog)
    for url in (malformed, good, down):
        store.add(url)

    started = time.monotonic()
    result = _poll(collection)
    assert time.monotonic() - started < 30
    by_url = {f.url: f for f in result.feeds}
    assert by_url[good].status == "ok" and by_url[good].added == len(bad) + 1
    for path in bad:
        assert any(p.startswith(web.url(path)) for p in by_url[good].problems), path
    assert "robots.txt" in " ".join(by_url[good].problems)
    assert {e.path for e in result.report.failed} == {malformed, down}
    assert "malformed feed" in str(by_url[malformed].error)
    assert "HTTP 500" in str(by_url[down].error)
    lighthouse = collection.catalog.get_article(web.url("/f/script"))
    assert lighthouse is not None and "SCRIPTJUNK" not in lighthouse.text
    assert store.how_fetched(web.url("/f/script")) == "page"
    assert store.how_fetched(web.url("/f/404")) == "feed entry"
    assert collection.catalog.get_article(web.url("/f/404")).text == "Summary of /f/404 story."  # type: ignore[union-attr]
    assert web.hits("/private/f") == 0

    # The failing feeds back off: the next poll does not ask them; the good one is a 304.
    asked = web.hits("/f/down.xml"), web.hits("/f/broken.xml")
    later = {f.url: f.status for f in _poll(collection).feeds}
    assert later == {malformed: "backing off", good: "not modified", down: "backing off"}
    assert (web.hits("/f/down.xml"), web.hits("/f/broken.xml")) == asked
    assert store.get(down).failures == 1 and store.get(down).next_poll  # type: ignore[union-attr]


def test_cli_feeds_fetch_and_watch_once_json(
    web: WebServer, capsys: pytest.CaptureFixture[str]
) -> None:
    page = _page(web, "/cli/a", "Tram line extended", 11, "The tram line was extended.")
    feed = _feed(web, "/cli/feed.xml", [_item(page, "Tram")], '"c1"')
    assert cli(["feeds", "add", feed, "--collection", "city"]) == 0
    assert cli(["feeds", "add", feed, "--collection", "city"]) == 0  # already there
    assert cli(["watch", "--once", "--json", "--collection", "city"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    report = json.loads(out)
    assert report["added"] == 1 and report["failed"] == []
    assert report["feeds"] == [
        {"url": feed, "status": "ok", "entries": 1, "added": 1, "error": None, "problems": []}
    ]
    assert cli(["feeds", "list", "--json", "--collection", "city"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["url"], listed["new_articles"], listed["etag"]) == (feed, 1, '"c1"')

    other = _page(web, "/cli/b", "Ferry timetable changes", 12, "The ferry runs later.")
    missing = web.url("/cli/missing")
    assert cli(["fetch", other, missing, "--json", "--collection", "city"]) == 1
    fetched = json.loads(capsys.readouterr().out)
    assert fetched["added"] == 1
    assert fetched["failed"] == [{"path": missing, "line": None, "error": "HTTP 404 Not Found"}]

    assert cli(["feeds", "remove", feed, "--collection", "city"]) == 0
    assert cli(["feeds", "remove", feed, "--collection", "city"]) == 2
    assert "there is no feed" in capsys.readouterr().err
    assert cli(["feeds", "add", "file:///etc/passwd", "--collection", "city"]) == 2


def test_private_feed_refused_by_default(monkeypatch: pytest.MonkeyPatch, web: WebServer) -> None:
    monkeypatch.setenv("NEWSQA_FETCH_ALLOW_PRIVATE", "0")
    get_settings.cache_clear()
    assert cli(["feeds", "add", web.url("/x.xml")]) == 2


def test_intervals() -> None:
    assert [parse_every(t) for t in ("90s", "15m", "1h", "600")] == [90, 900, 3600, 600]
    for bad in ("soon", "1s", "-5m"):
        with pytest.raises(InvalidInput):
            parse_every(bad)


ENTRIES = 24


def _watch_process(feed: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSQA_INGEST_BATCH": "4", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "index", "watch", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _articles_when(process: subprocess.Popen[bytes], at_least: int) -> None:
    catalog = get_settings().data_dir / "catalog" / "news.sqlite"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=0.1) as db:
                if db.execute("SELECT count(*) FROM articles").fetchone()[0] >= at_least:
                    return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    raise AssertionError("the watch indexed too little before it could be stopped")


def _slow_feed(web: WebServer, name: str) -> str:
    items = []
    for n in range(ENTRIES):
        words = f"Story {name} {n} about kestrels."
        link = _page(web, f"/{name}/{n}", f"Kestrel report {name} {n}", 100 + n, words, delay=0.15)
        items.append(_item(link, f"Kestrel {n}"))
    feed = _feed(web, f"/{name}/feed.xml", items, f'"{name}"')
    NewsCollection(get_settings(), create=True).close()
    assert cli(["feeds", "add", feed]) == 0
    return feed


def _check_whole(feed: str) -> None:
    collection = NewsCollection(get_settings())
    try:
        assert collection.problems() == []
        assert collection.catalog.counts()[0] == ENTRIES
        assert len(FeedStore(collection.catalog).seen(feed)) == ENTRIES
    finally:
        collection.close()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_watch_stopped_mid_poll_resumes_with_nothing_lost_or_doubled(
    web: WebServer, how: signal.Signals
) -> None:
    name = f"kill{int(how)}"
    feed = _slow_feed(web, name)
    watching = _watch_process(feed, "--every", "10m")
    _articles_when(watching, 6)
    watching.send_signal(how)
    code = watching.wait(timeout=60)
    assert code == (-signal.SIGKILL if how == signal.SIGKILL else 0)
    collection = NewsCollection(get_settings())
    done = collection.catalog.counts()[0]
    assert 6 <= done < ENTRIES
    assert FeedStore(collection.catalog).get(feed).etag is None  # type: ignore[union-attr]
    collection.close()
    resumed = _watch_process(feed, "--once", "--json")
    out, _ = resumed.communicate(timeout=300)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["added"] == ENTRIES - done and report["feeds"][0]["entries"] == ENTRIES - done
    _check_whole(feed)
    assert web.hits(f"/{name}/0") == 1  # nothing fetched twice that was indexed


def test_background_watch_answers_without_restart_and_stops_promptly(
    web: WebServer, embeddings: object
) -> None:
    page = _page(
        web, "/bg/a", "Observatory finds comet", 21, "A comet was found by the observatory."
    )
    feed = _feed(web, "/bg/feed.xml", [_item(page, "Comet")], '"b1"')
    NewsCollection(get_settings(), create=True).close()  # as app.py does first
    chain = build_chain(get_settings(), llm=RecordingChatModel(), embeddings=embeddings)  # type: ignore[arg-type]
    served = chain.collection()
    FeedStore(served.catalog).add(feed)
    assert background_watch(served) is None  # NEWSQA_WATCH_EVERY is not set
    own = NewsCollection(get_settings(), embeddings=served.embeddings, client=served.client)
    watcher = BackgroundWatch(own, every=600).start()
    deadline = time.monotonic() + 120
    while not watcher.rounds and time.monotonic() < deadline:
        time.sleep(0.1)
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 5  # it was waiting 600 s for the next round
    (round_,) = watcher.rounds
    assert isinstance(round_, PollReport) and round_.report.added == 1
    assert chain.retrieve("What did the observatory find?")[0].metadata["article_id"] == page


def test_page_feed_list_and_freshness(web: WebServer, embeddings: object) -> None:
    from ui import feeds as ui_feeds

    settings = get_settings()
    chain = build_chain(settings, llm=RecordingChatModel(), embeddings=embeddings)  # type: ignore[arg-type]
    NewsCollection(settings, create=True).close()
    assert "No articles yet" in ui_feeds.freshness(chain, "")
    feed = _feed(web, "/ui/feed.xml", [], '"u1"')
    refused = ui_feeds.change(chain, settings, "", feed, add=True)
    assert "only when a login is configured" in refused
    login = settings.model_copy(update={"ui_user": "ed", "ui_password": SecretStr("pw")})
    assert "Added" in ui_feeds.change(chain, login, "", feed, add=True)
    down = web.route("/ui/down.xml", status=503)
    ui_feeds.change(chain, login, "", down, add=True)
    assert "file:" in ui_feeds.change(chain, login, "", "file:///etc/passwd", add=True)
    page = _page(web, "/ui/a", "Library extends hours", 31, "The library opens later.")
    _feed(web, "/ui/feed.xml", [_item(page, "Library")], '"u2"')
    _poll(chain.collection())
    table = ui_feeds.listing(chain, "")
    assert feed in table and "Test Gazette" in table and "<td>1</td>" in table
    assert "HTTP 503" in table and "1 failures in a row" in table
    line = ui_feeds.freshness(chain, "")
    assert "newest article: just now" in line and "feeds polled just now" in line
    assert "Removed" in ui_feeds.change(chain, login, "", down, add=False)
    assert down not in ui_feeds.listing(chain, "")


def test_how_long_ago() -> None:
    from ui.feeds import ago

    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    spans = [timedelta(seconds=30), timedelta(minutes=20), timedelta(hours=2), timedelta(days=3)]
    assert [ago(now - s, now) for s in spans] == ["just now", "20 min ago", "2 h ago", "3 d ago"]
