"""The model is created once however many threads ask first, and a stream that its
consumer stops frees the model for the next generation at once."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr

from assistant import Answer, build_chain, builder, llamacpp
from assistant.chain import QuestionInput
from assistant.fake import RecordingChatModel
from assistant.llamacpp import LlamaCppChat
from index.collection import NewsCollection
from settings import Settings
from tests.conftest import CountingEmbeddings

QUESTION = "How many officers died in the Coatepec Harinas ambush?"
REPLY = "Eight police officers and five staff of the prosecutor's office died [1]."


def test_batch_on_a_chain_without_its_model_creates_it_once(
    indexed: NewsCollection,
    settings: Settings,
    embeddings: CountingEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[int] = []

    def slow_model(settings: Settings, progress: bool) -> BaseChatModel:
        created.append(threading.get_ident())
        time.sleep(0.3)  # as assembling and loading take: every thread arrives meanwhile
        return RecordingChatModel(echo=True)

    monkeypatch.setattr(builder, "get_chat_model", slow_model)
    chain = build_chain(settings, embeddings=embeddings)
    assert not chain.llm_loaded
    questions: list[QuestionInput] = [
        QUESTION,
        "Who was killed in Oaxaca?",
        "Who died in the ambush?",
        "Where?",
    ]
    answers = chain.batch(questions, config={"max_concurrency": 4})
    assert len(created) == 1 and chain.llm_loaded
    assert [type(a) for a in answers] == [Answer] * 4


def test_threads_loading_the_llamacpp_model_at_once_share_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    constructed: list[str] = []

    class SlowLoaded:
        def __init__(self, path: str, n_ctx: int, n_threads: int) -> None:
            constructed.append(path)
            time.sleep(0.3)
            self.llama = SimpleNamespace(close=lambda: None)

    monkeypatch.setattr(llamacpp, "_Loaded", SlowLoaded)
    monkeypatch.setattr(llamacpp, "_LOADED", {})
    model = LlamaCppChat(model_path="model.gguf", n_threads=2)
    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda _: llamacpp._load(model.model_path, 2048, 2), range(4)))
    assert constructed == ["model.gguf"]
    assert all(one is loaded[0] for one in loaded)
    model.load()  # the same settings: the same model
    assert constructed == ["model.gguf"]


class _LockingModel(RecordingChatModel):
    """Holds a lock while it streams, as LlamaCppChat holds its model's."""

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if not self._lock.acquire(timeout=5):
            raise AssertionError("the model is still held by a stopped stream")
        try:
            yield from super()._stream(messages, stop, run_manager, **kwargs)
        finally:
            self._lock.release()

    @property
    def held(self) -> bool:
        return self._lock.locked()


def _stopped_after_first_token(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> tuple[Any, _LockingModel, Iterator[str | Answer]]:
    llm = _LockingModel(replies=[REPLY, REPLY])
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    parts = chain.stream(QUESTION)
    for part in parts:
        assert isinstance(part, str)
        break
    assert llm.held
    return chain, llm, parts


def test_closing_a_stopped_stream_frees_the_model_at_once(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, llm, parts = _stopped_after_first_token(indexed, settings, embeddings)
    parts.close()  # type: ignore[attr-defined]  # what Gradio's Stop and a disconnect do
    assert not llm.held
    assert chain.invoke(QUESTION).answer.startswith("Eight police officers")


def test_a_stream_stopped_in_one_thread_and_closed_in_another_frees_the_model(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    llm = _LockingModel(replies=[REPLY, REPLY])
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    parts = chain.stream(QUESTION)
    with ThreadPoolExecutor(1) as pool:
        assert isinstance(pool.submit(next, parts).result(timeout=60), str)
        assert llm.held
        parts.close()  # type: ignore[attr-defined]
        later = pool.submit(chain.invoke, QUESTION).result(timeout=60)
    assert later.answer.startswith("Eight police officers")


def test_dropping_a_stopped_stream_frees_the_model(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    # CPython closes a generator when its last reference goes; one still referenced
    # (kept in a list, caught in a reference cycle) holds the model until closed.
    chain, llm, parts = _stopped_after_first_token(indexed, settings, embeddings)
    del parts
    assert not llm.held
    assert chain.invoke(QUESTION).answer.startswith("Eight police officers")


class _FakeLlama:
    """llama-cpp's Llama, as much of it as LlamaCppChat's generation uses."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ended_holding_lock: list[bool] = []

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        return list(range(len(text.split())))

    def create_completion(self, tokens: list[int], **kwargs: Any) -> Iterator[dict[str, Any]]:
        try:
            for word in ["Thirteen", " officers", " died."]:
                yield {"choices": [{"text": word}]}
        finally:
            self.ended_holding_lock.append(self.lock.locked())


def test_closing_a_llamacpp_stream_ends_the_completion_then_frees_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llama = _FakeLlama()
    rendered = SimpleNamespace(prompt="Who died?", added_special=False, stop=None)
    loaded = SimpleNamespace(llama=llama, formatter=lambda messages: rendered, lock=llama.lock)
    monkeypatch.setattr(llamacpp, "_LOADED", {("model.gguf", 2048, 2): loaded})
    model = LlamaCppChat(model_path="model.gguf", n_threads=2)
    stream = model.stream("Who died?")
    assert next(stream).content == "Thirteen" and llama.lock.locked()
    stream.close()  # type: ignore[attr-defined]
    assert llama.ended_holding_lock == [True] and not llama.lock.locked()
    assert model.invoke("Who died?").content == "Thirteen officers died."
