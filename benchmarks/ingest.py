"""Ingest speed: newsqa against the LangChain tutorial pipeline, same texts, same model.

    python benchmarks/ingest.py [--data ../shared/data/realtimeqa-dev] [--noise-limit N]

Prints, for the dev articles plus noise.jsonl:
- words/s of a first newsqa ingest and of the tutorial pipeline
  (RecursiveCharacterTextSplitter 1000/200 + HuggingFaceEmbeddings + Chroma.from_documents),
  and their ratio;
- the time of a second, unchanged newsqa ingest, as a share of the first;
- dense Hits@5 on the dev questions (gold articles only) with the fp32 model and with
  the bf16 autocast newsqa uses where the CPU has it; and with the noise pages added,
  for newsqa and for the tutorial.
Both pipelines read the JSONL files themselves inside the timed part.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from index.collection import NewsCollection
from index.embeddings import load_embeddings, model_path
from index.ingest import ingest
from settings import Settings


def _records(paths: list[Path]) -> list[dict[str, object]]:
    return [json.loads(line) for p in paths for line in p.open() if line.strip()]


def _words(paths: list[Path]) -> int:
    return sum(len(str(r["text"]).split()) for r in _records(paths))


def _questions(data: Path) -> list[dict[str, object]]:
    return [q for q in _records([data / "questions.jsonl"]) if q["answerable"]]


def _hits_at_5(search, questions) -> float:  # type: ignore[no-untyped-def]
    """Share of questions with a gold article among the first 5 distinct articles."""
    hits = 0
    for q in questions:
        articles: list[str] = []
        for doc in search(q["question"], 40):
            aid = doc.metadata.get("article_id")
            if aid not in articles:
                articles.append(aid)
        hits += bool(set(articles[:5]) & set(q["gold_sources"]))
    return hits / len(questions)


def _newsqa(paths: list[Path], workdir: Path, precision: str) -> tuple[NewsCollection, float]:
    settings = Settings(data_dir=workdir, collection="bench", embed_precision=precision)
    collection = NewsCollection(settings, embeddings=load_embeddings(precision), create=True)
    started = time.perf_counter()
    report = ingest(collection, paths, progress=True)
    seconds = time.perf_counter() - started
    print(
        f"  newsqa ({precision}): {report.added} articles, "
        f"{report.chunks} chunks, {len(report.failed)} failed, {seconds:.1f} s",
        flush=True,
    )
    return collection, seconds


def _tutorial(paths: list[Path], workdir: Path):  # type: ignore[no-untyped-def]
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    embeddings = HuggingFaceEmbeddings(model_name=str(model_path()))
    started = time.perf_counter()
    docs = [
        Document(page_content=str(r["text"]), metadata={"article_id": str(r["id"])})
        for r in _records(paths)
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    store = Chroma.from_documents(splits, embeddings, persist_directory=str(workdir))
    seconds = time.perf_counter() - started
    print(f"  tutorial: {len(docs)} articles, {len(splits)} chunks, {seconds:.1f} s", flush=True)
    return store, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = Path(__file__).resolve().parent.parent
    parser.add_argument("--data", type=Path, default=here.parent / "shared/data/realtimeqa-dev")
    parser.add_argument(
        "--noise-limit", type=int, default=0, help="use only the first N noise pages (0: all)"
    )
    args = parser.parse_args()
    gold = args.data / "articles.jsonl"
    noise = args.data / "noise.jsonl"
    if args.noise_limit:
        cut = Path(tempfile.mkdtemp()) / "noise.jsonl"
        with noise.open() as src:
            cut.write_text(
                "".join(line for _, line in zip(range(args.noise_limit), src, strict=False))
            )
        noise = cut
    questions = _questions(args.data)
    corpus = [gold, noise]
    words = _words(corpus)
    print(
        f"corpus: {len(_records(corpus))} articles, {words:,} words; "
        f"{len(questions)} answerable dev questions",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("retrieval quality on the gold articles (dense only):", flush=True)
        quality = {}
        for precision in ("fp32", "auto"):
            collection, seconds = _newsqa([gold], work / f"gold-{precision}", precision)
            quality[precision] = _hits_at_5(collection.vector_store().similarity_search, questions)
            quality[precision + " s"] = seconds
            collection.close()

        print("speed on gold + noise:", flush=True)
        collection, first = _newsqa(corpus, work / "newsqa", "auto")
        started = time.perf_counter()
        again = ingest(collection, corpus, progress=False)
        second = time.perf_counter() - started
        ours_hits = _hits_at_5(collection.vector_store().similarity_search, questions)
        store, baseline = _tutorial(corpus, work / "tutorial")
        tutorial_hits = _hits_at_5(store.similarity_search, questions)

    ours_wps, base_wps = words / first, words / baseline
    print("\nresults")
    print(f"  newsqa first ingest      {ours_wps:10,.0f} words/s  ({first:.1f} s)")
    print(f"  tutorial pipeline        {base_wps:10,.0f} words/s  ({baseline:.1f} s)")
    print(f"  speed-up                 {ours_wps / base_wps:10.2f}x  (target >= 1.5x)")
    print(
        f"  unchanged re-ingest      {second:10.1f} s  = {second / first:.1%} of the first "
        f"(target <= 5%); embedded {again.added + again.updated} articles"
    )
    bf16 = "bf16" if load_embeddings("auto").bf16 else "fp32"
    print(f"  Hits@5 gold only, fp32   {quality['fp32']:10.3f}  ({quality['fp32 s']:.1f} s)")
    print(f"  Hits@5 gold only, {bf16}   {quality['auto']:10.3f}  ({quality['auto s']:.1f} s)")
    print(f"  Hits@5 + noise, newsqa   {ours_hits:10.3f}  (dense only)")
    print(f"  Hits@5 + noise, tutorial {tutorial_hits:10.3f}")


if __name__ == "__main__":
    main()
