"""The chain as a LangChain ``Runnable``: async streaming, tracing, schemas, composition,
and the retriever on its own. Scripted model; real Chroma, embeddings and prompts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import RunnableConfig, RunnableLambda

from assistant import Answer, Filters, NewsQA, Question, build_chain
from assistant.errors import ServerUnreachable
from assistant.fake import RecordingChatModel, ScriptedChatModel
from assistant.retrieval import HybridRetriever
from index.collection import NewsCollection
from settings import Settings
from tests.conftest import SAMPLES, CountingEmbeddings

AMBUSH = str(SAMPLES / "000_529f16d631959521.txt")
QUESTION = "How many officers died in the Coatepec Harinas ambush?"
REPLY = "Eight police officers and five representatives of the state prosecutor's office died [1]."


def _chain(
    settings: Settings, embeddings: CountingEmbeddings, *replies: str, llm: Any = None
) -> NewsQA:
    llm = llm or RecordingChatModel(replies=list(replies))
    # The reply as checked, without the date an answer from older news adds (the 2021
    # samples asked today): that is test_chain's.
    settings = settings.model_copy(update={"stale_days": 0})
    return build_chain(settings, llm=llm, embeddings=embeddings)


class SlowModel(RecordingChatModel):
    """Blocks its thread for a while per word, as a model on a busy CPU does."""

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in super()._stream(messages, stop, run_manager, **kwargs):
            time.sleep(0.05)
            yield chunk


class UnreachableModel(ScriptedChatModel):
    """A model behind a server that is down for its first ``failures`` requests."""

    failures: int = 1

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if "logprobs" not in kwargs and self.failures > 0:
            self.failures -= 1
            raise ConnectionError("connection refused")
        yield from super()._stream(messages, stop, run_manager, **kwargs)


class Recorder(BaseCallbackHandler):
    """What a tracer sees: (event, name, run_id, parent_run_id, tags, metadata)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, UUID, UUID | None, list[str], dict[str, Any]]] = []
        self.tokens: list[str] = []
        self.outputs: list[Any] = []

    def _add(self, event: str, serialized: Any, kwargs: dict[str, Any]) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name", "")
        self.events.append(
            (
                event,
                name,
                kwargs["run_id"],
                kwargs.get("parent_run_id"),
                kwargs.get("tags") or [],
                kwargs.get("metadata") or {},
            )
        )

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self._add("chain_start", serialized, kwargs)

    def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        self.outputs.append(outputs)

    def on_retriever_start(self, serialized: Any, query: str, **kwargs: Any) -> None:
        self._add("retriever_start", serialized, kwargs)

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self._add("chat_model_start", serialized, kwargs)

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        self.tokens.append(str(token))


def test_astream_yields_the_same_parts_as_stream(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = _chain(settings, embeddings, REPLY, REPLY)
    streamed = list(chain.stream(QUESTION))

    async def collect() -> list[Any]:
        return [part async for part in chain.astream(QUESTION)]

    parts = asyncio.run(collect())
    assert len(parts) > 5 and all(isinstance(p, str) for p in parts[:-1])
    assert "".join(parts[:-1]) == REPLY
    assert parts[:-1] == streamed[:-1]
    final, expected = parts[-1], streamed[-1]
    assert isinstance(final, Answer) and isinstance(expected, Answer)
    assert final.citations[0].article_id == AMBUSH
    assert final.model_dump(exclude={"timings"}) == expected.model_dump(exclude={"timings"})
    assert final.timings.ttft_s is not None and final.timings.prompt_tokens > 50


def test_astream_of_a_refusal_yields_the_refusal_text_then_the_answer(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = _chain(settings, embeddings, llm=RecordingChatModel(confidence=0.1))

    async def collect() -> list[Any]:
        return [part async for part in chain.astream(QUESTION)]

    text, answer = asyncio.run(collect())
    assert text == "The indexed articles don't say."
    assert isinstance(answer, Answer) and answer.refused and answer.confidence == 0.1


def test_ainvoke_and_abatch_keep_the_event_loop_running(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = _chain(settings, embeddings, llm=SlowModel(replies=[REPLY, REPLY, REPLY]))

    async def answer_while_ticking() -> tuple[Answer, list[Any], int, float]:
        ticks = 0
        done = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        answer = await chain.ainvoke(QUESTION)
        both = await chain.abatch(["How many officers died?", "Who died in the ambush?"])
        elapsed = time.perf_counter() - started
        done.set()
        await ticker
        return answer, both, ticks, elapsed

    answer, both, ticks, elapsed = asyncio.run(answer_while_ticking())
    assert answer.answer == REPLY and all(not a.refused for a in both)
    # Each answer's 15 pieces block a thread for 50 ms each: a blocked loop would not
    # tick in that time at all; a free one ticks every ~10 ms.
    assert elapsed > 1.5
    assert ticks > elapsed / 0.01 * 0.5


def test_astream_events_show_one_run_tree_with_tokens(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = _chain(settings, embeddings, REPLY)
    config: RunnableConfig = {"run_name": "news", "tags": ["desk"], "metadata": {"user": "ana"}}

    async def collect() -> list[Any]:
        return [e async for e in chain.astream_events(QUESTION, config, version="v2")]

    events = asyncio.run(collect())
    kinds = [e["event"] for e in events]
    assert kinds[0] == "on_chain_start" and kinds[-1] == "on_chain_end"
    root = events[0]["run_id"]
    assert events[0]["name"] == events[-1]["name"] == "news"
    assert events[0]["data"]["input"] == QUESTION
    final = events[-1]["data"]["output"]
    assert isinstance(final, Answer) and final.answer == REPLY
    for kind in ("on_retriever_start", "on_retriever_end", "on_chat_model_start"):
        assert kind in kinds
    tokens = [e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"]
    assert "".join(tokens) == REPLY
    streamed = [e["data"]["chunk"] for e in events if e["event"] == "on_chain_stream"]
    assert "".join(p for p in streamed if isinstance(p, str)) == REPLY
    assert isinstance(streamed[-1], Answer)
    for event in events:
        assert event["parent_ids"] in ([], [root])
        assert "desk" in event["tags"] and event["metadata"]["user"] == "ana"


def test_a_callback_handler_sees_the_run_with_config(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = _chain(settings, embeddings, REPLY)
    recorder = Recorder()
    answer = chain.with_config(run_name="news", tags=["desk"], metadata={"user": "ana"}).invoke(
        QUESTION, {"callbacks": [recorder]}
    )
    (kind, name, root, parent, tags, metadata), *children = recorder.events
    assert (kind, name, parent) == ("chain_start", "news", None)
    assert "desk" in tags and metadata["user"] == "ana"
    assert {c[0] for c in children} >= {"retriever_start", "chat_model_start"}
    assert all(c[3] == root and "desk" in c[4] for c in children)
    assert "".join(recorder.tokens) == REPLY
    assert recorder.outputs[-1] == answer


def test_the_check_of_a_model_behind_a_server_is_a_traced_run(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = _chain(settings, embeddings, llm=ScriptedChatModel(replies=[REPLY], confidence=0.9))
    recorder = Recorder()
    answer = chain.invoke(QUESTION, {"callbacks": [recorder]})
    names = [e[1] for e in recorder.events if e[0] == "chat_model_start"]
    assert names == ["answerability_check", "ScriptedChatModel"]
    assert answer.confidence == pytest.approx(0.9) and answer.answer == REPLY


def test_schemas_describe_the_input_and_the_streamed_parts(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = _chain(settings, embeddings)
    inputs = chain.get_input_jsonschema()
    kinds = [option.get("type") or option.get("$ref") for option in inputs["anyOf"]]
    assert "string" in kinds and any("Question" in str(k) for k in kinds)
    assert "history" in inputs["$defs"]["Question"]["properties"]
    outputs = chain.get_output_jsonschema()
    kinds = [option.get("type") or option.get("$ref") for option in outputs["anyOf"]]
    assert "string" in kinds and any("Answer" in str(k) for k in kinds)
    assert "citations" in outputs["$defs"]["Answer"]["properties"]
    parsed: Any = chain.input_schema.model_validate({"question": "Who?"})  # type: ignore[union-attr]
    assert parsed.root == Question(question="Who?")


def test_the_chain_composes_for_invoke_stream_and_astream(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = _chain(settings, embeddings, REPLY, REPLY, REPLY)
    text_only = chain | RunnableLambda(lambda a: a.answer)
    assert text_only.invoke(QUESTION) == REPLY
    assert list(text_only.stream(QUESTION)) == [REPLY]

    async def collect() -> list[Any]:
        return [part async for part in text_only.astream(QUESTION)]

    assert asyncio.run(collect()) == [REPLY]


def test_with_retry_asks_again_after_a_server_error(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    llm = UnreachableModel(replies=[REPLY])
    chain = _chain(settings, embeddings, llm=llm)
    with pytest.raises(ServerUnreachable):
        chain.invoke(QUESTION)
    llm.failures = 1
    retried = chain.with_retry(
        retry_if_exception_type=(ServerUnreachable,),
        stop_after_attempt=2,
        wait_exponential_jitter=False,
    )
    answer = retried.invoke(QUESTION)
    assert isinstance(answer, Answer) and answer.answer == REPLY


def test_with_fallbacks_answers_from_the_fallback_chain(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    down = _chain(settings, embeddings, llm=UnreachableModel(failures=5))
    backup = _chain(settings, embeddings, REPLY, REPLY)
    chain = down.with_fallbacks([backup], exceptions_to_handle=(ServerUnreachable,))
    answer = chain.invoke(QUESTION)
    assert isinstance(answer, Answer) and answer.answer == REPLY

    async def answer_async() -> Any:
        return await chain.ainvoke(QUESTION)

    assert asyncio.run(answer_async()).answer == REPLY


def test_the_retriever_works_on_its_own(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    retriever = HybridRetriever.for_collection(indexed)
    docs = retriever.invoke("Coatepec Harinas ambush officers")
    assert isinstance(docs[0], Document) and docs[0].metadata["article_id"] == AMBUSH
    meta = docs[0].metadata
    article = indexed.catalog.get_article(AMBUSH)
    assert article is not None
    assert article.text[meta["start"] : meta["end"]] == docs[0].page_content
    assert meta["title"] and meta["published"] == "2021-03-19"
    assert retriever.invoke("officers", filters=Filters(source="Reuters")) == []

    # The chain's own retriever, in another LangChain chain.
    def article_ids(docs: list[Document]) -> list[str]:
        return [d.metadata["article_id"] for d in docs]

    ids = _chain(settings, embeddings).retriever() | RunnableLambda(article_ids)
    assert ids.invoke("Oaxaca mayoral candidate")[0] == str(SAMPLES / "002_1edb485b8cb994a6.txt")
