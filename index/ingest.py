"""Ingest: load articles, embed only what changed, keep vectors and catalog in step.

The write protocol makes a kill -9 at any point harmless. For each batch of changed
articles: (1) mark them pending in the catalog; (2) upsert the new chunk vectors (new
versions get new chunk ids, so the old ones are still intact); (3) in one catalog
transaction swap in the new articles, chunks and keyword rows; (4) delete the old
vectors; (5) clear pending. The next run's ``NewsCollection.repair`` finishes or undoes
whatever a crash interrupted, so no article is ever half-indexed or lost. Each step
is announced to an optional ``on_step(step, batch)`` callback, which is how
``tests/test_crash.py`` kills a real ingest at each of them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from index.articles import Article
from index.catalog import Db, Extra
from index.chunking import Chunk, chunk_article
from index.collection import NewsCollection
from index.errors import EmbeddingMismatch
from index.loaders import LoadError, find_files, load_file


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    duplicates: int = 0  # same text as an article already stored: recorded as an alias
    failed: list[LoadError] = field(default_factory=list)
    chunks: int = 0
    repaired: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = [{"path": e.path, "line": e.line, "error": e.error} for e in self.failed]
        data["seconds"] = round(self.seconds, 3)
        return data


# Called after each step of the write protocol ("pending", "vectors", "catalog",
# "cleanup") with the number of the batch, counting from 1.
StepHook = Callable[[str, int], None]


def ingest(
    collection: NewsCollection,
    paths: Sequence[Path],
    *,
    prune: bool = False,
    progress: bool = True,
    on_step: StepHook | None = None,
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport()
    with writing(collection, report, on_step) as run:
        bar = tqdm(
            desc="ingest", unit=" articles", disable=not progress, smoothing=0.1, file=sys.stderr
        )
        with bar:
            for source in find_files(paths):
                if isinstance(source, LoadError):
                    report.failed.append(source)
                    continue
                for item in load_file(source, collection.settings.max_article_bytes):
                    if isinstance(item, LoadError):
                        report.failed.append(item)
                        if progress:
                            bar.write(f"skipped {item}", file=sys.stderr)
                    else:
                        run.take(item)
                        bar.update()
                        bar.set_postfix(failed=len(report.failed), refresh=False)
            run.flush()
        if prune:
            with collection.catalog.batch_lock():
                report.removed = _prune(collection, run.seen, run.read_paths)
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def writing(
    collection: NewsCollection, report: IngestReport, on_step: StepHook | None = None
) -> Iterator[IngestRun]:
    """The collection held for writing (the ingest lock, repaired first): files here,
    pages, feeds and web archives (``watch.py``, ``warc.py``) all write through the
    same :class:`IngestRun`, so dedup, batching and crash safety are the same for all."""
    catalog = collection.catalog
    with catalog.writer(collection.name):
        with catalog.batch_lock():
            report.repaired += collection.repair()
        run = IngestRun(collection, report, on_step)
        yield run
        run.flush()
        collection.catalog.set_meta("last_ingest", _now())
        report.chunks = collection.catalog.counts()[1]


class IngestRun:
    """The articles of one ingest: decides what is new, changed or a duplicate."""

    def __init__(
        self, collection: NewsCollection, report: IngestReport, on_step: StepHook | None = None
    ) -> None:
        self.collection = collection
        self.report = report
        self.on_step = on_step
        self.known = collection.catalog.content_hashes()
        self.batch: dict[str, Article] = {}
        self.batch_texts: dict[str, str] = {}
        self.counted: dict[str, str] = {}  # how each batched article was reported
        self.aliases: list[tuple[str, str, str]] = []
        self.seen: set[tuple[str, str]] = set()
        self.read_paths: set[str] = set()
        self.model_checked = False
        self.batches = 0
        self.notes: list[Extra] = []
        self.after: list[Extra] = []

    def take(self, article: Article, note: Extra | None = None) -> None:
        """Index ``article``; ``note`` is written in the transaction that stores it."""
        self.seen.add(article.origin)
        self.read_paths.add(article.origin[0])
        old = self.known.get(article.id)
        if old == article.content_hash:
            self.report.unchanged += 1
            self.aliases.append((*article.origin, article.id))
            return
        if old is None:
            twin = self.batch_texts.get(
                article.text_hash
            ) or self.collection.catalog.article_with_text(article.text_hash)
            if twin is not None and twin != article.id:
                self.report.duplicates += 1
                self.aliases.append((*article.origin, twin))
                return
            self.report.added += 1
            self.counted[article.id] = "added"
        else:
            self.report.updated += 1
            self.counted[article.id] = "updated"
        self.known[article.id] = article.content_hash
        if note is not None:
            self.notes.append(note)
        self.batch[article.id] = article
        self.batch_texts[article.text_hash] = article.id
        if len(self.batch) >= self.collection.settings.ingest_batch:
            self.flush()

    def alias(self, origin: tuple[str, str], article_id: str) -> None:
        """Record another source of an article already stored (nothing to fetch)."""
        self.report.unchanged += 1
        self.aliases.append((*origin, article_id))

    def defer(self, extra: Extra) -> None:
        """Write ``extra`` (a feed's state) in the transaction that ends the next flush,
        so it is stored with, never before, everything taken until now."""
        self.after.append(extra)

    def flush(self) -> None:
        catalog = self.collection.catalog
        if self.batch:
            if not self.model_checked:
                _check_model(self.collection)
                self.model_checked = True
            size = self.collection.settings.chunk_chars
            items = [(a, chunk_article(a, size)) for a in self.batch.values()]
            # Embedding is most of an ingest's time: done before taking the lock, so
            # writers on other machines embed while this one waits its turn.
            vectors = self.collection.embed_chunks(items)
            with catalog.batch_lock():
                if catalog.shared:
                    items, vectors = self._still_new(items, vectors)
                self._write(items, vectors)
            self.batch.clear()
            self.batch_texts.clear()
            self.counted.clear()
        after, self.after = self.after, []
        if self.aliases or after:
            catalog.add_sources(self.aliases, extra=_all(after) if after else None)
            self.aliases.clear()

    def _write(self, items: list[tuple[Article, list[Chunk]]], vectors: list[list[float]]) -> None:
        """The write protocol (see the module's docstring) for one batch."""
        catalog = self.collection.catalog
        ids = [a.id for a, _ in items]
        self.batches += 1
        catalog.mark_pending(ids)
        self._step_done("pending")
        old_chunks = catalog.chunk_ids(ids)
        self.collection.write_chunks(items, vectors)
        self._step_done("vectors")
        notes, self.notes = self.notes, []
        catalog.replace_articles(items, _now(), extra=_all(notes) if notes else None)
        self._step_done("catalog")
        self.collection.delete_chunks(old_chunks - {c.id for _, cs in items for c in cs})
        self._step_done("cleanup")
        catalog.clear_pending(ids)

    def _still_new(
        self, items: list[tuple[Article, list[Chunk]]], vectors: list[list[float]]
    ) -> tuple[list[tuple[Article, list[Chunk]]], list[list[float]]]:
        """Drop what another writer stored since this run read the catalog: the same
        version of an article (now unchanged), or its text under another id (now a
        duplicate). Runs under the batch lock, so the answer cannot change meanwhile."""
        stored = self.collection.catalog.content_hashes([a.id for a, _ in items])
        kept: list[tuple[Article, list[Chunk]]] = []
        kept_vectors: list[list[float]] = []
        at = 0
        for article, chunks in items:
            mine = vectors[at : at + len(chunks)]
            at += len(chunks)
            twin = None
            if article.id not in stored:
                twin = self.collection.catalog.article_with_text(article.text_hash)
            if stored.get(article.id) == article.content_hash or twin not in (None, article.id):
                self._count_as_met(article, twin)
                continue
            kept.append((article, chunks))
            kept_vectors.extend(mine)
        return kept, kept_vectors

    def _count_as_met(self, article: Article, twin: str | None) -> None:
        if self.counted.pop(article.id) == "added":
            self.report.added -= 1
        else:
            self.report.updated -= 1
        if twin is None:
            self.report.unchanged += 1
        else:
            self.report.duplicates += 1
        self.aliases.append((*article.origin, twin or article.id))

    def _step_done(self, step: str) -> None:
        if self.on_step is not None:
            self.on_step(step, self.batches)


def _all(notes: list[Extra]) -> Extra:
    def write(db: Db) -> None:
        for note in notes:
            note(db)

    return write


def _prune(collection: NewsCollection, seen: set[tuple[str, str]], read: set[str]) -> int:
    """Drop sources that are gone, then the articles left with no source at all."""
    catalog = collection.catalog
    gone = [
        (path, key)
        for path, key, _ in catalog.sources()
        # A feed's or page's URL is no file: only watch.py decides what it still holds.
        if (path, key) not in seen
        and "://" not in path
        and (path in read or not os.path.exists(path))
    ]
    catalog.remove_sources(gone)
    orphans = sorted(set(catalog.content_hashes()) - {a for _, _, a in catalog.sources()})
    if orphans:
        catalog.mark_pending(orphans)
        doomed = catalog.chunk_ids(orphans)
        catalog.remove_articles(orphans)
        collection.delete_chunks(doomed)
        catalog.clear_pending(orphans)
    return len(orphans)


def _check_model(collection: NewsCollection) -> None:
    name = getattr(collection.embeddings, "name", type(collection.embeddings).__name__)
    stored = collection.catalog.get_meta("embedding_model")
    if stored is None:
        collection.catalog.set_meta("embedding_model", name)
    elif stored != name:
        raise EmbeddingMismatch(
            f"collection {collection.name!r} was embedded with {stored}, not "
            f"{name}: ingest into a new collection (--collection NAME)"
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
