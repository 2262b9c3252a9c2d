"""One named collection: its Chroma vectors and its catalog, kept in step.

``NewsCollection`` is what the rest of the product opens. It writes and deletes chunk
vectors, repairs the store after a crash (from the catalog, which keeps every
article's text), and hands out a LangChain ``VectorStore`` for retrieval. Deciding
*what* to write (loading, change detection, pruning) is ``ingest.py``'s job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from langchain_core.embeddings import Embeddings

from index.catalog import Catalog
from index.chunking import Chunk
from index.errors import StoreError, UnknownCollection
from index.sqlite_catalog import SqliteCatalog
from index.store import (
    check_collection_name,
    check_new_collection_name,
    chroma_client,
    find_collection,
    location,
    open_collection,
    store_errors,
)
from settings import Settings


class ArticleLike(Protocol):
    """What vectors need of an article: a loaded one or one read back from the catalog."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def published(self) -> date | None: ...
    @property
    def source(self) -> str: ...
    @property
    def url(self) -> str: ...


def day_number(day: date) -> int:
    """Dates as YYYYMMDD integers: Chroma compares numbers only."""
    return day.year * 10000 + day.month * 100 + day.day


def chunk_metadata(article: ArticleLike, chunk: Chunk) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "article_id": article.id,
        "title": article.title,
        "chunk": chunk.index,
        "start": chunk.start,
        "end": chunk.end,
    }
    if article.published:
        meta["published"] = article.published.isoformat()
        meta["published_day"] = day_number(article.published)
    if article.source:
        meta["source"] = article.source
    if article.url:
        meta["url"] = article.url
    return meta


def embedding_text(article: ArticleLike, chunk: Chunk) -> str:
    # The headline gives a short chunk the context of its story.
    return f"{article.title}\n{chunk.text}" if article.title else chunk.text


def catalog_path(settings: Settings, name: str) -> Path:
    """Where a collection's catalog lives: one per collection and Chroma server."""
    stem = name
    if settings.chroma_url:
        server = urlparse(settings.chroma_url)
        tag = hashlib.sha1(settings.chroma_url.encode()).hexdigest()[:8]
        stem = f"{name}@{server.hostname}-{server.port or 'default'}-{tag}"
    return settings.data_dir / "catalog" / f"{stem}.sqlite"


def open_catalog(settings: Settings, name: str) -> Catalog:
    """The collection's catalog, made if it is not there: in PostgreSQL when
    ``database_url`` is set, else a SQLite file under the data dir."""
    if not settings.database_url:
        return SqliteCatalog(catalog_path(settings, name))
    from index.pg_catalog import PostgresCatalog

    return PostgresCatalog(settings.database_url, name, lock_wait_s=settings.db_lock_wait)


def existing_catalog(settings: Settings, name: str) -> Catalog | None:
    """The collection's catalog if it has one; None, and nothing made, if not."""
    if not settings.database_url:
        path = catalog_path(settings, name)
        return SqliteCatalog(path) if path.exists() else None
    from index.pg_catalog import PostgresCatalog

    return PostgresCatalog.existing(settings.database_url, name, lock_wait_s=settings.db_lock_wait)


def catalog_names(settings: Settings, names: Iterable[str]) -> set[str]:
    """Which of these collections have a catalog (without making any)."""
    if not settings.database_url:
        return {n for n in names if catalog_path(settings, n).exists()}
    from index.pg_catalog import connect, database_errors, server_location
    from index.pg_schema import collection_names as registered

    with (
        connect(settings.database_url) as conn,
        database_errors(server_location(settings.database_url)),
    ):
        return set(registered(conn)) & set(names)


def catalog_home(settings: Settings) -> str:
    """Where the catalogs live, for people (no password)."""
    if not settings.database_url:
        return str(settings.data_dir / "catalog")
    from index.pg_catalog import server_location

    return server_location(settings.database_url)


def check_backends(settings: Settings) -> None:
    if settings.database_url and not settings.chroma_url:
        raise StoreError(
            "NEWSQA_DATABASE_URL shares the catalog, so the vectors must be shared too: "
            "set NEWSQA_CHROMA_URL to a Chroma server (chroma run)"
        )
    if settings.database_url and not settings.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        raise StoreError("NEWSQA_DATABASE_URL must be a postgresql://user:password@host/db URL")


def collection_names(settings: Settings, client: Any = None) -> list[str]:
    """The collections that can be opened: in the store, with their catalog."""
    client = client if client is not None else chroma_client(settings)
    with store_errors(settings):
        names = [c.name for c in client.list_collections()]
    return sorted(catalog_names(settings, names))


class NewsCollection:
    """One collection, opened. ``create=True`` (ingest, the Articles tab's create
    action) makes it if it does not exist, under a name ``check_new_collection_name``
    allows; otherwise a missing collection is an ``UnknownCollection`` and nothing is
    created, so a mistyped name in a question cannot leave a store and a file behind."""

    def __init__(
        self,
        settings: Settings,
        embeddings: Embeddings | None = None,
        client: Any = None,
        *,
        create: bool = False,
    ) -> None:
        check_backends(settings)
        self.settings = settings
        self.name = self._checked_name(settings.collection, create)
        self.client = client if client is not None else chroma_client(settings)
        with store_errors(settings):
            found = find_collection(self.client, self.name)
        catalog = existing_catalog(settings, self.name)
        try:
            if not create and (found is None or catalog is None):
                raise self._unknown(found is not None, catalog is not None)
            if create and found is None and catalog is None:
                check_new_collection_name(self.name)
            with store_errors(settings):
                self.chroma = (
                    found if found is not None else open_collection(self.client, self.name)
                )
            self.catalog: Catalog = (
                catalog if catalog is not None else open_catalog(settings, self.name)
            )
        except BaseException:
            if catalog is not None:
                catalog.close()
            raise
        self._embeddings = embeddings

    @staticmethod
    def _checked_name(name: str, create: bool) -> str:
        try:
            return check_collection_name(name)
        except StoreError:
            if create:  # no such name can exist: say the rule a new one follows
                check_new_collection_name(name)
            raise

    def _unknown(self, in_store: bool, catalogued: bool) -> UnknownCollection:
        store, ingest = location(self.settings), "python -m index ingest --collection"
        home = catalog_home(self.settings)
        if in_store:
            other = "NEWSQA_DATABASE_URL" if self.settings.database_url else "NEWSQA_DATA_DIR"
            return UnknownCollection(
                f"collection {self.name!r} is in {store} but has no catalog in {home}: "
                f"it was indexed with another {other}"
            )
        if catalogued:  # a catalog without vectors: the store was wiped or moved
            return UnknownCollection(
                f"collection {self.name!r} has a catalog ({home}) but no vectors in {store}: "
                f"{ingest} {self.name} PATH embeds them again"
            )
        names = collection_names(self.settings, self.client)
        known = f"the collections are: {', '.join(names)}" if names else "there are none yet"
        return UnknownCollection(
            f"there is no collection {self.name!r} ({known}); {ingest} NAME PATH "
            "or the Articles tab creates one"
        )

    @property
    def embeddings(self) -> Embeddings:
        if self._embeddings is None:
            from index.embeddings import load_embeddings

            self._embeddings = load_embeddings(
                self.settings.embed_precision, self.settings.embed_batch
            )
        return self._embeddings

    def vector_store(self) -> Any:
        from langchain_chroma import Chroma

        embeddings = self.embeddings
        with store_errors(self.settings):  # it looks the collection up in the store
            return Chroma(
                client=self.client, collection_name=self.name, embedding_function=embeddings
            )

    def close(self) -> None:
        self.catalog.close()

    def check_reachable(self) -> None:
        """Raise ``StoreError``, naming it, if the catalog or the vector store does not
        answer now (a health check: one trivial query and one heartbeat)."""
        self.catalog.read("SELECT 1")
        with store_errors(self.settings):
            self.client.heartbeat()

    def siblings(self) -> list[str]:
        """The names of every collection that opens beside this one, this one included."""
        return collection_names(self.settings, self.client)

    # -- vectors ---------------------------------------------------------------

    def embed_chunks(
        self, items: Sequence[tuple[ArticleLike, Sequence[Chunk]]]
    ) -> list[list[float]]:
        """The chunks' vectors, in order (what ``write_chunks`` stores)."""
        texts = [embedding_text(a, c) for a, chunks in items for c in chunks]
        return self.embeddings.embed_documents(texts) if texts else []

    def write_chunks(
        self,
        items: Sequence[tuple[ArticleLike, Sequence[Chunk]]],
        vectors: list[list[float]] | None = None,
    ) -> None:
        """Store the chunks' vectors (``vectors``: from ``embed_chunks``, else made here)."""
        pairs = [(article, chunk) for article, chunks in items for chunk in chunks]
        if not pairs:
            return
        if vectors is None:
            vectors = self.embed_chunks(items)
        with store_errors(self.settings):
            step = self.client.get_max_batch_size()
            for i in range(0, len(pairs), step):
                part = pairs[i : i + step]
                self.chroma.upsert(
                    ids=[c.id for _, c in part],
                    embeddings=vectors[i : i + step],
                    documents=[c.text for _, c in part],
                    metadatas=[chunk_metadata(a, c) for a, c in part],
                )

    def delete_chunks(self, chunk_ids: Iterable[str]) -> None:
        ids = list(chunk_ids)
        with store_errors(self.settings):
            step = self.client.get_max_batch_size()
            for i in range(0, len(ids), step):
                self.chroma.delete(ids=ids[i : i + step])

    def vector_count(self) -> int:
        with store_errors(self.settings):
            return int(self.chroma.count())

    def stored_chunk_ids(self, article_ids: Sequence[str] | None = None) -> set[str]:
        found: set[str] = set()
        with store_errors(self.settings):
            if article_ids is not None:
                for i in range(0, len(article_ids), 500):
                    where = {"article_id": {"$in": list(article_ids[i : i + 500])}}
                    found.update(self.chroma.get(where=where, include=[])["ids"])
                return found
            step = 5000
            for offset in range(0, self.chroma.count(), step):
                found.update(self.chroma.get(include=[], limit=step, offset=offset)["ids"])
        return found

    def repair(self) -> int:
        """Make the vectors match the catalog after an interrupted ingest.

        Articles marked pending were being changed when the process stopped: their
        stray vectors go and their missing ones are embedded again from the text the
        catalog keeps. If the chunk counts disagree anyway (a store wiped by hand),
        every article is checked. Returns how many chunks were fixed.
        """
        pending = self.catalog.pending()
        if pending:
            fixed = self._reconcile(pending)
            self.catalog.clear_pending(pending)
            return fixed
        if self.vector_count() != self.catalog.counts()[1]:
            return self._reconcile(None)
        return 0

    def _reconcile(self, article_ids: Sequence[str] | None) -> int:
        stored = self.stored_chunk_ids(article_ids)
        wanted = self.catalog.chunk_ids(article_ids)
        self.delete_chunks(stored - wanted)
        missing = wanted - stored
        rebuild: dict[str, list[Chunk]] = {}
        for chunk in self.catalog.chunks(missing):
            rebuild.setdefault(chunk.article_id, []).append(chunk)
        items = []
        for article_id, chunks in rebuild.items():
            article = self.catalog.get_article(article_id)
            if article is not None:
                items.append((article, chunks))
        self.write_chunks(items)
        return len(stored - wanted) + len(missing)

    def problems(self) -> list[str]:
        """Every way the vectors, the catalog and the keyword index disagree (none: [])."""
        found = []
        stored, wanted = self.stored_chunk_ids(), self.catalog.chunk_ids()
        if stored - wanted:
            found.append(f"{len(stored - wanted)} vectors belong to no catalogued chunk")
        if wanted - stored:
            found.append(f"{len(wanted - stored)} catalogued chunks have no vector")
        found.extend(self.catalog.problems())
        return found

    def stats(self) -> dict[str, Any]:
        articles, chunks = self.catalog.counts()
        return {
            "collection": self.name,
            "articles": articles,
            "chunks": chunks,
            "vectors": self.vector_count(),
            "embedding_model": self.catalog.get_meta("embedding_model"),
            "store": location(self.settings),
            "catalog": self.catalog.location,
            "catalog_backend": self.catalog.backend,
            "vector_backend": "chroma server" if self.settings.chroma_url else "chroma embedded",
            "last_ingest": self.catalog.get_meta("last_ingest"),
        }
