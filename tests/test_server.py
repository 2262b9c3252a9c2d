"""Scale-out: the same ingest and queries against a real `chroma run` server on loopback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import chromadb
import pytest

from tests.conftest import ROOT, SAMPLES
from tests.services import ChromaServer, free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_ingest_and_query_through_a_chroma_server(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    env = {**os.environ, "NEWSQA_CHROMA_URL": chroma_server.url}
    done = subprocess.run(
        [sys.executable, "-m", "index", "ingest", str(SAMPLES), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 2

    # The vectors live in the server, not in the local data dir.
    assert not (Path(os.environ["NEWSQA_DATA_DIR"]) / "chroma").exists()
    server = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port)
    stored = server.get_collection("news")
    assert stored.count() == json.loads(done.stdout)["chunks"]

    from index.collection import NewsCollection
    from index.embeddings import load_embeddings
    from settings import get_settings

    settings = get_settings().model_copy(update={"chroma_url": chroma_server.url})
    collection = NewsCollection(settings, embeddings=load_embeddings())
    top = collection.vector_store().similarity_search("Who was the mayoral candidate shot?", k=1)
    assert top[0].metadata["article_id"] == str(SAMPLES / "002_1edb485b8cb994a6.txt")
    assert collection.problems() == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "NEWSQA_CHROMA_URL": f"http://127.0.0.1:{free_port()}"}
    done = subprocess.run(
        [sys.executable, "-m", "index", "stats"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot reach the Chroma server at http://127.0.0.1:")
    assert "Traceback" not in done.stderr
