"""Helpers for the protocol tests and benchmark: a chain over the sample articles with a
recording fake model, an ASGI app served by uvicorn on loopback in a thread, ``python
app.py`` in its own process, and llama-cpp-python's OpenAI-compatible server with the
real model."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from assistant import NewsQA, build_chain
from assistant.model_files import MODELS, ensure_model
from index.collection import NewsCollection
from index.ingest import ingest
from settings import Settings
from tests.conftest import ROOT, SAMPLES, wait_until_up
from tests.services import free_port


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


@dataclass(frozen=True)
class RunningApp:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    process: subprocess.Popen[bytes]


@contextmanager
def app_process(state: Path, **env: str) -> Iterator[RunningApp]:
    """``python app.py`` on a free port with its own data dir under ``state`` (its log
    beside it, printed at the end), settings from ``env`` over the environment's."""
    port = free_port()
    environ = {
        **os.environ,
        "NEWSQA_DATA_DIR": str(state / "data"),
        "NEWSQA_PORT": str(port),
        "NEWSQA_COLLECTION": "news",
        **env,
    }
    for name in ("NEWSQA_CHROMA_URL", "NEWSQA_API_KEY", "NEWSQA_ALLOWED_HOSTS"):
        if name not in env:
            environ.pop(name, None)
    url = f"http://127.0.0.1:{port}"
    with (state / "app.log").open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"{url}/", process, log, 300)
            yield RunningApp(url, process)
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.seek(0)
            print(log.read()[-3000:])


@contextmanager
def llama_server(log: Path, alias: str = "qwen2.5-1.5b") -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) with
    a bundled model on loopback, until the block ends: its ``/v1`` URL. It answers one
    request at a time; ``--interrupt_requests False`` keeps its default from cutting a
    stream short whenever another request arrives (several clients would get half
    answers)."""
    settings = Settings()
    model = ensure_model(MODELS[alias], settings.model_cache_dir, progress=False)
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--model_alias", alias, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", str(settings.llm_ctx), "--interrupt_requests", "False"]
    command += ["--n_threads", str(os.cpu_count() or 1)]  # its default is half the cores
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start: " + log.read_text()[-2000:])
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
