"""One mode of ``benchmarks/scale.py``, measured in its own process.

Opens a fresh collection (embedded: a new data dir; shared: a throwaway PostgreSQL
database and ``chroma run`` server from ``tests/services.py``), ingests the cached
corpus with cached sentence vectors, then times retrieval and reads memory from /proc.
Where the ingest's time goes is measured by wrapping, on this one collection object, the
vector store's ``upsert`` and the catalog's ``replace_articles``; nothing in ``index/``
changes. What it leaves out: building the corpus and the vectors (``scale_corpus.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scale_corpus import CachedSentenceEmbeddings, Corpus, prepare


def _kib(pid: int, field: str, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:  # gone, or not ours to read
        pass
    return 0


def _tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_tree(int(child)))
    return found


def rss_mib(pid: int) -> float:
    return _kib(pid, "VmRSS", "status") / 1024


def pss_tree_mib(pid: int) -> float:
    """A server's memory: PSS (shared pages split among sharers) over its processes."""
    return sum(_kib(p, "Pss", "smaps_rollup") for p in _tree(pid)) / 1024


class _TimedStore:
    """The Chroma collection with its ``upsert`` timed (the rest passes through)."""

    def __init__(self, inner: Any, clock: dict[str, float]) -> None:
        self._inner = inner
        self._clock = clock

    def upsert(self, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._inner.upsert(**kwargs)
        finally:
            self._clock["vector store"] += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _timed(method: Callable[..., Any], clock: dict[str, float], key: str) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            clock[key] += time.perf_counter() - started

    return run


@contextmanager
def _servers(
    mode: str, work: Path, keep: bool, reuse: bool
) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """Settings overrides for the mode, and the PIDs of its servers (``keep``: the
    PostgreSQL cluster in ``work`` outlives the run; ``reuse``: its database is kept)."""
    from settings import Settings

    blank = {"chroma_url": ""} | (
        {"database_url": ""} if "database_url" in Settings.model_fields else {}
    )
    if mode == "embedded":
        yield blank, {}
        return
    from tests.services import ChromaServer, PostgresCluster

    with ExitStack() as stack:
        cluster = PostgresCluster(work / "postgresql" if keep else None)
        stack.callback(cluster.close)
        cluster.start()
        url = cluster.url_for("scale") if reuse else cluster.fresh_database("scale")
        chroma = ChromaServer(work / "chroma")
        stack.callback(chroma.stop)
        chroma.start()
        assert chroma._process is not None
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        pids = {"chroma": chroma._process.pid, "postgres": postmaster}
        yield {"database_url": url, "chroma_url": chroma.url}, pids


def _ingest(collection: Any, corpus: Corpus) -> dict[str, Any]:
    from index.ingest import ingest

    clock = {"vector store": 0.0, "catalog": 0.0}
    collection.chroma = _TimedStore(collection.chroma, clock)
    catalog = collection.catalog
    catalog.replace_articles = _timed(catalog.replace_articles, clock, "catalog")
    batches: list[float] = []

    def step(name: str, _: int) -> None:
        if name == "cleanup":
            batches.append(time.perf_counter())

    started = time.perf_counter()
    done = ingest(collection, [corpus.path], progress=False, on_step=step)
    seconds = time.perf_counter() - started
    collection.chroma = collection.chroma._inner
    tenth = max(1, len(batches) // 10)
    per_batch = collection.settings.ingest_batch  # the last batch may be smaller
    first = tenth * per_batch / (batches[tenth - 1] - started)
    before_last = batches[-1 - tenth] if len(batches) > tenth else started
    last = tenth * per_batch / (batches[-1] - before_last)
    embedder = collection.embeddings
    clock["cached vectors"] = embedder.seconds
    clock["rest (load, chunk, ledger)"] = seconds - sum(clock.values())
    return {
        "articles": done.added,
        "chunks": done.chunks,
        "failed": len(done.failed),
        "ingest_s": seconds,
        "words_per_s": corpus.words / seconds,
        "stages_s": clock,
        "rate_first": first,
        "rate_last": last,
        "misses": embedder.misses,
    }


def _latencies(collection: Any, questions: list[str]) -> dict[str, Any]:
    """p50/p95 of whole retrievals, of their query embedding, and of the rest (searches,
    fusion, reading chunks back): the first call warms caches up and is not counted."""
    from assistant.retrieval import HybridRetriever

    retriever = HybridRetriever.for_collection(collection)
    embedder = collection.embeddings
    catalog = collection.catalog
    clock = {"keyword": 0.0}
    catalog.keyword_search = _timed(catalog.keyword_search, clock, "keyword")
    timings, keyword = [], []
    try:
        for question in questions:
            started, searching = time.perf_counter(), clock["keyword"]
            retriever.invoke(question)
            timings.append(time.perf_counter() - started)
            keyword.append(clock["keyword"] - searching)
    finally:
        del catalog.keyword_search
    whole = np.array(timings[1:]) * 1000
    embed = np.array(embedder.query_seconds[1 : len(timings)]) * 1000
    words = np.array(keyword[1 : len(timings)]) * 1000
    result: dict[str, Any] = {"queries": len(whole)}
    parts = [("", whole), ("embed_", embed), ("keyword_", words), ("search_", whole - embed)]
    parts.append(("other_", whole - embed - words))
    for name, values in parts:
        result[f"{name}p50_ms"], result[f"{name}p95_ms"] = np.percentile(values, [50, 95])
    return result


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import os

    from index.collection import NewsCollection
    from index.embeddings import load_embeddings
    from settings import Settings

    corpus = prepare(args.cache_dir, args.data / "noise.jsonl", args.articles, args.pool, args.seed)
    lines = (args.data / "questions.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    questions = questions[: args.queries + 1]
    work = (
        args.keep / args.measure
        if args.keep
        else Path(tempfile.mkdtemp(prefix=f"newsqa-scale-{args.measure}-"))
    )
    ingested = work / "ingest.json"  # the kept ingest's own result
    try:
        kept = ingested.exists()
        with _servers(args.measure, work, bool(args.keep), kept) as (overrides, pids):
            settings = Settings().model_copy(
                update={"data_dir": work / "data", "collection": "scale", **overrides}
            )
            real = load_embeddings(settings.embed_precision, settings.embed_batch)
            sentences = json.loads(corpus.pool.read_text())["sentences"]
            cached = CachedSentenceEmbeddings(sentences, np.load(corpus.vectors), real)
            result: dict[str, Any] = {"mode": args.measure, "rss_start_mib": rss_mib(os.getpid())}
            collection = NewsCollection(settings, embeddings=cached, create=not kept)
            try:
                if kept:
                    result = json.loads(ingested.read_text()) | result | {"kept": str(work)}
                    print(f"  {args.measure}: ingest kept in {work}", flush=True)
                else:
                    result |= _ingest(collection, corpus)
                    print(f"  {args.measure}: ingest {result['ingest_s']:.1f} s", flush=True)
                    result["rss_ingest_mib"] = rss_mib(os.getpid())
                    if args.keep:
                        ingested.write_text(json.dumps(result))
                if args.keyword_budget:
                    collection.catalog.keyword_budget = args.keyword_budget
                result["keyword_budget"] = collection.catalog.keyword_budget
                result |= _latencies(collection, questions)
                result["rss_queries_mib"] = rss_mib(os.getpid())
            finally:
                collection.close()
            result["servers_mib"] = {name: pss_tree_mib(pid) for name, pid in pids.items()}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result
