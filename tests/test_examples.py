"""The README's embedding examples run as printed (scripted model, sample articles)."""

from __future__ import annotations

import json
import runpy

import pytest
from fastapi.testclient import TestClient

from index.collection import NewsCollection
from index.ingest import ingest
from settings import get_settings
from tests.conftest import ROOT, SAMPLES, CountingEmbeddings

EXAMPLE = ROOT / "examples" / "stream_fastapi.py"


def test_the_readme_shows_the_async_web_example_as_it_is() -> None:
    code = EXAMPLE.read_text(encoding="utf-8").split('"""', 2)[2].strip()
    assert code in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_async_web_example_streams_the_draft_then_the_answer(
    monkeypatch: pytest.MonkeyPatch, embeddings: CountingEmbeddings
) -> None:
    monkeypatch.setenv("NEWSQA_LLM", "fake")
    get_settings.cache_clear()
    collection = NewsCollection(get_settings(), embeddings=embeddings, create=True)
    ingest(collection, [SAMPLES], progress=False)
    collection.close()
    app = runpy.run_path(str(EXAMPLE))["app"]
    with TestClient(app) as client:
        reply = client.get("/answer", params={"q": "Who was killed in Oaxaca?"})
    assert reply.status_code == 200
    draft, answer_line = reply.text.rstrip("\n").rsplit("\n", 1)
    answer = json.loads(answer_line)
    assert draft.endswith("[1]") and not answer["refused"]
    assert answer["citations"][0]["article_id"].endswith("002_1edb485b8cb994a6.txt")
    assert answer["answer"].split(" [")[0] in draft
