"""The synthetic corpus of ``benchmarks/scale.py`` and its cached sentence vectors.

Articles are recombined from the sentences of the noise pages
(``realtimeqa-dev/noise.jsonl``), so they read like web news and are all distinct:

- the sentence pool: the "clean" sentences (40-300 characters, starting with a capital
  and ending in ``.``, ``!`` or ``?``, and split back into exactly themselves by
  ``index.chunking.sentence_spans``) of whole noise pages taken in a seeded order until
  ``pool_size`` distinct sentences are in the pool;
- an article: 5-10 paragraphs, each a run of 2-5 consecutive pool sentences of one page
  (mostly the article's main page, sometimes another), joined by spaces; paragraphs are
  joined by a blank line. A paragraph is kept only if ``sentence_spans`` splits it back
  into exactly its sentences, so every chunk the ingest makes is a run of pool sentences;
- title: the main page's title plus the publication day ("… — Mar 4"), made unique with
  " (2)", " (3)" …; publication dates are spread over 2022; everything follows one seed.

Vectors: each pool sentence is embedded once with the real model
(``index.embeddings.load_embeddings()``) and cached as ``.npy`` beside the corpus.
:class:`CachedSentenceEmbeddings` then stands in for the model during ingest: a chunk's
vector is the L2-normalised mean of its sentences' cached vectors. The headline line that
``index.collection.embedding_text`` puts before each chunk is skipped (headlines are not
in the pool); a sentence not in the pool would be embedded with the real model and
counted (``misses``, expected 0). Queries go to the real model. What this leaves out:
the cost of embedding chunks during ingest (measured by ``benchmarks/ingest.py``).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from index.chunking import sentence_spans

_CLEAN_END = re.compile(r"[.!?][\"”’')]?$")
_YEAR_START = date(2022, 1, 1)


@dataclass(frozen=True)
class Pool:
    """Pool sentences (row = vector row) and, per noise page, its pool sentences in order."""

    sentences: list[str]
    pages: list[tuple[str, list[int]]]  # (title, rows)


def _clean(sentence: str) -> bool:
    return (
        40 <= len(sentence) <= 300
        and sentence[0].isupper()
        and bool(_CLEAN_END.search(sentence))
        and sentence_spans(sentence) == [(0, len(sentence))]
    )


def build_pool(noise: Path, pool_size: int, seed: int) -> Pool:
    records = [json.loads(line) for line in noise.open(encoding="utf-8") if line.strip()]
    random.Random(seed).shuffle(records)
    rows: dict[str, int] = {}
    pages: list[tuple[str, list[int]]] = []
    for record in records:
        if pool_size and len(rows) >= pool_size:
            break
        text = str(record.get("text") or "")
        kept = [s for s in (text[a:b] for a, b in sentence_spans(text)) if _clean(s)]
        if len(kept) < 4:
            continue
        page_rows = [rows.setdefault(s, len(rows)) for s in kept]
        title = " ".join(str(record.get("title") or kept[0][:60]).split())[:90]
        pages.append((title, page_rows))
    return Pool(list(rows), pages)


def _paragraph(rng: random.Random, pool: Pool, rows: list[int]) -> list[int] | None:
    size = rng.randint(2, 5)
    start = rng.randrange(max(1, len(rows) - size + 1))
    picked = rows[start : start + size]
    text = " ".join(pool.sentences[r] for r in picked)
    spans = [text[a:b] for a, b in sentence_spans(text)]
    return picked if spans == [pool.sentences[r] for r in picked] else None


def _article(rng: random.Random, pool: Pool) -> tuple[str, list[list[int]]]:
    main = rng.randrange(len(pool.pages))
    paragraphs: list[list[int]] = []
    for _ in range(rng.randint(5, 10)):
        page = main if rng.random() < 0.7 else rng.randrange(len(pool.pages))
        picked = _paragraph(rng, pool, pool.pages[page][1])
        if picked is not None:
            paragraphs.append(picked)
    return pool.pages[main][0], paragraphs


def write_corpus(path: Path, pool: Pool, articles: int, seed: int) -> int:
    """Write ``articles`` distinct JSONL records to ``path``; returns their word count."""
    rng = random.Random(seed + 1)
    titles: set[str] = set()
    texts: set[bytes] = set()
    words = 0
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as sink:
        while len(texts) < articles:
            base, paragraphs = _article(rng, pool)
            text = "\n\n".join(" ".join(pool.sentences[r] for r in p) for p in paragraphs)
            digest = hashlib.sha1(text.encode()).digest()
            if not paragraphs or digest in texts:
                continue
            texts.add(digest)
            day = _YEAR_START + timedelta(days=rng.randrange(365))
            title = f"{base} — {day:%b} {day.day}"
            number = 1
            while title in titles:
                number += 1
                title = f"{base} — {day:%b} {day.day} ({number})"
            titles.add(title)
            record = {
                "id": f"scale-{len(texts):06d}",
                "title": title,
                "published": day.isoformat(),
                "source": "synthetic",
                "authors": [],
                "text": text,
            }
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            words += len(text.split())
    partial.replace(path)
    return words


def embed_pool(pool: Pool, model: Embeddings, block: int = 2048) -> np.ndarray:
    """Every pool sentence embedded once with ``model`` (the slow, one-off part)."""
    parts = []
    started = time.perf_counter()
    for i in range(0, len(pool.sentences), block):
        parts.append(np.asarray(model.embed_documents(pool.sentences[i : i + block]), "float32"))
        done = min(i + block, len(pool.sentences))
        rate = done / (time.perf_counter() - started)
        print(f"  embedded {done:,}/{len(pool.sentences):,} sentences ({rate:.0f}/s)", flush=True)
    return np.concatenate(parts)


class CachedSentenceEmbeddings(Embeddings):
    """Chunk vectors from cached sentence vectors; queries through the real model."""

    def __init__(self, sentences: list[str], vectors: np.ndarray, real: Any) -> None:
        self.rows = {s: i for i, s in enumerate(sentences)}
        self.vectors = vectors
        self.real = real
        self.name: str = real.name  # the real model's: ingest's _check_model compares it
        self.chunks = 0
        self.misses = 0
        self.seconds = 0.0
        self.query_seconds: list[float] = []  # each embed_query, for the latency split

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        result = [self._chunk_vector(text) for text in texts]
        self.chunks += len(texts)
        self.seconds += time.perf_counter() - started
        return result

    def _chunk_vector(self, text: str) -> list[float]:
        # embedding_text is "headline\nchunk": the headline line is skipped.
        body = text.split("\n", 1)[1] if "\n" in text else text
        found, missing = [], []
        for a, b in sentence_spans(body):
            row = self.rows.get(body[a:b])
            if row is None:
                missing.append(body[a:b])
            else:
                found.append(self.vectors[row])
        if missing:
            self.misses += len(missing)
            found.extend(np.asarray(self.real.embed_documents(missing), "float32"))
        mean = np.mean(found, axis=0)
        return (mean / np.linalg.norm(mean)).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        started = time.perf_counter()
        vector: list[float] = self.real.embed_query(text)
        self.query_seconds.append(time.perf_counter() - started)
        return vector


@dataclass(frozen=True)
class Corpus:
    path: Path  # the JSONL the ingest reads
    words: int
    pool: Path  # the pool's sentences (JSON)
    vectors: Path  # their vectors (.npy), row i = sentence i


def precision_tag(precision: str) -> str:
    from index.embeddings import native_bf16

    return "bf16" if precision == "bf16" or (precision == "auto" and native_bf16()) else "fp32"


def prepare(cache: Path, noise: Path, articles: int, pool_size: int, seed: int) -> Corpus:
    """The corpus and its vectors, built (and timed) where the cache does not have them."""
    from settings import Settings

    cache.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    stem = f"pool-{pool_size}-seed{seed}"
    pool_path = cache / f"{stem}.json"
    vectors = cache / f"{stem}-{precision_tag(settings.embed_precision)}.npy"
    corpus = cache / f"corpus-{articles}-{stem}.jsonl"
    counted = corpus.with_suffix(".words")
    if pool_path.exists():
        saved = json.loads(pool_path.read_text())
        pool = Pool(saved["sentences"], [(t, rows) for t, rows in saved["pages"]])
    else:
        started = time.perf_counter()
        pool = build_pool(noise, pool_size, seed)
        pool_path.write_text(json.dumps({"sentences": pool.sentences, "pages": pool.pages}))
        print(f"pool: {len(pool.sentences):,} sentences of {len(pool.pages):,} pages, "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    if not vectors.exists():
        from index.embeddings import load_embeddings

        started = time.perf_counter()
        model = load_embeddings(settings.embed_precision, settings.embed_batch)
        matrix = embed_pool(pool, model)
        np.save(vectors.with_suffix(".partial.npy"), matrix)
        vectors.with_suffix(".partial.npy").replace(vectors)
        words = sum(len(s.split()) for s in pool.sentences)
        seconds = time.perf_counter() - started
        print(f"pool vectors: {seconds:.1f} s, {words / seconds:,.0f} words/s", flush=True)
    if not counted.exists():
        started = time.perf_counter()
        counted.write_text(str(write_corpus(corpus, pool, articles, seed)))
        print(f"corpus: {articles:,} articles, {time.perf_counter() - started:.1f} s", flush=True)
    words = int(counted.read_text())
    print(f"corpus {corpus}: {articles:,} articles, {words:,} words", flush=True)
    return Corpus(corpus, words, pool_path, vectors)
