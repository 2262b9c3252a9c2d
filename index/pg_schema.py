"""The shared catalog's tables in PostgreSQL, and the list of collections it holds.

Each collection is a schema (``nq_`` and 16 hex digits of its name's SHA-1: any
collection name fits PostgreSQL's 63-character identifiers) registered in
``public.newsqa_collections`` with the version of its layout. Creating one runs under
a transaction-level advisory lock, so two machines creating it at once make it once.
A layout newer than this code's is refused by name (upgrade newsqa); an older one is
migrated step by step where a migration exists, and named otherwise.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from index.errors import StoreError

SCHEMA_VERSION = 1
_CREATE_LOCK = 0x6E657773_71610001  # "newsqa" + 1: creating registry or schemas

_REGISTRY = """
CREATE TABLE IF NOT EXISTS public.newsqa_collections (
    name TEXT PRIMARY KEY, schema TEXT NOT NULL UNIQUE, version INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, text_hash TEXT NOT NULL,
    title TEXT NOT NULL, published TEXT, source TEXT NOT NULL, url TEXT NOT NULL,
    authors TEXT NOT NULL, text TEXT NOT NULL, indexed_at TEXT NOT NULL
);
CREATE INDEX articles_text_hash ON articles (text_hash);
CREATE TABLE sources (
    path TEXT NOT NULL, key TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY (path, key)
);
CREATE INDEX sources_article ON sources (article_id);
CREATE TABLE chunks (
    rowid BIGSERIAL PRIMARY KEY, id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL,
    idx INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    len INTEGER NOT NULL, tsv TSVECTOR NOT NULL
);
CREATE INDEX chunks_article ON chunks (article_id);
CREATE TABLE postings (
    lexeme TEXT NOT NULL, chunk BIGINT NOT NULL, tf REAL NOT NULL, len INTEGER NOT NULL,
    PRIMARY KEY (lexeme, chunk) INCLUDE (tf, len)
);
CREATE TABLE terms (lexeme TEXT PRIMARY KEY, df INTEGER NOT NULL);
CREATE TABLE totals (
    one INTEGER PRIMARY KEY DEFAULT 1 CHECK (one = 1),
    chunks BIGINT NOT NULL, tokens BIGINT NOT NULL
);
INSERT INTO totals VALUES (1, 0, 0);
CREATE TABLE pending (article_id TEXT PRIMARY KEY)
"""

# version -> the statements that bring a layout of that version to the next one.
_MIGRATIONS: dict[int, str] = {}


def schema_name(collection: str) -> str:
    return "nq_" + hashlib.sha1(collection.encode()).hexdigest()[:16]


def ensure_schema(conn: psycopg.Connection[Any], collection: str) -> None:
    """Create the collection's tables if they are not there; check their version."""
    version = _registered(conn, collection)
    if version == SCHEMA_VERSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
        conn.execute(_REGISTRY)
        version = _registered(conn, collection)
        schema = schema_name(collection)
        if version is None:
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f"SET LOCAL search_path TO {schema}")
            for statement in _TABLES.split(";"):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO public.newsqa_collections (name, schema, version) VALUES (%s, %s, %s)",
                (collection, schema, SCHEMA_VERSION),
            )
            return
        _migrate(conn, collection, schema, version)


def _migrate(conn: psycopg.Connection[Any], collection: str, schema: str, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"collection {collection!r} in this database has tables of version {version}, "
            f"made by a newer newsqa (this one knows {SCHEMA_VERSION}): upgrade newsqa"
        )
    conn.execute(f"SET LOCAL search_path TO {schema}")
    while version < SCHEMA_VERSION:
        if version not in _MIGRATIONS:
            raise StoreError(
                f"collection {collection!r} has tables of version {version}, which this newsqa "
                f"cannot migrate to {SCHEMA_VERSION}: ingest into a new collection"
            )
        for statement in _MIGRATIONS[version].split(";"):
            if statement.strip():
                conn.execute(statement)
        version += 1
    conn.execute(
        "UPDATE public.newsqa_collections SET version = %s WHERE name = %s",
        (version, collection),
    )


def _registered(conn: psycopg.Connection[Any], collection: str) -> int | None:
    if not _has_registry(conn):
        return None
    row = conn.execute(
        "SELECT version FROM public.newsqa_collections WHERE name = %s", (collection,)
    ).fetchone()
    return int(row[0]) if row else None


def _has_registry(conn: psycopg.Connection[Any]) -> bool:
    return conn.execute("SELECT to_regclass('public.newsqa_collections')").fetchone() != (None,)


def is_registered(conn: psycopg.Connection[Any], collection: str) -> bool:
    """Whether this database holds the collection's catalog."""
    return _registered(conn, collection) is not None


def collection_names(conn: psycopg.Connection[Any]) -> list[str]:
    """The collections whose catalog this database holds."""
    if not _has_registry(conn):
        return []
    return [r[0] for r in conn.execute("SELECT name FROM public.newsqa_collections ORDER BY 1")]
