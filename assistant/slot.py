"""The generation slot: the one limit on how many answers are generated at once.

Every entry point that generates takes a slot from the same ``GenerationSlot``: the
browser chat and ``/ask`` (``ui/page.py``), the OpenAI-compatible API and MCP
(``assistant/server.py``). Its size is ``NEWSQA_UI_CONCURRENCY`` (``generations``):
with 1, a chat answer and an API answer never run at the same time; with 4, any four
do. Requests beyond it wait in arrival order, queued, never dropped. While the first
request is loading the model (tens of seconds for the default one), an API newcomer is
told so at once (``ModelLoading``: HTTP 503 with ``Retry-After``) instead of hanging
with no word; requests already waiting stay queued. Retrieval alone (MCP's
``search_articles``) needs no slot. Cancelling a generation that is already running on
a worker thread is left to the chain.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator
from contextlib import AsyncExitStack, asynccontextmanager
from itertools import count
from typing import TypeVar, cast

import anyio

from assistant.chain import NewsQA
from assistant.errors import AssistantError
from index.errors import InvalidInput
from settings import Settings

# What a request that arrives while the model loads is told to wait, in seconds.
RETRY_AFTER_S = 10

T = TypeVar("T")
_END = object()


class ModelLoading(AssistantError):
    """The model is being loaded for an earlier request: retry in a few seconds."""


def generations(settings: Settings) -> int:
    """How many generations run at once: ``NEWSQA_UI_CONCURRENCY``, but 1 with the
    in-process llama.cpp model, whatever the setting says (said on stderr)."""
    wanted = settings.ui_concurrency
    if wanted < 1:  # model_copy(update=...) skips the settings' own check
        raise InvalidInput(f"NEWSQA_UI_CONCURRENCY={wanted}: must be 1 or more")
    if wanted > 1 and settings.llm.partition(":")[0] == "llamacpp":
        # One model object generates one answer at a time (its lock); admitting more
        # would only let their retrieval take the model's cores and interleave their
        # model calls, losing llama.cpp's cached prompt prefix (the answer prompt
        # follows the check's) and making an answer depend on its neighbours.
        print(
            f"warning: NEWSQA_UI_CONCURRENCY={wanted} is ignored with the in-process "
            f"model NEWSQA_LLM={settings.llm}: it answers one question at a time. "
            "Serve the model (openai:MODEL) to answer several at once.",
            file=sys.stderr,
        )
        return 1
    return wanted


class GenerationSlot:
    def __init__(self, chain: NewsQA, limit: int = 1) -> None:
        self.chain, self.limit = chain, limit
        self._limiter = anyio.CapacityLimiter(limit)
        self._loading = False

    def admit(self) -> None:
        """Raises ``ModelLoading`` while an earlier request is loading the model."""
        if self._loading and not self.chain.llm_loaded:
            raise ModelLoading(
                f"the model is being loaded for an earlier request; retry in {RETRY_AFTER_S} s"
            )

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """A slot, once the requests before this one are done with theirs."""
        # A borrower of its own, not the task: Gradio may close a chat's generator (and
        # so leave this block) from another task than the one that entered it.
        borrower = object()
        await self._limiter.acquire_on_behalf_of(borrower)
        loading = not self.chain.llm_loaded
        self._loading = self._loading or loading
        try:
            yield
        finally:
            if loading:
                self._loading = False
            self._limiter.release_on_behalf_of(borrower)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker thread, holding a slot."""
        async with self.hold():
            return await _in_thread(function, *args)

    async def iterate(
        self, steps: Generator[T, None, None], free: int = 0
    ) -> AsyncGenerator[T, None]:
        """``steps``' items, each made in a worker thread; all but the first ``free``
        (a status shown at once) holding a slot. ``steps`` is closed before the slot is
        let go, so a stopped chat ends its generation before the next one starts."""
        async with AsyncExitStack() as held:
            try:
                for made in count():
                    if made == free:
                        await held.enter_async_context(self.hold())
                    item = await _in_thread(next, steps, _END)
                    if item is _END:
                        return
                    yield cast(T, item)
            finally:
                with anyio.CancelScope(shield=True):  # a cancelled wait for the slot
                    await _in_thread(steps.close)


async def _in_thread(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in a worker thread, waited for even when the caller is
    cancelled: a thread cannot be stopped, and its slot must stay taken until it ends.
    (Gradio's Stop cancels the asyncio task itself, which a bare ``to_thread.run_sync``
    would give up on at once; a task group waits for its child.)"""
    done: list[T] = []
    failed: list[Exception] = []

    async def call() -> None:
        try:
            done.append(await anyio.to_thread.run_sync(function, *args))
        except Exception as error:  # raised as itself below, not in an ExceptionGroup
            failed.append(error)

    async with anyio.create_task_group() as group:
        group.start_soon(call)
    if failed:
        raise failed[0]
    return done[0]
