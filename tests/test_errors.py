"""One error family at every entry point: a Chroma server that stops mid-chat, an upload
into a collection embedded with another model, a catalog file that is damaged or locked.
Each shows one clear line (a CLI exits 2 without a traceback) and the next request works
once the cause is gone. Real Chroma, real SQLite, real subprocesses; the model is the
recording fake."""

from __future__ import annotations

import functools
import inspect
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import gradio as gr
import pytest

from assistant import build_chain
from assistant import cli as assistant_cli
from assistant.fake import RecordingChatModel
from index.collection import NewsCollection, catalog_path
from index.embeddings import MODEL_NAME
from index.errors import StoreError
from index.ingest import ingest
from settings import Settings, get_settings
from tests.conftest import (
    ROOT,
    SAMPLES,
    ChromaServer,
    CountingEmbeddings,
    received_upload,
    story,
)
from ui import render, session
from ui.page import build_page

QUESTION = "How many officers died in the Coatepec Harinas ambush?"


def _handler(page: gr.Blocks, name: str) -> Callable[..., Any]:
    """The page's own event handler by its function name, called as Gradio would (an
    async one, which takes a generation slot, run to its end)."""
    handler = next(f.fn for f in page.fns.values() if f.name == name and f.fn is not None)
    if inspect.iscoroutinefunction(handler):
        return lambda *args: anyio.run(functools.partial(handler, *args))
    return handler


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    for text in expected:
        assert text in done.stderr


def _indexed(settings: Settings, embeddings: CountingEmbeddings) -> None:
    collection = NewsCollection(settings, embeddings=embeddings, create=True)
    ingest(collection, [SAMPLES], progress=False)
    collection.close()


def _contents(settings: Settings) -> tuple[tuple[int, int], int, str | None]:
    """Articles and chunks in the catalog, vectors in Chroma, the recorded model."""
    collection = NewsCollection(settings)
    try:
        meta = collection.catalog.get_meta("embedding_model")
        return collection.catalog.counts(), collection.vector_count(), meta
    finally:
        collection.close()


@pytest.mark.server
@pytest.mark.slow
def test_a_chroma_server_that_stops_mid_chat_is_one_message_and_the_chat_goes_on(
    chroma_server: ChromaServer,
    embeddings: CountingEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("NEWSQA_CHROMA_URL", chroma_server.url)
    monkeypatch.setenv("NEWSQA_LLM", "fake")  # the CLIs' model, were they to get that far
    settings = get_settings()
    _indexed(settings, embeddings)
    chain = build_chain(settings, llm=RecordingChatModel(echo=True), embeddings=embeddings)
    page = build_page(chain, settings)
    api_ask, upload = _handler(page, "ask"), _handler(page, "upload")
    *_, (_, exchanges, _) = session.ask(chain, QUESTION, [])
    assert [e.complete for e in exchanges] == [True]
    assert api_ask(QUESTION, "", "")["citations"]

    chroma_server.stop()
    down = f"the Chroma server at {chroma_server.url} stopped answering"
    *_, (messages, after, _) = session.ask(chain, "And how many were police?", exchanges)
    assert 'class="newsqa-error"' in messages[-1]["content"]
    assert down in messages[-1]["content"]
    assert after == exchanges  # the failed question is not part of the conversation
    with pytest.raises(gr.Error, match=down):
        api_ask(QUESTION, "", "")
    new_story = tmp_path / "bridge.txt"
    new_story.write_text(story(7), encoding="utf-8")
    report, stats, *_ = upload([received_upload(page, new_story)], "")
    assert down in report and 'class="newsqa-error"' in stats
    typed = iter(["And how many were police?", QUESTION, ""])
    monkeypatch.setattr("builtins.input", lambda _prompt: next(typed))
    capsys.readouterr()
    assert assistant_cli._chat(chain) == 0  # the terminal chat: each question one line
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(e.startswith(f"error: {down} (") for e in errors)
    unreachable = f"cannot reach the Chroma server at {chroma_server.url}"
    _one_error_line(_cli("assistant", "ask", QUESTION), unreachable)
    _one_error_line(_cli("index", "ingest", str(SAMPLES)), unreachable)

    chroma_server.start()  # same port, same data: the same chain answers again
    *_, (messages, exchanges, _) = session.ask(chain, "And how many were police?", exchanges)
    assert [e.complete for e in exchanges] == [True, True]
    assert "newsqa-error" not in messages[-1]["content"]
    assert api_ask(QUESTION, "", "")["citations"]
    report, *_ = upload([received_upload(page, new_story)], "")
    assert "newsqa-error" not in report
    assert _contents(settings)[0][0] == 3


@pytest.mark.slow
def test_an_upload_embedded_with_another_model_is_one_message_and_changes_nothing(
    settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    _indexed(settings, embeddings)
    before = _contents(settings)
    assert before[2] == MODEL_NAME
    other = CountingEmbeddings(embeddings.inner)
    other.name = "other/model-v2"
    chain = build_chain(settings, llm=RecordingChatModel(), embeddings=other)
    page = build_page(chain, settings)
    upload = _handler(page, "upload")
    new_story = tmp_path / "bridge.txt"
    new_story.write_text(story(3), encoding="utf-8")

    report, *_ = upload([received_upload(page, new_story)], "")
    assert 'class="newsqa-error"' in report
    assert f"embedded with {MODEL_NAME}, not other/model-v2" in report
    assert other.texts == 0 and _contents(settings) == before
    # and no copy is kept that a user would take for an ingested upload
    assert not list((settings.data_dir / "uploads").rglob("bridge*"))

    # The CLI, when the catalog records another model than the one it loads.
    collection = NewsCollection(settings)
    collection.catalog.set_meta("embedding_model", "other/model-v2")
    collection.close()
    done = _cli("index", "ingest", str(new_story), "--json")
    _one_error_line(done, f"embedded with other/model-v2, not {MODEL_NAME}")
    assert _contents(settings) == (before[0], before[1], "other/model-v2")


@pytest.mark.slow
def test_a_damaged_catalog_is_one_line_naming_the_file(
    settings: Settings, embeddings: CountingEmbeddings
) -> None:
    _indexed(settings, embeddings)
    path = catalog_path(settings, settings.collection)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is no longer a database\n" * 200)
    _one_error_line(_cli("index", "stats"), f"the catalog {path} cannot be used")
    chain = build_chain(settings, llm=RecordingChatModel(echo=True), embeddings=embeddings)
    *_, (messages, exchanges, _) = session.ask(chain, QUESTION, [])
    shown = render.text(f"the catalog {path} cannot be used: file is not a database")
    assert shown in messages[-1]["content"]
    assert exchanges == []


@pytest.mark.slow  # SQLite waits 5 s for the lock
def test_a_catalog_locked_past_the_timeout_fails_the_ingest_cleanly_then_it_works(
    collection: NewsCollection, tmp_path: Path
) -> None:
    articles = [tmp_path / f"{n}.txt" for n in range(2)]
    for n, file in enumerate(articles):
        file.write_text(story(n), encoding="utf-8")
    ingest(collection, articles[:1], progress=False)
    before = collection.catalog.counts(), collection.vector_count()
    path = catalog_path(collection.settings, collection.name)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go
    with pytest.raises(StoreError, match=f"the catalog {path} .*locked"):
        ingest(collection, articles, progress=False)
    holder.execute("ROLLBACK")
    holder.close()
    assert (collection.catalog.counts(), collection.vector_count()) == before
    report = ingest(collection, articles, progress=False)
    assert report.added == 1 and collection.problems() == []
