"""Ingest speed with the real model, embedded vs shared: `python benchmarks/shared_ingest.py`.

The first 300 noise pages (``../shared/data/realtimeqa-dev/noise.jsonl``) ingested three
times through the real ingest, with the real embedding model loaded (and warmed) once:
into the embedded default, into shared mode (a throwaway PostgreSQL 15 and a
``chroma run`` on loopback, ``tests/services.py``), and embedded again (so the first
run's warm-up cannot favour either mode). Prints seconds and words/s of each. Unlike
``scale.py`` (cached vectors: everything but the model), this is what a user ingesting
articles sees.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.collection import NewsCollection  # noqa: E402
from index.embeddings import load_embeddings  # noqa: E402
from index.ingest import ingest  # noqa: E402
from settings import Settings  # noqa: E402
from tests.services import ChromaServer, PostgresCluster  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "realtimeqa-dev"
PAGES = 300


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    lines = list(itertools.islice((DEV / "noise.jsonl").open(encoding="utf-8"), PAGES))
    corpus = tmp / "corpus.jsonl"
    corpus.write_text("".join(lines), encoding="utf-8")
    words = sum(len((json.loads(line).get("text") or "").split()) for line in lines)
    embeddings = load_embeddings()
    embeddings.embed_documents(["warm up"])
    cluster, chroma = PostgresCluster(), ChromaServer(tmp / "chroma")
    cluster.start()
    chroma.start()
    try:
        modes: list[tuple[str, dict[str, object]]] = [
            ("embedded", {"data_dir": tmp / "e"}),
            (
                "shared",
                {
                    "data_dir": tmp / "s",
                    "database_url": cluster.fresh_database("ratio"),
                    "chroma_url": chroma.url,
                },
            ),
            ("embedded again", {"data_dir": tmp / "e2"}),
        ]
        for mode, update in modes:
            settings = Settings().model_copy(update={**update, "collection": "ratio"})
            collection = NewsCollection(settings, embeddings=embeddings, create=True)
            started = time.perf_counter()
            report = ingest(collection, [corpus], progress=False)
            seconds = time.perf_counter() - started
            print(
                f"{mode}: {report.added} articles {report.chunks} chunks {seconds:.1f} s "
                f"{words / seconds:.0f} words/s",
                flush=True,
            )
            collection.close()
    finally:
        chroma.stop()
        cluster.close()


if __name__ == "__main__":
    main()
