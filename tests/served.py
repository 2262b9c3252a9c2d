"""Helpers for the protocol tests and benchmark: a chain over the sample articles with a
recording fake model, and an ASGI app served by uvicorn on loopback in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from assistant import NewsQA, build_chain
from index.collection import NewsCollection
from index.ingest import ingest
from settings import Settings
from tests.conftest import SAMPLES, free_port


def sample_settings(data_dir: Path, **changes: Any) -> Settings:
    """Settings of their own (not the environment's): a data dir, the fake model, no
    key or login unless given."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "collection": "news",
        "chroma_url": "",
        "llm": "fake",
        "api_key": "",
        "ui_user": "",
        "ui_password": "",
        "host": "127.0.0.1",
    }
    return Settings(**{**values, **changes})


def ingest_samples(settings: Settings, embeddings: Embeddings) -> None:
    collection = NewsCollection(settings, embeddings=embeddings, create=True)
    try:
        ingest(collection, [SAMPLES])
    finally:
        collection.close()


def sample_chain(
    settings: Settings, embeddings: Embeddings, llm: BaseChatModel | None = None
) -> NewsQA:
    ingest_samples(settings, embeddings)
    return build_chain(settings, llm=llm, embeddings=embeddings, progress=False)


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """The app on http://127.0.0.1:PORT (lifespan included) until the block ends."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
