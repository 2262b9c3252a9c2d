"""The shared catalog: a collection's ledger and keyword index in PostgreSQL.

With ``NEWSQA_DATABASE_URL`` set, every app server and ingest machine pointed at the
database reads and writes one catalog. Each collection is a schema of its own
(``nq_`` and a hash of its name), listed in ``public.newsqa_collections`` with the
version of its tables, so an older or newer layout is named instead of misread.

Keyword search is BM25 on PostgreSQL's own full-text parsing: each chunk keeps the
``tsvector`` of its title (weight A, counted twice, as the embedded catalog's FTS5
does) and text (B), English stemming and stopwords. PostgreSQL 15 ranks matches only
without IDF (``ts_rank``: far worse here, BENCHMARKS.md), and scoring BM25 by
unnesting each matched chunk's tsvector was ~0.5 s a question at 2,000 articles, so
the words are also kept as an inverted index: ``postings`` (word, chunk, weighted
count, chunk length) in a B-tree that a query reads with index-only scans, ``terms``
(each word's document count) and ``totals`` (chunks, tokens), all changed in the
transaction that changes the chunks. The query sums BM25 (k1 = 1.2, b = 0.75) per chunk
in one pass over the query words' postings.

Several writers are kept apart by the database: a batch goes through the write
protocol holding a session advisory lock on the collection, which PostgreSQL frees
when the holder's connection dies (a writer killed with SIGKILL), so the next writer,
on any machine, takes it and repairs what was pending. It leaves out Chroma.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any
from urllib.parse import urlparse

import psycopg

from index.articles import Article
from index.catalog import (
    KEYWORD_BUDGET,
    Extra,
    KeywordHit,
    StoredArticle,
    filter_conditions,
    query_words,
    rare_and_common,
    stored_article,
)
from index.chunking import Chunk
from index.errors import IngestBusy, StoreError
from index.pg_schema import (
    SCHEMA_VERSION,
    collection_names,
    ensure_schema,
    is_registered,
    schema_name,
)

_K1, _B = 1.2, 0.75
_CONNECT_TIMEOUT_S = 10

_INSERT_CHUNK = """
INSERT INTO chunks (id, article_id, idx, start, "end", tsv, len)
SELECT %s, %s, %s, %s, %s, t.tsv, (SELECT coalesce(sum(cardinality(u.positions)), 0)
                                     FROM unnest(t.tsv) u)
FROM (SELECT setweight(to_tsvector('english', %s), 'A')
             || setweight(to_tsvector('english', %s), 'B') AS tsv) t
"""
# Each chunk's words, with their weighted counts (a title word counts twice) and the
# chunk's length, as the inverted index that BM25 reads.
_POST = """
WITH posted AS (
    INSERT INTO postings (lexeme, chunk, tf, len)
    SELECT u.lexeme, c.rowid,
           cardinality(u.positions) + cardinality(array_positions(u.weights, 'A')), c.len
    FROM chunks c, unnest(c.tsv) u WHERE c.article_id = ANY(%s)
    RETURNING lexeme
)
INSERT INTO terms (lexeme, df) SELECT lexeme, count(*) FROM posted GROUP BY lexeme
ON CONFLICT (lexeme) DO UPDATE SET df = terms.df + excluded.df
"""
_UNPOST = """
WITH unposted AS (
    DELETE FROM postings p USING chunks c, unnest(c.tsv) u
    WHERE c.article_id = ANY(%s) AND p.lexeme = u.lexeme AND p.chunk = c.rowid
    RETURNING p.lexeme
)
UPDATE terms t SET df = t.df - d.n
FROM (SELECT lexeme, count(*) AS n FROM unposted GROUP BY lexeme) d WHERE t.lexeme = d.lexeme
RETURNING t.lexeme, t.df
"""
# Each query word's IDF and document count, and the mean chunk length in tokens.
_IDF = """
SELECT t.lexeme, ln(1 + (tot.chunks - t.df + 0.5) / (t.df + 0.5)), t.df,
       tot.tokens::float8 / greatest(tot.chunks, 1)
FROM terms t, totals tot
WHERE t.lexeme IN (SELECT lexeme FROM unnest(to_tsvector('english', %s))) AND t.df > 0
"""
# One query word's BM25 term for one posting ``p`` (``q``: the word's IDF).
_TERM = f"q.idf * p.tf * {_K1 + 1} / (p.tf + {_K1} * (1 - {_B} + {_B} * p.len / %(avgdl)s))"
_WORDS = "WITH q AS (SELECT * FROM unnest(%(lexemes)s::text[], %(idfs)s::float8[]) q(lexeme, idf))"
_READ_BACK = """
SELECT c.id, c.article_id, a.published, s.s
FROM scored s JOIN chunks c ON c.rowid = s.chunk JOIN articles a ON a.id = c.article_id
ORDER BY s.s DESC, s.chunk
"""


def _best(words: str, limit: str) -> str:
    """The ``limit`` best chunks by BM25 over the query words named ``words`` that pass
    the date and source ``{filters}``: one pass over those words' postings."""
    return (
        f"SELECT p.chunk, sum({_TERM}) AS s FROM postings p JOIN q ON q.lexeme = p.lexeme "
        f"{{join}} WHERE p.lexeme = ANY(%({words})s) {{filters}} "
        f"GROUP BY p.chunk ORDER BY s DESC, p.chunk LIMIT %({limit})s"
    )


# BM25 of every chunk holding any of the query's words (``lexemes``, ``idfs``).
_BM25_ALL = f"{_WORDS}, scored AS ({_best('lexemes', 'k')}) {_READ_BACK}"
# Past the budget: BM25 of the chunks holding any of the ``rare`` query words; the
# ``common`` words (``rare_and_common``) add their terms to the best ``pool`` of these
# only, each chunk's read from the postings index (reading all of a common word's
# postings is the cost the split avoids).
_BM25 = f"""{_WORDS},
rare AS ({_best("rare", "pool")}),
scored AS (
    SELECT r.chunk, r.s + coalesce((
        SELECT sum({_TERM}) FROM postings p JOIN q ON q.lexeme = p.lexeme
        WHERE p.lexeme = ANY(%(common)s) AND p.chunk = r.chunk
    ), 0) AS s
    FROM rare r ORDER BY s DESC, r.chunk LIMIT %(k)s
)
{_READ_BACK}"""
# What ``problems`` counts, and how it says so when the count is not 0.
_CHECKS = (
    (
        "SELECT count(*) FROM (SELECT lexeme, count(*) AS n FROM postings GROUP BY lexeme) d "
        "FULL JOIN terms t ON t.lexeme = d.lexeme WHERE coalesce(d.n, 0) != coalesce(t.df, 0)",
        "keyword index has {} words with a wrong document count",
    ),
    (
        "SELECT count(*) FROM postings p WHERE NOT EXISTS "
        "(SELECT 1 FROM chunks c WHERE c.rowid = p.chunk)",
        "keyword index has {} entries of no chunk",
    ),
    (
        "SELECT count(*) FROM (SELECT article_id FROM chunks GROUP BY article_id "
        "HAVING count(*) != max(idx) + 1 OR min(idx) != 0) g",
        "{} articles have missing or duplicate chunks",
    ),
    (
        "SELECT count(*) FROM articles a WHERE NOT EXISTS "
        "(SELECT 1 FROM chunks c WHERE c.article_id = a.id)",
        "{} articles have no chunks",
    ),
)
_FILTERED = "JOIN chunks c ON c.rowid = p.chunk JOIN articles a ON a.id = c.article_id"


def server_location(url: str) -> str:
    """The database a URL names, for people: host, port and database, no password."""
    parts = urlparse(url)
    return f"postgresql://{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
    except psycopg.Error as error:
        reason = " ".join(str(error).split())[:300]
        where = server_location(url)
        raise StoreError(f"cannot connect to PostgreSQL at {where}: {reason}") from None


@contextmanager
def database_errors(where: str) -> Iterator[None]:
    """A server that is down, restarting, full or refusing us: one ``StoreError``."""
    try:
        yield
    except psycopg.errors.LockNotAvailable:
        raise
    except (psycopg.OperationalError, psycopg.errors.InsufficientPrivilege) as error:
        reason = " ".join(str(error).split())[:300]
        raise StoreError(f"the catalog database {where} cannot be used: {reason}") from error


class _Tx:
    """``Db`` over psycopg: SQLite-style ``?`` placeholders become ``%s``."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)


class PostgresCatalog:
    backend = "postgresql"
    shared = True
    keyword_budget = KEYWORD_BUDGET  # see ``rare_and_common``
    keyword_pool = 5  # the common words score this many times k chunks (see ``_BM25``)

    def __init__(
        self,
        url: str,
        name: str,
        *,
        lock_wait_s: float = 600.0,
        conn: psycopg.Connection[Any] | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.schema = schema_name(name)
        self.lock_wait_s = lock_wait_s
        self._guard = threading.RLock()  # one connection, used by one thread at a time
        self._locked = 0
        self._conn = self._open(conn)

    @classmethod
    def existing(cls, url: str, name: str, *, lock_wait_s: float = 600.0) -> PostgresCatalog | None:
        """The collection's catalog if the database has it (None: nothing is made),
        over one connection: asking first, then opening, would connect twice."""
        conn = connect(url)
        try:
            with database_errors(server_location(url)):
                if not is_registered(conn, name):
                    conn.close()
                    return None
            return cls(url, name, lock_wait_s=lock_wait_s, conn=conn)
        except BaseException:
            conn.close()
            raise

    @property
    def location(self) -> str:
        return f"{server_location(self.url)} (schema {self.schema})"

    def _open(self, conn: psycopg.Connection[Any] | None = None) -> psycopg.Connection[Any]:
        conn = conn if conn is not None else connect(self.url)
        with database_errors(self.location):
            ensure_schema(conn, self.name)
            conn.execute(f"SET search_path TO {self.schema}")
        return conn

    @contextmanager
    def _db(self) -> Iterator[psycopg.Connection[Any]]:
        with self._guard, database_errors(self.location):
            if self._conn.broken or self._conn.closed:
                if self._locked:  # a new connection would not hold the lock we hold
                    raise StoreError(
                        f"the connection to {self.location} was lost during a write; "
                        "the next ingest repairs what it left"
                    )
                self._conn = self._open()
            yield self._conn

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        with self._db() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self._conn.close()

    # -- reading ---------------------------------------------------------------

    def content_hashes(self, article_ids: Sequence[str] | None = None) -> dict[str, str]:
        if article_ids is None:
            return dict(self._rows("SELECT id, content_hash FROM articles"))
        rows = self._rows(
            "SELECT id, content_hash FROM articles WHERE id = ANY(%s)", (list(article_ids),)
        )
        return dict(rows)

    def article_with_text(self, text_hash: str) -> str | None:
        rows = self._rows("SELECT id FROM articles WHERE text_hash = %s LIMIT 1", (text_hash,))
        return str(rows[0][0]) if rows else None

    def sources(self) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self._rows("SELECT path, key, article_id FROM sources")]

    def source_names(self) -> list[str]:
        rows = self._rows("SELECT DISTINCT source FROM articles WHERE source != '' ORDER BY 1")
        return [r[0] for r in rows]

    def aliases(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for key, article_id in self._rows(
            "SELECT key, article_id FROM sources WHERE key != '' AND key != article_id"
        ):
            found.setdefault(article_id, set()).add(key)
        return found

    def chunk_ids(self, article_ids: Iterable[str] | None = None) -> set[str]:
        if article_ids is None:
            return {r[0] for r in self._rows("SELECT id FROM chunks")}
        ids = list(article_ids)
        return {
            r[0] for r in self._rows("SELECT id FROM chunks WHERE article_id = ANY(%s)", (ids,))
        }

    def chunks(self, chunk_ids: Iterable[str]) -> list[Chunk]:
        rows = self._rows(
            'SELECT c.id, c.article_id, c.idx, c.start, c."end", '
            'substr(a.text, c.start + 1, c."end" - c.start) FROM chunks c '
            "JOIN articles a ON a.id = c.article_id WHERE c.id = ANY(%s)",
            (list(chunk_ids),),
        )
        return [Chunk(*row) for row in rows]

    def pending(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT article_id FROM pending")]

    def get_article(self, article_id: str) -> StoredArticle | None:
        rows = self._rows(
            "SELECT id, title, published, source, url, authors, text FROM articles WHERE id = %s",
            (article_id,),
        )
        return stored_article(rows[0]) if rows else None

    def counts(self) -> tuple[int, int]:
        ((articles, chunks),) = self._rows(
            "SELECT (SELECT count(*) FROM articles), chunks FROM totals"
        )
        return int(articles), int(chunks)

    def problems(self) -> list[str]:
        found = []
        ((chunks, tokens, counted, counted_tokens),) = self._rows(
            "SELECT (SELECT count(*) FROM chunks), (SELECT coalesce(sum(len), 0) FROM chunks), "
            "chunks, tokens FROM totals"
        )
        if (chunks, tokens) != (counted, counted_tokens):
            found.append(f"keyword totals say {counted} chunks for {chunks}")
        for sql, says in _CHECKS:
            ((count,),) = self._rows(sql)
            if count:
                found.append(says.format(count))
        if pending := self.pending():
            found.append(f"{len(pending)} articles are marked pending")
        return found

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def has_table(self, name: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = %s",
                (self.schema, name),
            )
        )

    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._db() as conn:
            return list(_Tx(conn).execute(sql, params).fetchall())

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
        """Best chunks for any of the query's words, by BM25 over title and text; the
        date and source filters are in the same query, so ``k`` hits come back."""
        words = query_words(query, stopwords)
        if not words:
            return []
        terms = self._rows(_IDF, (" ".join(words),))
        if not terms:
            return []
        lexemes, idfs = [t[0] for t in terms], [float(t[1]) for t in terms]
        rare, common = rare_and_common({t[0]: int(t[2]) for t in terms}, self.keyword_budget)
        params: dict[str, Any] = {
            "lexemes": lexemes,
            "idfs": idfs,
            "rare": rare,
            "common": common,
            "avgdl": terms[0][3],
            "k": k,
            "pool": self.keyword_pool * k,
        }
        filters = []
        for n, (condition, value) in enumerate(
            filter_conditions(published_from, published_to, source)
        ):
            filters.append(f"AND {condition} %(f{n})s")
            params[f"f{n}"] = value
        join = _FILTERED if filters else ""
        sql = (
            (_BM25 if common else _BM25_ALL)
            .replace("{join}", join)
            .replace("{filters}", " ".join(filters))
        )
        return [
            KeywordHit(cid, aid, float(score), date.fromisoformat(day) if day else None)
            for cid, aid, day, score in self._rows(sql, params)
        ]

    # -- writing ---------------------------------------------------------------

    @contextmanager
    def writer(self, name: str) -> Iterator[None]:
        yield  # writers on many machines take turns per batch (``batch_lock``)

    @contextmanager
    def batch_lock(self) -> Iterator[None]:
        key = int.from_bytes(hashlib.sha1(self.schema.encode()).digest()[:8], "big", signed=True)
        with self._db() as conn:
            try:
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = '{int(self.lock_wait_s * 1000)}ms'")
                    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            except psycopg.errors.LockNotAvailable:
                raise IngestBusy(
                    f"another ingest held collection {self.name!r} in {self.location} "
                    f"for more than {self.lock_wait_s:.0f} s"
                ) from None
            self._locked += 1
        try:
            yield
        finally:
            with self._guard:
                self._locked -= 1
                if not (self._conn.broken or self._conn.closed):
                    with database_errors(self.location):
                        self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._db() as conn, conn.transaction():
            yield conn

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                (key, value),
            )

    def mark_pending(self, article_ids: Iterable[str]) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO pending SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (list(article_ids),),
            )

    def clear_pending(self, article_ids: Iterable[str]) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM pending WHERE article_id = ANY(%s)", (list(article_ids),))

    def add_sources(self, rows: Iterable[tuple[str, str, str]], extra: Extra | None = None) -> None:
        with self._transaction() as conn:
            _upsert_sources(conn, list(rows))
            if extra is not None:
                extra(_Tx(conn))

    def remove_sources(self, rows: Iterable[tuple[str, str]]) -> None:
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany("DELETE FROM sources WHERE path = %s AND key = %s", list(rows))

    def replace_articles(
        self,
        items: Sequence[tuple[Article, Sequence[Chunk]]],
        indexed_at: str,
        extra: Extra | None = None,
    ) -> None:
        """Swap in new versions of these articles, chunks and keyword rows at once."""
        ids = [a.id for a, _ in items]
        with self._transaction() as conn:
            if extra is not None:
                extra(_Tx(conn))
            _delete_articles(conn, ids)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO articles VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [_article_row(a, indexed_at) for a, _ in items],
                )
                cur.executemany(
                    _INSERT_CHUNK,
                    [
                        (c.id, c.article_id, c.index, c.start, c.end, a.title, c.text)
                        for a, chunks in items
                        for c in chunks
                    ],
                )
            _upsert_sources(conn, [(*a.origin, a.id) for a, _ in items])
            conn.execute(_POST, (ids,))  # and the words' document counts
            _add_totals(conn, ids, +1)

    def remove_articles(self, article_ids: Sequence[str]) -> None:
        with self._transaction() as conn:
            _delete_articles(conn, list(article_ids))
            conn.execute("DELETE FROM sources WHERE article_id = ANY(%s)", (list(article_ids),))

    def write(self, extra: Extra) -> None:
        with self._transaction() as conn:
            extra(_Tx(conn))


def _article_row(article: Article, indexed_at: str) -> tuple[Any, ...]:
    return (
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
    )


def _upsert_sources(conn: psycopg.Connection[Any], rows: list[tuple[str, str, str]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sources VALUES (%s, %s, %s) ON CONFLICT (path, key) "
            "DO UPDATE SET article_id = excluded.article_id",
            rows,
        )


def _add_totals(conn: psycopg.Connection[Any], article_ids: list[str], sign: int) -> None:
    """Add (+1) or take away (-1) these articles' chunks and tokens in ``totals``."""
    conn.execute(
        f"UPDATE totals SET chunks = chunks + {sign} * s.n, tokens = tokens + {sign} * s.t "
        "FROM (SELECT count(*) AS n, coalesce(sum(len), 0) AS t FROM chunks "
        "WHERE article_id = ANY(%s)) s",
        (article_ids,),
    )


def _delete_articles(conn: psycopg.Connection[Any], article_ids: list[str]) -> None:
    counts = conn.execute(_UNPOST, (article_ids,)).fetchall()  # and the words' counts
    # A word no chunk holds any more goes (one statement cannot update and delete a row).
    gone = [lexeme for lexeme, df in counts if df <= 0]
    if gone:
        conn.execute("DELETE FROM terms WHERE lexeme = ANY(%s) AND df <= 0", (gone,))
    _add_totals(conn, article_ids, -1)
    conn.execute("DELETE FROM chunks WHERE article_id = ANY(%s)", (article_ids,))
    conn.execute("DELETE FROM articles WHERE id = ANY(%s)", (article_ids,))


__all__ = ["SCHEMA_VERSION", "PostgresCatalog", "collection_names", "connect", "server_location"]
