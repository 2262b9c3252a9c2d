"""Shared fixtures: every test gets its own data dir; the real embedding model is loaded
once; a module that needs a real ``chroma run`` server gets one."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from langchain_core.embeddings import Embeddings

from index.collection import NewsCollection
from index.embeddings import load_embeddings
from index.ingest import ingest
from index.store import chroma_client
from settings import Settings, get_settings
from tests.services import ChromaServer, PostgresCluster

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data"


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("NEWSQA_COLLECTION", "NEWSQA_CHROMA_URL", "NEWSQA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "newsqa-data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class CountingEmbeddings(Embeddings):
    """The real model, counting how many texts it was asked to embed and keeping the
    queries it embedded (what the retriever and the evidence selection searched)."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "inner")
        self.texts = 0
        self.queries: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
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
def indexed(collection: NewsCollection) -> NewsCollection:
    """The collection with the sample articles in it."""
    ingest(collection, [SAMPLES], progress=False)
    return collection


@pytest.fixture
def collection(settings: Settings, embeddings: CountingEmbeddings) -> Iterator[NewsCollection]:
    opened = NewsCollection(settings, embeddings=embeddings, create=True)
    yield opened
    opened.close()


def stored_collections(settings: Settings) -> tuple[list[str], list[str]]:
    """Every Chroma collection in the store and every file in the catalog folder."""
    chroma = sorted(c.name for c in chroma_client(settings).list_collections())
    folder = settings.data_dir / "catalog"
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    return chroma, files


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: IO[str], seconds: int) -> None:
    """Until ``url`` answers 200; fails with the process's log if it exits or is late."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"{process.args!r} exited with {process.returncode}:\n{log.read()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer within {seconds} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """One server per test module, stopped at its end; its data outside every data dir."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL 15 cluster on loopback for the whole run."""
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def shared_settings(
    postgres: PostgresCluster, chroma_server: ChromaServer, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Shared mode: a fresh database, the module's Chroma server, a collection name of
    its own there (the server outlives the test), in the environment for subprocesses."""
    name = f"t{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("NEWSQA_DATABASE_URL", postgres.fresh_database(name))
    monkeypatch.setenv("NEWSQA_CHROMA_URL", chroma_server.url)
    monkeypatch.setenv("NEWSQA_COLLECTION", name)
    get_settings.cache_clear()
    return get_settings()


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


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the default model, on loopback,
    for the whole run (``tests/served.py``): its ``/v1`` URL."""
    from tests.served import llama_server as served  # served.py imports this module

    with served(tmp_path_factory.mktemp("llama-server") / "server.log") as url:
        yield url


def received_upload(page: Any, path: Path) -> str:
    """``path`` as Gradio's upload route leaves a file: copied into its upload folder and
    recorded by the page, so the Articles tab takes it (``ui/upload_field.py``)."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / f"test-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    copy = folder / path.name
    shutil.copyfile(path, copy)
    page.upload_file_set.add(str(copy))
    return str(copy)
