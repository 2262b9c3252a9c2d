"""Peak memory of reading a big JSONL feed: the streaming loader against reading the
file whole, as the loader did before (``read_bytes``, decode, ``splitlines``).

    python benchmarks/jsonl_memory.py [--mb 1000] [--ingest-mb 30] [--embeddings hash|real]

Writes feeds of distinct synthetic articles (about 3 KB each) into a temporary folder,
deleted afterwards, and runs each measurement in a fresh child process, printing its
peak RSS (``ru_maxrss``) and time:
- load, old / new: every article of the ``--mb`` feed loaded and dropped;
- ingest, old / new: a real ingest (chunking, catalog, keyword index, Chroma) of the
  ``--ingest-mb`` feed into a throwaway collection, with the old or the new loader.
  ``--embeddings hash`` embeds with a deterministic stand-in (hashes of the text),
  because the model's own memory does not depend on the input and embedding 30 MB of
  text takes about an hour on 2 cores; ``real`` uses all-MiniLM-L6-v2.
``--ingest-mb 0`` skips the ingests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from index import formats
from index.articles import Article
from index.loaders import LoadError, SourceFile, find_files, load_file

MAX_ARTICLE_BYTES = 2_000_000  # the default NEWSQA_MAX_ARTICLE_BYTES


def write_feed(path: Path, megabytes: float) -> int:
    """Distinct articles of about 3 KB, written a line at a time; returns how many."""
    rng = random.Random(7)
    vocabulary = [f"{a}{b}" for a in ("bar", "cor", "del", "fen", "gal", "hur") for b in range(400)]
    target, count = megabytes * 1e6, 0
    with path.open("w", encoding="utf-8") as sink:
        while sink.tell() < target:
            sentences = [
                f"Officials in town {count} said {' '.join(rng.choices(vocabulary, k=14))}."
                for _ in range(22)
            ]
            record = {
                "id": f"bench-{count}",
                "title": f"Report {count}: {' '.join(rng.choices(vocabulary, k=6))}",
                "published": f"2022-{1 + count % 12:02d}-{1 + count % 28:02d}",
                "source": "Bench Herald",
                "text": " ".join(sentences),
            }
            sink.write(json.dumps(record) + "\n")
            count += 1
    return count


def old_load_file(source: SourceFile, max_bytes: int) -> Iterator[Article | LoadError]:
    """The loader before streaming, step by step: the file read whole, its emptiness and
    UTF-8 checked (a decode thrown away), decoded, split into a list of lines."""
    path = str(source.path.resolve())
    data = source.path.read_bytes()
    if not data.strip() or b"\x00" in data[:8192]:
        yield LoadError(path, "empty or binary file")
        return
    data.decode("utf-8")
    text = data.decode("utf-8").removeprefix("\ufeff")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            article = formats.parse_jsonl_record(line, source.label, path, number)
            if len(article.text.encode()) > max_bytes:
                yield LoadError(path, "over the size limit", number)
            else:
                yield article


class HashEmbeddings(Embeddings):
    """A stand-in for the model: 384 numbers from a hash of the text, no model memory."""

    name = "hash-384"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        digest = hashlib.sha512(text.encode()).digest() * 6
        return [byte / 255 - 0.5 for byte in digest]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_load(feed: Path, old: bool) -> dict[str, float]:
    load = old_load_file if old else load_file
    (source,) = find_files([feed])
    assert isinstance(source, SourceFile)
    started = time.perf_counter()
    articles = sum(isinstance(item, Article) for item in load(source, MAX_ARTICLE_BYTES))
    return {"articles": articles, "seconds": time.perf_counter() - started}


def child_ingest(feed: Path, old: bool, embeddings: str) -> dict[str, float]:
    from index.collection import NewsCollection
    from index.embeddings import load_embeddings
    from index.ingest import ingest
    from settings import get_settings

    model = load_embeddings() if embeddings == "real" else HashEmbeddings()
    loader = old_load_file if old else load_file
    with (
        tempfile.TemporaryDirectory(prefix="newsqa-bench-") as state,
        patch("index.ingest.load_file", loader),
    ):
        settings = get_settings().model_copy(
            update={"data_dir": Path(state), "collection": "bench", "chroma_url": ""}
        )
        collection = NewsCollection(settings, embeddings=model, create=True)
        started = time.perf_counter()
        report = ingest(collection, [feed], progress=False)
        seconds = time.perf_counter() - started
        collection.close()
    return {"articles": report.added, "chunks": report.chunks, "seconds": seconds}


def _measure(*args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def _row(what: str, feed_mb: float, result: dict[str, float]) -> None:
    extra = f", {int(result['chunks']):,} chunks" if "chunks" in result else ""
    print(
        f"{what:<12} {feed_mb:8.0f} MB feed  peak RSS {result['peak_mb']:8.0f} MB  "
        f"{result['seconds']:7.1f} s  ({int(result['articles']):,} articles{extra})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=1000, help="size of the feed to load")
    parser.add_argument("--ingest-mb", type=float, default=30, help="size of the feed to ingest")
    parser.add_argument("--embeddings", choices=("hash", "real"), default="hash")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, feed, *rest = args.child
        old = mode.endswith("old")
        if mode.startswith("load"):
            result = child_load(Path(feed), old)
        else:
            result = child_ingest(Path(feed), old, rest[0])
        print(json.dumps({**result, "peak_mb": _peak_mb()}))
        return
    print(f"{os.cpu_count()} CPUs; peak RSS of a fresh child process for each line")
    with tempfile.TemporaryDirectory(prefix="newsqa-jsonl-") as folder:
        for megabytes, label in ((args.mb, "load"), (args.ingest_mb, "ingest")):
            if not megabytes:
                continue
            feed = Path(folder) / f"{label}.jsonl"
            count = write_feed(feed, megabytes)
            size = feed.stat().st_size / 1e6
            print(f"{label}: {feed.name}, {size:,.0f} MB, {count:,} articles", flush=True)
            extra = [args.embeddings] if label == "ingest" else []
            for version in ("old", "new"):
                result = _measure(f"{label}-{version}", str(feed), *extra)
                _row(f"{label} {version}", size, result)
            feed.unlink()


if __name__ == "__main__":
    main()
