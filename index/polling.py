"""One poll of a collection's feeds, and fetching pages by URL, into the index.

Feeds are read side by side (``fetch_workers`` threads; ``fetching.py`` keeps one
request at a time per host); each thread fetches its feed and then the pages of the
entries the catalog has not seen, and the main thread indexes them in order through
the same :class:`~index.ingest.IngestRun` as files. A feed that fails (unreachable,
HTTP error, not a feed) is recorded with its error and backs off; it costs the others
nothing. A page that fails leaves its entry indexed from the feed's own title, summary
and date, marked as such. A feed's ETag / Last-Modified are stored in the transaction
that commits its last entry, so a poll killed at any point re-reads the feed next time
and indexes exactly what it had not (``feed_store.py``).

The schedule (``watch.py``) and the command line (``cli.py``) are elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from queue import Empty, Full, Queue
from typing import Any

from index import feed_store
from index.feed_store import Feed, FeedStore
from index.feeds import BadFeed, FeedEntry, parse_feed
from index.fetching import Fetched, Fetcher, FetchError
from index.ingest import IngestRun
from index.loaders import LoadError
from index.pages import (
    FEED_ENTRY,
    HTML_TYPES,
    PAGE,
    BadPage,
    PageArticle,
    entry_article,
    page_article,
)


@dataclass
class FeedResult:
    url: str
    status: str = "ok"  # ok, not modified, failed, backing off, interrupted, polled elsewhere
    entries: int = 0  # entries the catalog had not seen
    added: int = 0  # new articles indexed
    error: str | None = None
    problems: list[str] = field(default_factory=list)  # pages read from the entry instead

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Item = tuple[FeedEntry, PageArticle | None, str | None]
_AHEAD = 16  # pages a feed's thread may fetch ahead of the indexing


@dataclass
class _FeedRead:
    """One feed as its worker thread reads it: the feed's own fields, then its new
    entries handed over one at a time (``None`` ends them), so indexing starts with the
    first page and a stop is honoured between two articles."""

    feed: Feed
    stop: threading.Event
    fetched: Fetched | None = None
    title: str = ""
    problem: str | None = None
    error: str | None = None
    interrupted: bool = False
    queue: Queue[Item | None] = field(default_factory=lambda: Queue(maxsize=_AHEAD))

    def put(self, item: Item | None) -> bool:
        """Hand over an item; False when the poll is being stopped."""
        while True:
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except Full:
                if self.stop.is_set():
                    return False

    def items(self) -> Iterator[Item]:
        while True:
            try:
                item = self.queue.get(timeout=0.2)
            except Empty:
                if self.stop.is_set():
                    self.interrupted = True
                    return
                continue
            if item is None:
                return
            yield item


def poll_feeds(
    run: IngestRun,
    fetcher: Fetcher,
    stop: threading.Event | None = None,
    fresh_for: float = 0.0,
) -> list[FeedResult]:
    """Poll every feed of the run's collection once; stop early (cleanly) when ``stop``
    is set: the article in hand is indexed, the rest waits for the next poll. A feed
    another poller has polled within ``fresh_for`` seconds is left to it (status
    "polled elsewhere"): app replicas watching one shared collection fetch each feed
    once a round between them, not once each."""
    stop = stop or threading.Event()
    store = FeedStore(run.collection.catalog)
    now = feed_store.now_utc()
    results: list[FeedResult] = []
    jobs: list[tuple[_FeedRead, Future[None]]] = []
    known = set(run.known)
    with ThreadPoolExecutor(max(1, run.collection.settings.fetch_workers)) as pool:
        for feed in store.feeds():
            if feed.backing_off(now):
                results.append(FeedResult(feed.url, "backing off", error=feed.last_error))
                continue
            if not store.claim(feed.url, now, fresh_for):
                results.append(FeedResult(feed.url, "polled elsewhere"))
                continue
            read = _FeedRead(feed, stop)
            jobs.append((read, pool.submit(_read_feed, fetcher, read, store.seen(feed.url), known)))
        try:
            for read, job in jobs:
                if stop.is_set():
                    results.append(FeedResult(read.feed.url, "interrupted"))
                    continue
                results.append(_index_feed(run, read))
                job.result()  # a bug in the thread is raised here, not lost
        except BaseException:
            stop.set()  # the workers fetch nothing more for a poll that has failed
            raise
    return results


def _read_feed(fetcher: Fetcher, read: _FeedRead, seen: set[str], known: set[str]) -> None:
    feed = read.feed
    try:
        if read.stop.is_set():
            read.interrupted = True
            return
        try:
            read.fetched = fetcher.get(feed.url, etag=feed.etag, last_modified=feed.last_modified)
            if read.fetched.not_modified:
                return
            fetched = read.fetched
            parsed = parse_feed(fetched.body, fetched.url, fetched.content_type)
        except (FetchError, BadFeed) as error:
            read.error = str(error) if isinstance(error, FetchError) else f"{feed.url}: {error}"
            return
        read.title, read.problem = parsed.title, parsed.problem
        for entry in parsed.entries:
            if entry.key in seen:
                continue
            if read.stop.is_set():
                read.interrupted = True
                return
            if entry.link in known:  # met through another feed or a fetch: nothing to fetch
                item: Item = (entry, None, None)
            else:
                item = (entry, *_entry_page(fetcher, feed.url, parsed.title, entry))
            if not read.put(item):
                read.interrupted = True
                return
    finally:
        read.put(None)


def _entry_page(
    fetcher: Fetcher, feed_url: str, feed_title: str, entry: FeedEntry
) -> tuple[PageArticle | None, str | None]:
    """The entry's article (its page, else its own text) and what went wrong, if anything."""
    origin = (feed_url, entry.key)
    problem = f"{feed_url}: entry {entry.key!r} has no link"
    if entry.link:
        try:
            fetched = fetcher.get(entry.link, kinds=HTML_TYPES)
            article = page_article(fetched, origin, published=entry.published, source=feed_title)
            return PageArticle(article, PAGE), None
        except (FetchError, BadPage) as error:
            problem = str(error)
    fallback = entry_article(
        entry.key, entry.link, entry.title, entry.summary, entry.published, origin, feed_title
    )
    if fallback is None:
        return None, f"{problem}; the entry has no text of its own"
    return PageArticle(fallback, FEED_ENTRY, problem), None


def _index_feed(run: IngestRun, read: _FeedRead) -> FeedResult:
    feed = read.feed
    result = FeedResult(feed.url)
    added = run.report.added
    for entry, page, failure in read.items():
        result.entries += 1
        origin = (feed.url, entry.key)
        if page is None and failure is None:
            run.alias(origin, entry.link)
        elif page is None:
            run.report.failed.append(LoadError(entry.link or feed.url, failure or ""))
        else:
            if page.problem:
                result.problems.append(f"{page.problem} (indexed from the feed entry)")
            note = feed_store.fetched_note(page.article.id, entry.link, page.how)
            run.take(page.article, note=note)
        if read.stop.is_set():  # Ctrl-C, SIGTERM: this article is in, the rest waits
            read.interrupted = True
            break
    result.added = run.report.added - added
    if read.error is not None:
        result.status, result.error = "failed", read.error
        reason = read.error.removeprefix(f"{feed.url}: ")
        run.report.failed.append(LoadError(feed.url, reason))
        run.defer(feed_store.failed(feed, reason, run.collection.settings.feed_backoff_max))
        return result
    fetched = read.fetched
    if read.interrupted or fetched is None:
        result.status = "interrupted"  # what was read is kept; the feed is read again next time
        return result
    if fetched.not_modified:
        result.status = "not modified"
    etag = fetched.etag or (feed.etag if fetched.not_modified else None)
    modified = fetched.last_modified or (feed.last_modified if fetched.not_modified else None)
    # Stored with the feed's entries, in the transaction that ends their flush.
    run.defer(feed_store.polled(feed.url, read.title, etag, modified, result.added, read.problem))
    return result


def fetch_pages(run: IngestRun, fetcher: Fetcher, urls: Sequence[str]) -> None:
    """Fetch and index article pages; each failure is in the report, by URL."""

    def one(url: str) -> PageArticle | LoadError:
        try:
            article = page_article(fetcher.get(url, kinds=HTML_TYPES), (url, ""))
        except (FetchError, BadPage) as error:
            return LoadError(url, str(error).removeprefix(f"{url}: "))
        return PageArticle(article, PAGE)

    with ThreadPoolExecutor(max(1, run.collection.settings.fetch_workers)) as pool:
        for url, got in zip(urls, pool.map(one, urls), strict=True):
            if isinstance(got, LoadError):
                run.report.failed.append(got)
            else:
                run.take(got.article, note=feed_store.fetched_note(got.article.id, url, got.how))
