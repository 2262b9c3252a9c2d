"""Retrieval quality, embedded vs shared: the dev set with its noise pages, both modes.

    python benchmarks/shared_quality.py [--out bench-out-shared-quality]

Ingests the 90 dev articles and the 1,986 noise pages twice, through the real ingest:
into the embedded default (SQLite FTS5 + embedded Chroma) and into shared mode (a
throwaway PostgreSQL 15 cluster and a ``chroma run`` server on loopback, from
``tests/services.py``). Each chunk is embedded once by the real model and the vector
reused for the second ingest (an in-process cache keyed by the text), so the two modes
differ only in their stores and keyword ranking. Then runs the eval CLI's retrieval-only
mode (``python -m eval run ... --retrieval-only``, the chain's own retrieval with its
date handling) on ``questions.jsonl`` against each, and prints Hits@1/5, MRR and the
retrieval latency of both, with the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from langchain_core.embeddings import Embeddings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.cli import main as eval_main  # noqa: E402
from index.collection import NewsCollection  # noqa: E402
from index.embeddings import load_embeddings  # noqa: E402
from index.ingest import ingest  # noqa: E402
from settings import get_settings  # noqa: E402
from tests.services import ChromaServer, PostgresCluster  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "realtimeqa-dev"
METRICS = ("hits_at_1", "hits_at_5", "mrr_at_10", "retrieval_p50_s")


class CachedEmbeddings(Embeddings):
    """The real model, each distinct text embedded once per process."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "inner")
        self.cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            self.cache.update(zip(missing, self.inner.embed_documents(missing), strict=True))
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _use(env: dict[str, str]) -> None:
    for name in ("NEWSQA_DATA_DIR", "NEWSQA_DATABASE_URL", "NEWSQA_CHROMA_URL"):
        os.environ.pop(name, None)
    os.environ.update(env, NEWSQA_COLLECTION="devnoise")
    get_settings.cache_clear()


def _ingest(embeddings: Embeddings) -> float:
    collection = NewsCollection(get_settings(), embeddings=embeddings, create=True)
    started = time.perf_counter()
    report = ingest(collection, [DEV / "articles.jsonl", DEV / "noise.jsonl"], progress=False)
    seconds = time.perf_counter() - started
    print(f"  {report.added} articles, {report.chunks} chunks in {seconds:.0f} s", flush=True)
    collection.close()
    return seconds


def _evaluate(out: Path) -> dict[str, float]:
    command = ["run", str(DEV / "questions.jsonl"), "--collection", "devnoise"]
    command += ["--retrieval-only", "--out", str(out), "--quiet"]
    code = eval_main(command)
    if code not in (0, 1):
        raise SystemExit(f"eval failed ({code})")
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    return {m: float(metrics[m]) for m in METRICS if metrics.get(m) is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out-shared-quality"))
    args = parser.parse_args()
    embeddings = CachedEmbeddings(load_embeddings())
    cluster, results = PostgresCluster(), {}
    with tempfile.TemporaryDirectory() as folder:
        chroma = ChromaServer(Path(folder) / "chroma")
        try:
            cluster.start()
            chroma.start()
            modes = {
                "embedded": {"NEWSQA_DATA_DIR": f"{folder}/embedded"},
                "shared": {
                    "NEWSQA_DATA_DIR": f"{folder}/shared",
                    "NEWSQA_DATABASE_URL": cluster.fresh_database("quality"),
                    "NEWSQA_CHROMA_URL": chroma.url,
                },
            }
            for mode, env in modes.items():
                print(f"{mode}: ingest", flush=True)
                _use(env)
                _ingest(embeddings)
                results[mode] = _evaluate(args.out / mode)
        finally:
            chroma.stop()
            cluster.close()
    for mode, metrics in results.items():
        print(f"{mode:<9}" + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    gap = {k: results["shared"][k] - results["embedded"][k] for k in results["embedded"]}
    print("shared - embedded: " + "  ".join(f"{k} {v:+.3f}" for k, v in gap.items()))


if __name__ == "__main__":
    main()
