"""The embedded catalog: one SQLite file per collection, with an FTS5 keyword index.

What a catalog holds and promises is ``catalog.py``'s ``Catalog``; this is the default
implementation, one SQLite file per collection beside the vector store. It is the ledger the ingest
trusts: articles (with their full text, so citations can quote them), their source
paths, their chunks, and an FTS5 table over the chunks that SQLite ranks with BM25.
Chunk rows and keyword rows change in one transaction, so the keyword index can never
disagree with the ledger; ``pending`` records articles whose vectors are being changed
so a crash in the middle can be repaired (see ``ingest.py``). A catalog file that
cannot be opened or written (damaged, locked too long, on a full disk) is a
``StoreError`` that names it.

It does not embed or talk to Chroma; ``ingest.py`` keeps the two in step.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date
from pathlib import Path

from index.articles import Article
from index.catalog import (
    KEYWORD_BUDGET,
    Extra,
    KeywordHit,
    StoredArticle,
    batches,
    filter_conditions,
    query_words,
    rare_and_common,
    stored_article,
)
from index.chunking import Chunk
from index.errors import IngestBusy, StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, text_hash TEXT NOT NULL,
    title TEXT NOT NULL, published TEXT, source TEXT NOT NULL, url TEXT NOT NULL,
    authors TEXT NOT NULL, text TEXT NOT NULL, indexed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_text_hash ON articles (text_hash);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT NOT NULL, key TEXT NOT NULL, article_id TEXT NOT NULL,
    PRIMARY KEY (path, key)
);
CREATE INDEX IF NOT EXISTS sources_article ON sources (article_id);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL,
    idx INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks (article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5 (
    title, text, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS pending (article_id TEXT PRIMARY KEY);
"""

# Title matches count double: a headline names what the story is about.
_BM25 = "bm25(chunk_fts, 2.0, 1.0)"
# SQLite's codes for a fault of the file or the disk, not of our SQL: locked past the
# timeout, read-only, unreadable, damaged, full, or not a database at all.
_FILE_FAULTS = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_NOTADB,
    }
)


def _any(words: list[str]) -> str:
    """An FTS5 query for chunks holding any of the words."""
    return " OR ".join(f'"{w}"' for w in words)


def _ranked(rare: list[str], common: list[str]) -> tuple[str, list[str]]:
    """SQL of (rowid, score) for the chunks that hold a rare word, and its parameters.

    FTS5's BM25 is a sum over the query's words, so a chunk that also holds a common
    word scores in the query that asks for both groups, one without it in the query for
    the rare words alone, and the lower (better) of its scores is its own.
    """
    plain = f"SELECT rowid, {_BM25} AS score FROM chunk_fts WHERE chunk_fts MATCH ?"
    if not common:
        return plain, [_any(rare)]
    both = f"({_any(rare)}) AND ({_any(common)})"
    union = f"SELECT rowid, min(score) AS score FROM ({plain} UNION ALL {plain}) GROUP BY rowid"
    return union, [both, _any(rare)]


class SqliteCatalog:
    backend = "sqlite"
    shared = False
    keyword_budget = KEYWORD_BUDGET  # see ``rare_and_common``

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with _file_errors(path):
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def writer(self, name: str) -> Iterator[None]:
        """One ingest at a time per file (a lock file beside it, freed if we die)."""
        lock_path = self.path.with_suffix(".lock")
        with open(lock_path, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IngestBusy(
                    f"another ingest is running on collection {name!r} ({lock_path})"
                ) from None
            yield

    def batch_lock(self) -> AbstractContextManager[None]:
        return nullcontext()  # ``writer`` already keeps every other writer out

    # -- reading ---------------------------------------------------------------

    def content_hashes(self, article_ids: Sequence[str] | None = None) -> dict[str, str]:
        if article_ids is None:
            return dict(self._db.execute("SELECT id, content_hash FROM articles"))
        found: dict[str, str] = {}
        for batch in batches(list(article_ids)):
            found.update(
                self._db.execute(
                    f"SELECT id, content_hash FROM articles WHERE id IN ({_marks(batch)})", batch
                )
            )
        return found

    def article_with_text(self, text_hash: str) -> str | None:
        row = self._db.execute(
            "SELECT id FROM articles WHERE text_hash = ? LIMIT 1", (text_hash,)
        ).fetchone()
        return row[0] if row else None

    def sources(self) -> list[tuple[str, str, str]]:
        return list(self._db.execute("SELECT path, key, article_id FROM sources"))

    def source_names(self) -> list[str]:
        """The publishers ("CNN", ...) of the stored articles, for a source filter."""
        return [
            r[0]
            for r in self._db.execute(
                "SELECT DISTINCT source FROM articles WHERE source != '' ORDER BY source"
            )
        ]

    def aliases(self) -> dict[str, set[str]]:
        """Other ids each stored article is known by (the same story met under them)."""
        found: dict[str, set[str]] = {}
        for key, article_id in self._db.execute(
            "SELECT key, article_id FROM sources WHERE key != '' AND key != article_id"
        ):
            found.setdefault(article_id, set()).add(key)
        return found

    def chunk_ids(self, article_ids: Iterable[str] | None = None) -> set[str]:
        if article_ids is None:
            return {r[0] for r in self._db.execute("SELECT id FROM chunks")}
        ids = list(article_ids)
        return {
            r[0]
            for batch in batches(ids)
            for r in self._db.execute(
                f"SELECT id FROM chunks WHERE article_id IN ({_marks(batch)})", batch
            )
        }

    def chunks(self, chunk_ids: Iterable[str]) -> list[Chunk]:
        """Chunks with their text, cut from the stored article (SQLite counts characters)."""
        ids = list(chunk_ids)
        rows = [
            r
            for batch in batches(ids)
            for r in self._db.execute(
                'SELECT c.id, c.article_id, c.idx, c.start, c."end", '
                'substr(a.text, c.start + 1, c."end" - c.start) FROM chunks c '
                f"JOIN articles a ON a.id = c.article_id WHERE c.id IN ({_marks(batch)})",
                batch,
            )
        ]
        return [Chunk(*row) for row in rows]

    def pending(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT article_id FROM pending")]

    def get_article(self, article_id: str) -> StoredArticle | None:
        row = self._db.execute(
            "SELECT id, title, published, source, url, authors, text FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        return None if row is None else stored_article(row)

    def counts(self) -> tuple[int, int]:
        articles = self._db.execute("SELECT count(*) FROM articles").fetchone()[0]
        chunks = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return articles, chunks

    def problems(self) -> list[str]:
        found = []
        chunks = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        keyword = self._db.execute("SELECT count(*) FROM chunk_fts").fetchone()[0]
        if chunks != keyword:
            found.append(f"keyword index has {keyword} rows for {chunks} chunks")
        gaps = self._db.execute(
            "SELECT count(*) FROM (SELECT article_id FROM chunks GROUP BY article_id "
            "HAVING count(*) != max(idx) + 1 OR min(idx) != 0)"
        ).fetchone()[0]
        if gaps:
            found.append(f"{gaps} articles have missing or duplicate chunks")
        empty = self._db.execute(
            "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM chunks)"
        ).fetchone()[0]
        if empty:
            found.append(f"{empty} articles have no chunks")
        if pending := self.pending():
            found.append(f"{len(pending)} articles are marked pending")
        return found

    def has_table(self, name: str) -> bool:
        return bool(self.read("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)))

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def keyword_search(
        self,
        query: str,
        k: int,
        *,
        stopwords: frozenset[str] = frozenset(),
        published_from: date | None = None,
        published_to: date | None = None,
        source: str | None = None,
    ) -> list[KeywordHit]:
        """Best chunks for any of the query's words, by BM25 over title and text.

        The date and source filters are applied in the same SQL query, so ``k`` hits
        are returned even when most matches are filtered out.
        """
        words = list(dict.fromkeys(query_words(query, stopwords)))
        if not words:
            return []
        counts = {w: self._count(w, self.keyword_budget + 1) for w in words}
        rare, common = rare_and_common(counts, self.keyword_budget)
        if not rare:
            return []
        ranked, params = _ranked(rare, common)
        conditions, values = [], []
        for condition, value in filter_conditions(published_from, published_to, source):
            conditions.append(f"{condition} ?")
            values.append(value)
        # Without a filter, read back only the k best chunks' rows (joining every match
        # before ranking cost a third more at 859k chunks).
        best = "ORDER BY score LIMIT ?" if not conditions else ""
        rows = self._db.execute(
            f"SELECT c.id, c.article_id, t.score, a.published FROM ({ranked} {best}) t "
            "JOIN chunks c ON c.rowid = t.rowid JOIN articles a ON a.id = c.article_id "
            f"WHERE {' AND '.join(conditions) or 1} ORDER BY t.score LIMIT ?",
            (*params, *([k] if best else []), *values, k),
        )
        return [
            KeywordHit(cid, aid, -score, date.fromisoformat(day) if day else None)
            for cid, aid, score, day in rows
        ]

    def _count(self, word: str, limit: int) -> int:
        """How many chunks hold the word, counted up to ``limit``."""
        query = "SELECT count(*) FROM (SELECT 1 FROM chunk_fts WHERE chunk_fts MATCH ? LIMIT ?)"
        return int(self._db.execute(query, (f'"{word}"', limit)).fetchone()[0])

    # -- writing ---------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        with _file_errors(self.path):
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def mark_pending(self, article_ids: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO pending VALUES (?)", [(i,) for i in article_ids]
            )

    def clear_pending(self, article_ids: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany(
                "DELETE FROM pending WHERE article_id = ?", [(i,) for i in article_ids]
            )

    def add_sources(self, rows: Iterable[tuple[str, str, str]], extra: Extra | None = None) -> None:
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO sources VALUES (?, ?, ?)", rows)
            if extra is not None:
                extra(self._db)

    def remove_sources(self, rows: Iterable[tuple[str, str]]) -> None:
        with self._transaction():
            self._db.executemany("DELETE FROM sources WHERE path = ? AND key = ?", rows)

    def replace_articles(
        self,
        items: Sequence[tuple[Article, Sequence[Chunk]]],
        indexed_at: str,
        extra: Extra | None = None,
    ) -> None:
        """Swap in new versions of these articles, chunks and keyword rows at once."""
        with self._transaction():
            if extra is not None:
                extra(self._db)
            self._delete_articles([a.id for a, _ in items])
            for article, chunks in items:
                self._db.execute(
                    "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        article.id,
                        article.content_hash,
                        article.text_hash,
                        article.title,
                        article.published.isoformat() if article.published else None,
                        article.source,
                        article.url,
                        "\n".join(article.authors),
                        article.text,
                        indexed_at,
                    ),
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO sources VALUES (?, ?, ?)", (*article.origin, article.id)
                )
                for chunk in chunks:
                    cur = self._db.execute(
                        'INSERT INTO chunks (id, article_id, idx, start, "end") '
                        "VALUES (?, ?, ?, ?, ?)",
                        (chunk.id, chunk.article_id, chunk.index, chunk.start, chunk.end),
                    )
                    self._db.execute(
                        "INSERT INTO chunk_fts (rowid, title, text) VALUES (?, ?, ?)",
                        (cur.lastrowid, article.title, chunk.text),
                    )

    def remove_articles(self, article_ids: Sequence[str]) -> None:
        with self._transaction():
            self._delete_articles(article_ids)
            for batch in batches(list(article_ids)):
                self._db.execute(
                    f"DELETE FROM sources WHERE article_id IN ({_marks(batch)})", batch
                )

    def _delete_articles(self, article_ids: Sequence[str]) -> None:
        for batch in batches(list(article_ids)):
            marks = _marks(batch)
            self._db.execute(
                f"DELETE FROM chunk_fts WHERE rowid IN "
                f"(SELECT rowid FROM chunks WHERE article_id IN ({marks}))",
                batch,
            )
            self._db.execute(f"DELETE FROM chunks WHERE article_id IN ({marks})", batch)
            self._db.execute(f"DELETE FROM articles WHERE id IN ({marks})", batch)

    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Rows of a query, for the modules that keep their own tables in this file."""
        with _file_errors(self.path):
            return list(self._db.execute(sql, params))

    def write(self, extra: Extra) -> None:
        """Run ``extra`` in a transaction of its own (creating tables, feed state)."""
        with self._transaction():
            extra(self._db)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with _file_errors(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a full disk may have rolled it back already
                    self._db.execute("ROLLBACK")
                raise


@contextmanager
def _file_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        code = getattr(error, "sqlite_errorcode", None)  # absent where SQLite gave none
        if code is None or code & 0xFF not in _FILE_FAULTS:
            raise
        raise StoreError(f"the catalog {path} cannot be used: {error}") from error


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" * len(items))
