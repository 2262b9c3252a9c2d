"""Integration: the chain over an OpenAI-compatible server (``NEWSQA_LLM=openai:MODEL``).

The server is llama-cpp-python's own (``python -m llama_cpp.server``) on 127.0.0.1
with the default GGUF (the ``llama_server`` fixture, shared with other modules): the
same model as in-process, reached through ``ChatOpenAI``.
The refusal check must read a probability from the server's logprobs, not a bare
yes/no, and agree with the in-process model's."""

from collections.abc import Iterator

import pytest

from assistant import NewsQA, build_chain
from index.collection import NewsCollection
from index.ingest import ingest
from settings import get_settings
from tests.conftest import SAMPLES

pytestmark = [pytest.mark.llm, pytest.mark.slow]
CANDIDATE = str(SAMPLES / "002_1edb485b8cb994a6.txt")
ALIAS = "qwen2.5-1.5b"


@pytest.fixture(scope="module")
def chains(
    llama_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[NewsQA, NewsQA]]:
    settings = get_settings().model_copy(
        update={"data_dir": tmp_path_factory.mktemp("openai") / "state"}
    )
    collection = NewsCollection(settings, create=True)
    ingest(collection, [SAMPLES], progress=False)
    remote = settings.model_copy(update={"llm": f"openai:{ALIAS}", "openai_base_url": llama_server})
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
