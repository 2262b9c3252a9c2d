"""Shared fixtures: every test gets its own data dir; the real embedding model is loaded once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from index.collection import NewsCollection
from index.embeddings import load_embeddings
from settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data"


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("NEWSQA_COLLECTION", "NEWSQA_CHROMA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "newsqa-data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class CountingEmbeddings(Embeddings):
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "inner")
        self.texts = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


@pytest.fixture(scope="session")
def real_embeddings() -> Embeddings:
    return load_embeddings()


@pytest.fixture
def embeddings(real_embeddings: Embeddings) -> CountingEmbeddings:
    return CountingEmbeddings(real_embeddings)


@pytest.fixture
def settings() -> Settings:
    return get_settings()


@pytest.fixture
def collection(settings: Settings, embeddings: CountingEmbeddings) -> Iterator[NewsCollection]:
    opened = NewsCollection(settings, embeddings=embeddings)
    yield opened
    opened.close()


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def story(n: int, words: str = "") -> str:
    """A short synthetic news story with several paragraphs."""
    return (
        f"Officials in town number {n} said on Monday that the bridge would reopen. {words}\n\n"
        f"The repairs cost {n * 1000} dollars, according to the mayor. Work began in May.\n\n"
        f"Residents of town {n} welcomed the news. “It was a long wait,” said one of them."
    )
