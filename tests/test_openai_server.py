"""Integration: the chain over an OpenAI-compatible server (``NEWSQA_LLM=openai:MODEL``).

The server is llama-cpp-python's own (``python -m llama_cpp.server``) on 127.0.0.1
with the default GGUF: the same model as in-process, reached through ``ChatOpenAI``.
The refusal check must read a probability from the server's logprobs, not a bare
yes/no, and agree with the in-process model's."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from assistant import NewsQA, build_chain
from assistant.model_files import MODELS, ensure_model
from index.collection import NewsCollection
from index.ingest import ingest
from settings import get_settings
from tests.conftest import SAMPLES

pytestmark = [pytest.mark.llm, pytest.mark.slow]
CANDIDATE = str(SAMPLES / "002_1edb485b8cb994a6.txt")
ALIAS = "qwen2.5-1.5b"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = get_settings()
    model = ensure_model(MODELS[ALIAS], settings.model_cache_dir, progress=False)
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--model_alias",
                ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                str(settings.llm_ctx),
                "--n_threads",  # its default is half the cores
                str(os.cpu_count() or 1),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start: " + log.read_text()[-2000:]
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def chains(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[NewsQA, NewsQA]]:
    settings = get_settings().model_copy(
        update={"data_dir": tmp_path_factory.mktemp("openai") / "state"}
    )
    collection = NewsCollection(settings, create=True)
    ingest(collection, [SAMPLES], progress=False)
    remote = settings.model_copy(update={"llm": f"openai:{ALIAS}", "openai_base_url": server_url})
    yield build_chain(remote, progress=False), build_chain(settings, progress=False)
    collection.close()


def test_answers_through_the_server(chains: tuple[NewsQA, NewsQA]) -> None:
    remote, _ = chains
    answer = remote.invoke("Which would-be mayoral candidate was killed in Oaxaca?")
    print(f"\nA: {answer.answer} confidence={answer.confidence:.3f} {answer.timings}")
    assert not answer.refused and "Ivonne Gallegos" in answer.answer
    assert CANDIDATE in [c.article_id for c in answer.citations]
    assert all(c.quote for c in answer.citations)
    assert answer.timings.ttft_s is not None  # streamed (this server sends no token usage)


def test_refusal_check_reads_the_servers_logprobs(chains: tuple[NewsQA, NewsQA]) -> None:
    remote, local = chains
    for question in (
        "How many officers died in the Coatepec Harinas ambush?",
        "What is the capital of Australia?",
    ):
        far, near = remote.invoke(question), local.invoke(question)
        print(f"\n{question}: server {far.confidence:.4f}, in-process {near.confidence:.4f}")
        assert far.confidence is not None and near.confidence is not None
        assert 0.0 < far.confidence < 1.0  # a probability, not a yes/no read as 1 or 0
        assert far.confidence == pytest.approx(near.confidence, abs=0.05)
        assert far.refused == near.refused
