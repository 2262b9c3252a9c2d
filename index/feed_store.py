"""The collection's feeds and their state, kept in its catalog file.

A ``feeds`` row holds what a poll needs and what the Articles tab shows: the URL, the
ETag / Last-Modified of the last full read, when it was last polled, the last error,
how many failures in a row (and so until when it backs off), and how many articles the
last poll added. The entries already indexed are not a table of their own: they are
the catalog's ``sources`` rows whose path is the feed URL (key: the entry's key),
written in the same transaction as the articles they produced, so a poll killed at
any point neither loses an entry nor indexes one twice. A feed's ETag is written only
in the transaction that commits the last of its entries (``watch.py``), never before.
``fetched`` marks each article read from the web with how: its page, or only the feed
entry's own title and summary because the page failed.

It leaves out fetching and parsing (``fetching.py``, ``feeds.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from index.catalog import Catalog, Db, Extra
from index.errors import InvalidInput
from index.fetching import backoff_seconds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL,
    etag TEXT, last_modified TEXT, last_poll TEXT, last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0, next_poll TEXT,
    new_articles INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fetched (
    article_id TEXT PRIMARY KEY, url TEXT NOT NULL, how TEXT NOT NULL, fetched_at TEXT NOT NULL
);
"""
_BACKOFF_BASE = 60.0  # a feed that failed once waits a minute, then 2, 4, ...


@dataclass(frozen=True)
class Feed:
    url: str
    title: str
    added_at: str
    etag: str | None
    last_modified: str | None
    last_poll: str | None
    last_error: str | None
    failures: int
    next_poll: str | None
    new_articles: int

    def backing_off(self, now: datetime) -> bool:
        return self.next_poll is not None and datetime.fromisoformat(self.next_poll) > now


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class FeedStore:
    def __init__(self, catalog: Catalog, *, create: bool = True) -> None:
        """``create=False`` (the page's reads) writes nothing: no feeds table, no feeds."""
        self.catalog = catalog
        if create:
            catalog.write(_create_tables)

    def feeds(self) -> list[Feed]:
        if not self.catalog.has_table("feeds"):
            return []
        rows = self.catalog.read(
            "SELECT url, title, added_at, etag, last_modified, last_poll, last_error, "
            "failures, next_poll, new_articles FROM feeds ORDER BY added_at, url"
        )
        return [Feed(*row) for row in rows]  # type: ignore[arg-type]

    def get(self, url: str) -> Feed | None:
        return next((f for f in self.feeds() if f.url == url), None)

    def add(self, url: str) -> bool:
        """Add a feed; False when it was already there."""
        if self.get(url) is not None:
            return False
        added = now_utc().isoformat()
        self.catalog.write(
            lambda db: db.execute("INSERT INTO feeds (url, added_at) VALUES (?, ?)", (url, added))
        )
        return True

    def remove(self, url: str) -> None:
        """Forget the feed; the articles it brought stay indexed (and remembered, so
        adding it again fetches only what is new)."""
        if self.get(url) is None:
            known = ", ".join(f.url for f in self.feeds()) or "none"
            raise InvalidInput(f"there is no feed {url!r} (the feeds are: {known})")
        self.catalog.write(lambda db: db.execute("DELETE FROM feeds WHERE url = ?", (url,)))

    def claim(self, url: str, now: datetime, fresh_for: float) -> bool:
        """Take the feed for this poll: False when another poller (an app replica on
        the same shared catalog) has polled it within the last ``fresh_for`` seconds.
        One conditional UPDATE, atomic in both catalogs, so two pollers that start
        together cannot both take it; a manual poll passes 0 and always takes it."""
        since = (now - timedelta(seconds=fresh_for)).isoformat()
        taken: list[int] = []

        def write(db: Db) -> None:
            cursor = db.execute(
                "UPDATE feeds SET last_poll = ? WHERE url = ? "
                "AND (last_poll IS NULL OR last_poll <= ?)",
                (now.isoformat(), url, since),
            )
            taken.append(cursor.rowcount)

        self.catalog.write(write)
        return taken == [1]

    def seen(self, url: str) -> set[str]:
        """The keys of the feed's entries that are indexed."""
        return {
            str(r[0]) for r in self.catalog.read("SELECT key FROM sources WHERE path = ?", (url,))
        }

    def how_fetched(self, article_id: str) -> str | None:
        rows = self.catalog.read("SELECT how FROM fetched WHERE article_id = ?", (article_id,))
        return str(rows[0][0]) if rows else None

    def newest(self) -> tuple[datetime | None, str | None]:
        """When the most recently added article entered the index, and the latest
        publication date of any article (YYYY-MM-DD)."""
        ((indexed, published),) = self.catalog.read(
            "SELECT max(indexed_at), max(published) FROM articles"
        )
        when = datetime.fromisoformat(str(indexed)) if indexed else None
        return when, str(published) if published else None


def _create_tables(db: Db) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def fetched_note(article_id: str, url: str, how: str) -> Extra:
    """Mark an article as read from the web, in its own transaction."""
    at = now_utc().isoformat()

    def write(db: Db) -> None:
        db.execute(
            "INSERT INTO fetched VALUES (?, ?, ?, ?) ON CONFLICT (article_id) DO UPDATE "
            "SET url = excluded.url, how = excluded.how, fetched_at = excluded.fetched_at",
            (article_id, url, how, at),
        )

    return write


def polled(
    url: str, title: str, etag: str | None, last_modified: str | None, new: int, problem: str | None
) -> Extra:
    """A poll that read the feed (or got a 304): its validators are now safe to keep."""
    at = now_utc().isoformat()

    def write(db: Db) -> None:
        db.execute(
            "UPDATE feeds SET title = CASE WHEN ? != '' THEN ? ELSE title END, etag = ?, "
            "last_modified = ?, last_poll = ?, last_error = ?, failures = 0, next_poll = NULL, "
            "new_articles = ? WHERE url = ?",
            (title, title, etag, last_modified, at, problem, new, url),
        )

    return write


def failed(feed: Feed, error: str, cap: float) -> Extra:
    """A poll that failed: say why and back off (exponentially, at most ``cap`` s)."""
    now = now_utc()
    failures = feed.failures + 1
    retry = now + timedelta(seconds=backoff_seconds(failures, _BACKOFF_BASE, cap))

    def write(db: Db) -> None:
        db.execute(
            "UPDATE feeds SET last_poll = ?, last_error = ?, failures = ?, next_poll = ?, "
            "new_articles = 0 WHERE url = ?",
            (now.isoformat(), error, failures, retry.isoformat(), feed.url),
        )

    return write
