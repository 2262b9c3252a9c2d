"""``NEWSQA_UI_CONCURRENCY``: one limit on generations across the chat, ``/ask``, ``/v1``
and MCP. Fast tests use a fake model that records how many generations run at once;
the ``llm`` test sends four ``/ask`` clients to ``python app.py`` over llama-cpp-python's
server and counts, between the two, how many model requests newsqa has in flight."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest
from gradio_client import Client as GradioClient
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from assistant.fake import RecordingChatModel
from assistant.public_ids import shown_id
from assistant.slot import GenerationSlot, generations
from index.errors import InvalidInput
from settings import Settings, get_settings
from tests.conftest import ROOT, SAMPLES, wait_until_up
from tests.served import sample_chain, sample_settings, serving
from tests.services import free_port
from ui.page import web_app

AMBUSH = "How many officers died in the Coatepec Harinas ambush?"


class MeetingModel(RecordingChatModel):
    """Echoes a cited sentence like its parent, but a generation that starts before
    ``meet`` have started waits (up to ``wait_s``) for the others: ``most`` records the
    most that ever ran at once, ``in_vain`` the waits that ran out. Counting starts, not
    generations running, keeps it deterministic when an answer takes more than one
    generation (the refusal check, then the answer): only the first ones wait."""

    meet: int = 2
    wait_s: float = 3.0
    most: int = 0
    in_vain: int = 0
    _running: int = PrivateAttr(default=0)
    _started: int = PrivateAttr(default=0)
    _changed: threading.Condition = PrivateAttr(default_factory=threading.Condition)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._changed:
            self._running += 1
            self._started += 1
            self.most = max(self.most, self._running)
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: self._started >= self.meet, timeout=self.wait_s):
                self.in_vain += 1
        try:
            yield from super()._stream(messages, stop, run_manager, **kwargs)
        finally:
            with self._changed:
                self._running -= 1


def test_a_concurrency_below_one_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSQA_UI_CONCURRENCY", "0")
    with pytest.raises(InvalidInput, match="NEWSQA_UI_CONCURRENCY='0'"):
        get_settings()
    with pytest.raises(InvalidInput, match="NEWSQA_UI_CONCURRENCY=-1"):
        generations(Settings(ui_concurrency=1).model_copy(update={"ui_concurrency": -1}))


def test_the_in_process_model_answers_one_at_a_time_whatever_the_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert Settings().ui_concurrency == 1
    served = Settings(llm="openai:qwen", ui_concurrency=4)
    assert generations(served) == 4 and capsys.readouterr().err == ""
    local = Settings(llm="llamacpp:qwen2.5-1.5b", ui_concurrency=4)
    assert generations(local) == 1
    assert "NEWSQA_UI_CONCURRENCY=4 is ignored" in capsys.readouterr().err


@contextmanager
def _web(tmp_path: Path, embeddings: Embeddings, model: MeetingModel, n: int) -> Iterator[str]:
    """``python app.py``'s app (``web_app``) in this process, with ``model``."""
    port = free_port()
    settings = sample_settings(tmp_path / "data", ui_concurrency=n, port=port)
    chain = sample_chain(settings, embeddings, model)
    with serving(web_app(chain, settings), port) as url:
        yield url


def _ask_both_ways(url: str) -> tuple[dict[str, Any], str]:
    """One question through Gradio's ``/ask`` and one through ``/v1``, at the same time."""
    gradio = GradioClient(f"{url}/", verbose=False)
    api = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)

    def completion() -> str:
        reply = api.chat.completions.create(
            model="newsqa", messages=[{"role": "user", "content": AMBUSH}]
        )
        return reply.choices[0].message.content or ""

    with ThreadPoolExecutor(1) as pool:
        via_api = pool.submit(completion)
        via_gradio = gradio.submit(AMBUSH, "", "", api_name="/ask")
        return via_gradio.result(timeout=120), via_api.result(timeout=120)


@pytest.mark.slow
def test_the_chat_and_the_api_share_one_generation_slot(
    tmp_path: Path, real_embeddings: Embeddings
) -> None:
    """With 1, a generation from ``/ask`` and one from ``/v1`` never overlap: the first
    waits in vain for the other (own slots per entry point would let them meet at once)."""
    model = MeetingModel(echo=True, meet=2, wait_s=2.0)
    with _web(tmp_path, real_embeddings, model, 1) as url:
        asked, answered = _ask_both_ways(url)
    assert asked["citations"] and "[1]" in answered
    assert model.most == 1 and model.in_vain == 1 and len(model.prompts) == 2


@pytest.mark.slow
def test_a_concurrency_of_two_runs_both_at_once(
    tmp_path: Path, real_embeddings: Embeddings
) -> None:
    model = MeetingModel(echo=True, meet=2, wait_s=60.0)
    with _web(tmp_path, real_embeddings, model, 2) as url:
        asked, answered = _ask_both_ways(url)
    assert asked["citations"] and "[1]" in answered
    assert model.most == 2 and model.in_vain == 0  # they met; neither waited in vain


def test_a_stopped_stream_ends_before_its_slot_is_let_go() -> None:
    """The chat's way through the slot: its status line at once, the rest holding a
    slot; stopped, its generator is closed first, then the slot is free."""
    events: list[str] = []

    def updates() -> Generator[str, None, None]:
        try:
            yield "status"
            for n in range(100):
                yield f"token {n}"
        finally:
            events.append("closed")

    async def main() -> None:
        slot = GenerationSlot(_model_loaded_chain(), 1)
        async with slot.hold():  # another answer is being written
            stream = slot.iterate(updates(), free=1)
            assert await anext(stream) == "status"  # shown while the other one runs
            with anyio.move_on_after(0.5) as waited:
                await anext(stream)
            assert waited.cancelled_caught  # no token before the other answer ends
        stream = slot.iterate(updates(), free=1)
        assert [await anext(stream) for _ in range(3)] == ["status", "token 0", "token 1"]
        await stream.aclose()  # Stop
        events.append("stopped")
        with anyio.fail_after(2):
            await slot.run(events.append, "next answer")

    anyio.run(main)
    assert events == ["closed", "closed", "stopped", "next answer"]


def test_a_cancelled_answer_keeps_its_slot_until_its_thread_ends() -> None:
    """Gradio cancels the asyncio task itself (Stop, a client gone): the thread that
    generates cannot be stopped, so its slot stays taken until it has ended."""
    finished: list[str] = []

    def generate(name: str) -> None:
        time.sleep(0.5)
        finished.append(name)

    async def main() -> None:
        slot = GenerationSlot(_model_loaded_chain(), 1)
        first = asyncio.create_task(slot.run(generate, "first"))
        await asyncio.sleep(0.1)
        first.cancel()
        await slot.run(finished.append, "second")
        assert first.cancelled()

    anyio.run(main)
    assert finished == ["first", "second"]


def test_an_error_in_the_thread_reaches_the_caller_as_itself() -> None:
    """The chat and ``/ask`` turn ``NewsqaError`` into a message: it must arrive as one."""

    def refuse() -> None:
        raise InvalidInput("there is no collection 'nope'")

    slot = GenerationSlot(_model_loaded_chain(), 1)
    with pytest.raises(InvalidInput, match="no collection 'nope'"):
        anyio.run(slot.run, refuse)


def _model_loaded_chain() -> Any:
    """What the slot reads of a chain: whether its model is loaded."""

    class Loaded:
        llm_loaded = True

    return Loaded()


class InFlight:
    """Model requests newsqa has sent and not yet read to the end: generations it has
    admitted (the model server answers one at a time; the others wait in it)."""

    def __init__(self) -> None:
        self.now = self.most = self.total = 0

    def start(self) -> None:
        self.now, self.total = self.now + 1, self.total + 1
        self.most = max(self.most, self.now)

    def end(self) -> None:
        self.now -= 1


def _counting_proxy(upstream: str, seen: InFlight) -> Starlette:
    """Forwards every request to ``upstream`` (the model server), counting them in
    ``seen`` (one event loop: no lock needed)."""
    client = httpx.AsyncClient(timeout=300)

    async def forward(request: Request) -> Response:
        seen.start()
        sent = client.build_request(
            request.method,
            upstream + request.url.path,
            content=await request.body(),
            headers={"content-type": request.headers.get("content-type", "application/json")},
        )
        reply = await client.send(sent, stream=True)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for piece in reply.aiter_raw():
                    yield piece
            finally:
                await reply.aclose()
                seen.end()

        media = reply.headers.get("content-type")
        return StreamingResponse(relay(), reply.status_code, media_type=media)

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@contextmanager
def _apps(tmp_path: Path, model_urls: dict[int, str]) -> Iterator[dict[int, str]]:
    """``python app.py`` per concurrency (started together), each on its model URL."""
    started: dict[int, tuple[subprocess.Popen[bytes], str, Any]] = {}
    try:
        for n, model_url in model_urls.items():
            port = free_port()
            env = {
                **os.environ,
                "NEWSQA_DATA_DIR": str(tmp_path / f"data-{n}"),
                "NEWSQA_PORT": str(port),
                "NEWSQA_COLLECTION": "news",
                "NEWSQA_LLM": "openai:qwen2.5-1.5b",
                "NEWSQA_OPENAI_BASE_URL": model_url,
                # Short prompts and answers: the server reads and writes one at a time.
                "NEWSQA_LLM_MAX_TOKENS": "40",
                "NEWSQA_CONTEXT_TOKENS": "200",
                "NEWSQA_UI_CONCURRENCY": str(n),
            }
            for name in ("NEWSQA_CHROMA_URL", "NEWSQA_API_KEY", "NEWSQA_UI_USER"):
                env.pop(name, None)
            log = (tmp_path / f"app-{n}.log").open("w+")
            command = [sys.executable, "app.py"]
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
            started[n] = process, f"http://127.0.0.1:{port}", log
        for process, url, log in started.values():
            wait_until_up(f"{url}/", process, log, 300)
        yield {n: url for n, (_, url, _) in started.items()}
    finally:
        for process, _, log in started.values():
            process.terminate()
            process.wait(timeout=30)
            log.close()


def _ask_at_once(url: str, questions: list[str]) -> list[dict[str, Any]]:
    """Each question from its own client (its own session), all submitted together."""
    clients = [GradioClient(f"{url}/", verbose=False) for _ in questions]
    jobs = [c.submit(q, "", "", api_name="/ask") for c, q in zip(clients, questions, strict=True)]
    return [job.result(timeout=240) for job in jobs]


# Two questions per sample article, each answered only by its own article.
OAXACA = str(SAMPLES / "002_1edb485b8cb994a6.txt")
AMBUSH_STORY = str(SAMPLES / "000_529f16d631959521.txt")
QUESTIONS = {
    "Which would-be mayoral candidate was killed in Oaxaca?": (OAXACA, "Gallegos"),
    "How many pre-candidates have been killed so far, according to analysts?": (OAXACA, "18"),
    "How many police officers were killed in Mexico last year, according to Causa en Común?": (
        AMBUSH_STORY,
        "524",
    ),
    "Which security analyst said it is possible to attack an agent of the state without "
    "consequences?": (AMBUSH_STORY, "Hope"),
}


@pytest.mark.llm
@pytest.mark.server
@pytest.mark.slow
def test_four_clients_are_answered_at_once_each_from_its_own_sources(
    llama_server: str, tmp_path: Path
) -> None:
    upstream = llama_server.removesuffix("/v1")
    seen = {4: InFlight(), 1: InFlight()}
    with (
        serving(_counting_proxy(upstream, seen[4])) as four,
        serving(_counting_proxy(upstream, seen[1])) as one,
        _apps(tmp_path, {4: f"{four}/v1", 1: f"{one}/v1"}) as apps,
    ):
        started = time.monotonic()
        answers = _ask_at_once(apps[4], list(QUESTIONS))
        four_s = time.monotonic() - started
        started = time.monotonic()
        _ask_at_once(apps[1], list(QUESTIONS)[:2])
        one_s = time.monotonic() - started
    print(f"\n4 questions at once: {four_s:.1f} s; 2 with concurrency 1: {one_s:.1f} s")
    for (question, (article, fact)), answer in zip(QUESTIONS.items(), answers, strict=True):
        print(f"{question} -> {answer['answer']}")
        assert not answer["refused"] and fact in answer["answer"]
        # Served ids name the file, not the server's folders (assistant/public_ids.py).
        assert {c["article_id"] for c in answer["citations"]} == {shown_id(article, tmp_path)}
    assert seen[4].most == 4  # all four were admitted before the first one finished
    assert seen[1].most == 1 and seen[1].total >= 2  # one after another
