"""The catalog: what is indexed, where it came from, and the keyword index.

A collection's catalog is the ledger the ingest trusts: articles (with their full text,
so citations can quote them), their sources, their chunks with offsets, the keyword
index over the chunks, and ``pending``: the articles whose vectors are being changed,
so a crash in the middle can be repaired (see ``ingest.py``). Chunk rows and keyword
rows change in one transaction, so the keyword index never disagrees with the ledger.

``Catalog`` is the interface the chain, the UI and eval use; there are two
implementations: ``SqliteCatalog`` (``sqlite_catalog.py``: one file per collection,
FTS5 BM25, the default) and ``PostgresCatalog`` (``pg_catalog.py``: a database that
many app servers and ingest machines share, ``NEWSQA_DATABASE_URL``). A catalog that
cannot be used (damaged, locked too long, a server that is down) raises ``StoreError``
naming it. It does not embed or talk to Chroma; ``ingest.py`` keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

from index.articles import Article
from index.chunking import Chunk

_WORD = re.compile(r"\w+")


class Db(Protocol):
    """A connection inside a catalog transaction. SQL uses ``?`` placeholders and what
    SQLite and PostgreSQL both understand (``INSERT ... ON CONFLICT ... DO UPDATE``)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...


# More writes to make in the same transaction as the articles (feed_store.py's feed
# state), so the two can never disagree.
Extra = Callable[[Db], object]


@dataclass(frozen=True)
class StoredArticle:
    id: str
    title: str
    published: date | None
    source: str
    url: str
    authors: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class KeywordHit:
    chunk_id: str
    article_id: str
    score: float  # BM25, higher is better
    published: date | None = None


@runtime_checkable
class Catalog(Protocol):
    backend: str  # "sqlite" or "postgresql"
    shared: bool  # other processes may write between two of this one's batches

    @property
    def location(self) -> str:
        """Where it lives, for people: a file, or a server and database (no password)."""
        ...

    def close(self) -> None: ...

    # -- reading
    def content_hashes(self, article_ids: Sequence[str] | None = None) -> dict[str, str]: ...
    def article_with_text(self, text_hash: str) -> str | None: ...
    def sources(self) -> list[tuple[str, str, str]]: ...
    def source_names(self) -> list[str]: ...
    def aliases(self) -> dict[str, set[str]]: ...
    def chunk_ids(self, article_ids: Iterable[str] | None = None) -> set[str]: ...
    def chunks(self, chunk_ids: Iterable[str]) -> list[Chunk]: ...
    def pending(self) -> list[str]: ...
    def get_article(self, article_id: str) -> StoredArticle | None: ...
    def counts(self) -> tuple[int, int]: ...
    def problems(self) -> list[str]: ...
    def get_meta(self, key: str) -> str | None: ...
    def has_table(self, name: str) -> bool: ...
    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...
    def keyword_search(
        self,
        query: str,
        k: int,
        *,
        stopwords: frozenset[str] = frozenset(),
        published_from: date | None = None,
        published_to: date | None = None,
        source: str | None = None,
    ) -> list[KeywordHit]: ...

    # -- writing
    def writer(self, name: str) -> AbstractContextManager[None]:
        """Held for a whole ingest: SQLite's one writer per file, ``IngestBusy`` if taken."""
        ...

    def batch_lock(self) -> AbstractContextManager[None]:
        """Held while one batch goes through the write protocol (and while a crash is
        repaired): the database's own lock where several machines write."""
        ...

    def set_meta(self, key: str, value: str) -> None: ...
    def mark_pending(self, article_ids: Iterable[str]) -> None: ...
    def clear_pending(self, article_ids: Iterable[str]) -> None: ...
    def add_sources(
        self, rows: Iterable[tuple[str, str, str]], extra: Extra | None = None
    ) -> None: ...
    def remove_sources(self, rows: Iterable[tuple[str, str]]) -> None: ...
    def replace_articles(
        self,
        items: Sequence[tuple[Article, Sequence[Chunk]]],
        indexed_at: str,
        extra: Extra | None = None,
    ) -> None: ...
    def remove_articles(self, article_ids: Sequence[str]) -> None: ...
    def write(self, extra: Extra) -> None: ...


def stored_article(row: Sequence[Any]) -> StoredArticle:
    """A row of (id, title, published, source, url, authors, text) as both catalogs keep it."""
    return StoredArticle(
        id=row[0],
        title=row[1],
        published=date.fromisoformat(row[2]) if row[2] else None,
        source=row[3],
        url=row[4],
        authors=tuple(a for a in row[5].split("\n") if a),
        text=row[6],
    )


def filter_conditions(
    published_from: date | None, published_to: date | None, source: str | None
) -> list[tuple[str, str]]:
    """A keyword search's filters as (SQL condition on articles ``a``, value) pairs."""
    found = []
    if published_from:
        found.append(("a.published >=", published_from.isoformat()))
    if published_to:
        found.append(("a.published <=", published_to.isoformat()))
    if source is not None:
        found.append(("a.source =", source))
    return found


def query_words(query: str, stopwords: frozenset[str]) -> list[str]:
    """The query's words for a keyword search, lowercased, without ``stopwords``."""
    return [w for w in _WORD.findall(query.lower()) if w not in stopwords]


# A keyword search scores every chunk that holds a query word: at 859k chunks, words such
# as "week" or "announced" put hundreds of thousands of chunks in the running and the
# search takes 0.4-0.9 s. So the rarest words, together held by at most this many chunks,
# choose the chunks (at least the rarest word does); the more frequent ones add their
# score only to those chunks (what Lucene's common-terms query does). Below this size
# every word chooses, and the ranking is plain BM25.
KEYWORD_BUDGET = 20_000


def rare_and_common(counts: dict[str, int], budget: int) -> tuple[list[str], list[str]]:
    """The words that choose chunks and those that only add to their score: rarest
    first, while the chunks they hold stay within ``budget``; words in no chunk go."""
    rare: list[str] = []
    held = 0
    for word in sorted((w for w in counts if counts[w]), key=lambda w: counts[w]):
        if rare and held + counts[word] > budget:
            break
        rare.append(word)
        held += counts[word]
    return rare, [w for w in counts if counts[w] and w not in rare]


def batches(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
