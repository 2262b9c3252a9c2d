"""The MCP tools and resource through the official SDK's client, over streamable HTTP (a
real server on loopback, in a thread) and over stdio (``python -m assistant mcp`` in a
subprocess), with the sample articles and the fake model."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from langchain_core.embeddings import Embeddings
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from assistant import NewsQA
from assistant.fake import RecordingChatModel
from assistant.public_ids import shown_answer
from assistant.server import api_app
from tests.conftest import ROOT, SAMPLES
from tests.served import ingest_samples, sample_chain, sample_settings, serving

AMBUSH = "How many officers died in the Coatepec Harinas ambush?"


class Served:
    def __init__(self, chain: NewsQA, llm: RecordingChatModel, url: str) -> None:
        self.chain, self.llm, self.url = chain, llm, url


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, real_embeddings: Embeddings
) -> Iterator[Served]:
    settings = sample_settings(tmp_path_factory.mktemp("mcp") / "data")
    llm = RecordingChatModel(echo=True)
    chain = sample_chain(settings, real_embeddings, llm)
    with serving(api_app(chain)) as url:
        yield Served(chain, llm, url)


def over_http(served: Served, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    async def main() -> list[Any]:
        async with Client(f"{served.url}/mcp") as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(main)


def test_the_tools_and_their_schemas(served: Served) -> None:
    async def main() -> Any:
        async with Client(f"{served.url}/mcp") as client:
            return (await client.list_tools()).tools, await client.list_resource_templates()

    tools, templates = anyio.run(main)
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"answer_question", "search_articles"}
    answer_schema = by_name["answer_question"].output_schema
    assert answer_schema is not None and "citations" in answer_schema["properties"]
    assert set(by_name["search_articles"].input_schema["properties"]) >= {
        "query",
        "collection",
        "published_from",
        "published_to",
        "source",
        "limit",
    }
    uris = [t.uri_template for t in templates.resource_templates]
    assert uris == ["newsqa://articles/{collection}/{article_id}"]


def test_answer_question_gives_the_answer_and_its_citations(served: Served) -> None:
    expected = shown_answer(served.chain.invoke(AMBUSH), served.chain.settings.data_dir)
    # A file's id tells nothing of the server's folders (assistant/public_ids.py).
    assert expected.retrieved[0] == f"data-{_digest(SAMPLES)}/000_529f16d631959521.txt"
    (result,) = over_http(served, ("answer_question", {"question": AMBUSH}))
    assert not result.is_error
    data = result.structured_content
    assert data["answer"] == expected.answer and "[1]" in data["answer"]
    assert data["refused"] is False and data["retrieved"] == expected.retrieved
    assert data["citations"] == [c.model_dump(mode="json") for c in expected.citations]
    text = result.content[0].text
    assert text.startswith(expected.answer) and f"[1] {expected.citations[0].title}" in text


def test_search_articles_is_retrieval_only_and_links_the_text(served: Served) -> None:
    prompts = len(served.llm.prompts)
    started = time.perf_counter()
    (result,) = over_http(
        served, ("search_articles", {"query": "Oaxaca mayoral candidate shot", "limit": 1})
    )
    elapsed = time.perf_counter() - started
    assert not result.is_error and len(served.llm.prompts) == prompts  # no model
    assert elapsed < 5  # a session, an embedding and two searches; no generation
    (hit,) = result.structured_content["articles"]
    assert hit["title"].startswith("Mexican officials condemned the killing")
    assert hit["published"] == "2021-03-23" and hit["passages"]
    assert "Ivonne Gallegos" in " ".join(hit["passages"])

    async def read() -> Any:
        async with Client(f"{served.url}/mcp") as client:
            return await client.read_resource(hit["resource"])

    assert not hit["article_id"].startswith("/") and "/work" not in hit["resource"]
    article = served.chain.article(str(SAMPLES / hit["article_id"].split("/")[1]))
    assert article is not None
    assert anyio.run(read).contents[0].text == article.text


def test_filters_and_errors_are_the_tools_own(served: Served) -> None:
    dated, unknown, blank, answered = over_http(
        served,
        ("search_articles", {"query": "ambush", "published_to": "2021-03-20"}),
        ("answer_question", {"question": AMBUSH, "collection": "no-such-one"}),
        ("answer_question", {"question": "   "}),
        ("answer_question", {"question": AMBUSH}),
    )
    assert {a["published"] for a in dated.structured_content["articles"]} == {"2021-03-19"}
    assert unknown.is_error and "there is no collection 'no-such-one'" in unknown.content[0].text
    assert blank.is_error and "the question is empty" in blank.content[0].text
    assert not answered.is_error  # the server goes on

    async def missing() -> Exception:
        async with Client(f"{served.url}/mcp") as client:
            try:
                await client.read_resource("newsqa://articles/news/no%2Fsuch%2Farticle")
            except MCPError as error:
                return error
        raise AssertionError("a missing article was read")

    assert "no article 'no/such/article'" in str(anyio.run(missing))


def test_a_key_guards_mcp_over_http(tmp_path: Path, real_embeddings: Embeddings) -> None:
    settings = sample_settings(tmp_path / "data", api_key="sekret")
    chain = sample_chain(settings, real_embeddings, RecordingChatModel(echo=True))
    hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    with serving(api_app(chain)) as url:
        refused = httpx.post(f"{url}/mcp", json=hello, headers={"Authorization": "Bearer no"})
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.json()["error"]["message"].startswith("invalid API key")

        async def main() -> Any:
            headers = {"Authorization": "Bearer sekret"}
            async with httpx2.AsyncClient(headers=headers) as http:
                transport = streamable_http_client(f"{url}/mcp", http_client=http)
                async with Client(transport) as client:
                    return await client.call_tool("search_articles", {"query": "ambush"})

        assert not anyio.run(main).is_error


@pytest.mark.slow
def test_stdio_server_answers_searches_and_reads(
    tmp_path: Path, real_embeddings: Embeddings
) -> None:
    settings = sample_settings(tmp_path / "data")
    ingest_samples(settings, real_embeddings)
    env = {
        "NEWSQA_DATA_DIR": str(settings.data_dir),
        "NEWSQA_LLM": "fake",
        "NEWSQA_COLLECTION": "news",
        "HF_HUB_OFFLINE": "1",
        "PATH": os.environ.get("PATH", ""),
    }
    process = StdioServerParameters(
        command=sys.executable, args=["-m", "assistant", "mcp"], env=env, cwd=ROOT
    )

    async def main() -> tuple[Any, Any, Any]:
        async with Client(process, read_timeout_seconds=120) as client:
            answer = await client.call_tool("answer_question", {"question": AMBUSH})
            found = await client.call_tool("search_articles", {"query": "Coatepec Harinas"})
            (ambush,) = [
                a
                for a in found.structured_content["articles"]
                if a["title"].startswith("13 law enforcement")
            ]
            return answer, found, await client.read_resource(ambush["resource"])

    answer, found, article = anyio.run(main)
    assert not answer.is_error and "[1]" in answer.structured_content["answer"]
    assert answer.structured_content["citations"][0]["quote"]
    assert len(found.structured_content["articles"]) == 2
    assert "Coatepec Harinas" in article.contents[0].text


def _digest(folder: Path) -> str:
    return hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]
