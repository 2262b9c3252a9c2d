"""The OpenAI-compatible API (``/v1``) against real clients: the ``openai`` package,
LangChain's ``ChatOpenAI``, raw HTTP. One real server per module (uvicorn on loopback in
a thread) over the sample articles, with the recording fake model; a wrapper records
the questions the chain is asked."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from assistant import Answer, Filters, NewsQA, Question, Turn, build_chain
from assistant.fake import RecordingChatModel
from assistant.openai_api import same_words
from assistant.openai_types import ChatRequest, to_question
from assistant.public_ids import shown_answer, stored_id
from assistant.server import api_app
from tests.served import ingest_samples, sample_chain, sample_settings, serving

AMBUSH = "How many officers died in the Coatepec Harinas ambush?"
QUESTIONS = [
    AMBUSH,
    "Which would-be mayoral candidate was shot dead in her car in Oaxaca?",
    "Which consultancy firm released a report about those killings?",
    "What did security analyst Alejandro Hope say about attacks on agents of the state?",
]


class Served:
    def __init__(self, chain: NewsQA, llm: RecordingChatModel, url: str) -> None:
        self.chain, self.llm, self.url = chain, llm, url
        self.client = openai.OpenAI(base_url=f"{url}/v1", api_key="anything", max_retries=0)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, real_embeddings: Embeddings
) -> Iterator[Served]:
    settings = sample_settings(tmp_path_factory.mktemp("openai-api") / "data")
    llm = RecordingChatModel(echo=True)
    chain = sample_chain(settings, real_embeddings, llm)
    with serving(api_app(chain)) as url:
        yield Served(chain, llm, url)


def newsqa_field(response: Any) -> dict[str, Any]:
    """The ``newsqa`` extension of a completion or chunk, as the openai client keeps it."""
    extra = response.model_extra
    assert extra is not None
    return dict(extra["newsqa"])


def ask(served: Served, question: str, **kwargs: Any) -> Any:
    return served.client.chat.completions.create(
        model="newsqa", messages=[{"role": "user", "content": question}], **kwargs
    )


def test_models_are_newsqa_and_the_collections(served: Served) -> None:
    assert [m.id for m in served.client.models.list()] == ["newsqa", "news"]
    assert served.client.models.retrieve("news").owned_by == "newsqa"
    with pytest.raises(openai.NotFoundError):
        served.client.models.retrieve("no-such-collection")


def test_health_is_ok_when_the_catalog_and_the_store_answer(
    served: Served, tmp_path: Path, real_embeddings: Embeddings
) -> None:
    reply = httpx.get(f"{served.url}/healthz", timeout=30)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "collection": "news"}
    # A replica whose collection is not made yet is up: its stores answered.
    empty = build_chain(
        sample_settings(tmp_path / "empty", collection="later"),
        llm=RecordingChatModel(),
        embeddings=real_embeddings,
        progress=False,
    )
    with serving(api_app(empty)) as url:
        reply = httpx.get(f"{url}/healthz", timeout=30)
    assert reply.status_code == 200 and reply.json()["collection"] == "not created yet"


def test_an_answer_keeps_its_markers_and_carries_citations_and_usage(served: Served) -> None:
    expected = shown_answer(served.chain.invoke(AMBUSH), served.chain.settings.data_dir)
    response = ask(served, AMBUSH)
    text = response.choices[0].message.content
    assert text == expected.answer and "[1]" in text
    assert response.choices[0].finish_reason == "stop"
    extension = newsqa_field(response)
    assert extension["refused"] is False and extension["confidence"] == 1.0
    assert extension["retrieved"] == expected.retrieved
    cited = extension["citations"][0]
    assert cited["n"] == 1 and cited["title"] == expected.citations[0].title
    assert cited["published"] == "2021-03-19" and "url" in cited
    # The offsets point into the article's text, where the quote is.
    catalog, data_dir = served.chain.retriever().catalog, served.chain.settings.data_dir
    article = served.chain.article(str(stored_id(cited["article_id"], catalog, data_dir)))
    assert article is not None and article.text[cited["start"] : cited["end"]] == cited["quote"]
    usage = response.usage
    assert usage.prompt_tokens > 100 and usage.completion_tokens > 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens == expected.timings.prompt_tokens


def test_streaming_sends_the_draft_then_the_checked_answer(served: Served) -> None:
    expected = shown_answer(served.chain.invoke(AMBUSH), served.chain.settings.data_dir)
    chunks = list(ask(served, AMBUSH, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finals) == 1
    extension = newsqa_field(finals[0])
    assert extension["answer"] == expected.answer
    assert extension["citations"] == [c.model_dump(mode="json") for c in expected.citations]
    # The fake model's draft differs from the checked answer only in where [1] stands:
    # flagged, and no second copy of the text.
    assert "Checked answer" not in text
    assert extension["draft_replaced"] == (text.strip() != expected.answer.strip())
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 5


def test_a_checked_answer_in_other_words_follows_the_draft(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def draft_then_refusal(question: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        yield "Fourteen officers died [2]."
        yield Answer(answer="The indexed articles don't say.", refused=True)

    monkeypatch.setattr(served.chain, "astream", draft_then_refusal)
    chunks = list(ask(served, AMBUSH, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Fourteen officers died [2].\n\nChecked answer: The indexed articles don't say."
    extension = newsqa_field(chunks[-1])
    assert extension["draft_replaced"] is True and extension["refused"] is True
    assert extension["answer"] == "The indexed articles don't say."


@pytest.fixture
def asked(served: Served, monkeypatch: pytest.MonkeyPatch) -> list[Question]:
    """The questions the chain is asked (non-streaming requests)."""
    seen: list[Question] = []
    ainvoke = served.chain.ainvoke

    async def recording(question: Question, *args: Any, **kwargs: Any) -> Any:
        seen.append(question)
        return await ainvoke(question, *args, **kwargs)

    monkeypatch.setattr(served.chain, "ainvoke", recording)
    return seen


def test_the_conversation_is_the_history(served: Served, asked: list[Question]) -> None:
    first = ask(served, AMBUSH).choices[0].message.content or ""
    served.client.chat.completions.create(
        model="newsqa",
        messages=[
            {"role": "system", "content": "You are helpful."},  # accepted, not used
            {"role": "user", "content": AMBUSH},
            {"role": "assistant", "content": first},
            {"role": "user", "content": [{"type": "text", "text": "Where was the convoy?"}]},
        ],
    )
    assert asked[-1].question == "Where was the convoy?"
    assert asked[-1].history == [
        Turn(role="user", content=AMBUSH),
        Turn(role="assistant", content=first),
    ]
    assert "You are helpful" not in str(served.llm.prompts[-1])


def test_newsqa_options_travel_in_extra_body(served: Served) -> None:
    before = ask(served, AMBUSH, extra_body={"newsqa": {"as_of": "2021-03-01"}})
    assert newsqa_field(before)["refused"] is True  # nothing was published yet
    assert newsqa_field(before)["retrieved"] == []
    other = ask(served, AMBUSH, extra_body={"newsqa": {"source": "No Such Outlet"}})
    assert newsqa_field(other)["retrieved"] == []
    named = served.client.chat.completions.create(
        model="news", messages=[{"role": "user", "content": AMBUSH}]
    )
    assert named.model == "news" and newsqa_field(named)["collection"] == "news"
    with pytest.raises(openai.BadRequestError, match=r"newsqa\.colection"):
        ask(served, AMBUSH, extra_body={"newsqa": {"colection": "news"}})


BAD_REQUESTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "empty messages": ({"messages": []}, 400, "messages"),
    "last not user": (
        {"messages": [{"role": "user", "content": AMBUSH}, {"role": "assistant", "content": "x"}]},
        400,
        "messages[1].role",
    ),
    "unknown role": (
        {"messages": [{"role": "wizard", "content": AMBUSH}]},
        400,
        "messages[0].role",
    ),
    "1 MB message": (
        {"messages": [{"role": "user", "content": "x" * 1_000_000}]},
        400,
        "messages[0].content",
    ),
    "blank question": (
        {"messages": [{"role": "user", "content": "  "}]},
        400,
        "messages[0].content",
    ),
    "image part": (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        400,
        "messages[0].content",
    ),
    "unknown collection": (
        {"model": "gpt-4o", "messages": [{"role": "user", "content": AMBUSH}]},
        404,
        "model",
    ),
    "two answers": ({"n": 2, "messages": [{"role": "user", "content": AMBUSH}]}, 400, "n"),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
@pytest.mark.parametrize("stream", [False, True])
def test_bad_requests_get_openai_errors_and_the_server_goes_on(
    served: Served, name: str, stream: bool
) -> None:
    body, status, param = BAD_REQUESTS[name]
    response = httpx.post(
        f"{served.url}/v1/chat/completions",
        json={"model": "newsqa", "stream": stream, **body},
        timeout=30,
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["message"]
    assert error["type"] == ("not_found_error" if status == 404 else "invalid_request_error")
    assert ask(served, AMBUSH).choices[0].message.content  # still serving


def test_malformed_json_and_the_openai_clients_errors(served: Served) -> None:
    broken = httpx.post(
        f"{served.url}/v1/chat/completions",
        content=b'{"model": "newsqa", "messages": [',
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError, match="question has 1,000,000 characters"):
        ask(served, "x" * 1_000_000)
    with pytest.raises(openai.NotFoundError, match="there is no collection 'gpt-4o'"):
        served.client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": AMBUSH}], stream=True
        )


def test_langchain_chat_openai_pointed_at_newsqa(served: Served, asked: list[Question]) -> None:
    chat = ChatOpenAI(
        model="newsqa", base_url=f"{served.url}/v1", api_key=SecretStr("x"), max_retries=0
    )
    expected = served.chain.invoke(AMBUSH)
    reply = chat.invoke(AMBUSH)
    assert reply.content == expected.answer
    assert reply.usage_metadata is not None and reply.usage_metadata["input_tokens"] > 100
    streamed = "".join(str(c.content) for c in chat.stream([HumanMessage(AMBUSH)]))
    assert same_words(streamed, expected.answer)
    chat.invoke([HumanMessage(AMBUSH), AIMessage(expected.answer), HumanMessage("Where was it?")])
    assert asked[-1].question == "Where was it?" and len(asked[-1].history) == 2


@pytest.mark.slow
def test_four_clients_at_once_get_their_own_answers_one_generation_at_a_time(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = {q: served.chain.invoke(q).answer for q in QUESTIONS}
    assert len(set(expected.values())) == len(QUESTIONS)  # the test can tell them apart
    active, most = [0], [0]
    lock = threading.Lock()
    reply = RecordingChatModel._reply

    def slow_reply(self: RecordingChatModel, messages: Any) -> str:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.3)  # long enough for the others to arrive and queue
        with lock:
            active[0] -= 1
        return reply(self, messages)

    monkeypatch.setattr(RecordingChatModel, "_reply", slow_reply)
    got: dict[str, str] = {}

    def client(question: str, stream: bool) -> None:
        if stream:
            parts = ask(served, question, stream=True)
            got[question] = newsqa_field([p for p in parts if p.choices][-1])["answer"]
        else:
            got[question] = ask(served, question).choices[0].message.content

    threads = [
        threading.Thread(target=client, args=(q, i % 2 == 1)) for i, q in enumerate(QUESTIONS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert got == expected
    assert most[0] == 1


@pytest.mark.slow
def test_a_request_that_arrives_while_the_model_loads_is_told_to_retry(
    tmp_path: Path, real_embeddings: Embeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_model(settings: Any, progress: bool = True) -> RecordingChatModel:
        time.sleep(2)  # the real model takes tens of seconds
        return RecordingChatModel(echo=True)

    monkeypatch.setattr("assistant.builder.get_chat_model", slow_model)
    settings = sample_settings(tmp_path / "data")
    ingest_samples(settings, real_embeddings)
    chain = build_chain(settings, embeddings=real_embeddings, progress=False)
    with serving(api_app(chain)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        first: dict[str, Any] = {}
        loading = threading.Thread(
            target=lambda: first.update(
                r=client.chat.completions.create(
                    model="newsqa", messages=[{"role": "user", "content": AMBUSH}]
                )
            )
        )
        loading.start()
        time.sleep(1)
        refused = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "newsqa", "messages": [{"role": "user", "content": AMBUSH}]},
        )
        loading.join(timeout=60)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "10"
        assert refused.json()["error"]["code"] == "model_loading"
        assert "[1]" in first["r"].choices[0].message.content
        assert "[1]" in (
            client.chat.completions.create(
                model="newsqa", messages=[{"role": "user", "content": AMBUSH}]
            )
            .choices[0]
            .message.content
            or ""
        )


def test_history_from_messages_is_the_chains_history() -> None:
    request = ChatRequest.model_validate(
        {
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1 [1]"},
                {"role": "user", "content": "q2"},
            ],
            "newsqa": {"as_of": "2021-03-20", "source": "CNN"},
        }
    )
    question = to_question(request, "news")
    assert question.question == "q2" and question.collection == "news"
    assert question.history == [
        Turn(role="user", content="q1"),
        Turn(role="assistant", content="a1 [1]"),
    ]
    assert question.as_of == date(2021, 3, 20)
    assert question.filters == Filters(source="CNN")
