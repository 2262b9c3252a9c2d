"""The generation slot: API and MCP answers take turns on the model, queued, never dropped.

On a 2-core box one generation at a time is all there is room for (the chat's Gradio
queue keeps its own slot of 1, ``ui/page.py``); requests beyond it wait in arrival
order. While the first request is loading the model (tens of seconds for the default
one), a newcomer is told so at once (``ModelLoading``: HTTP 503 with ``Retry-After``)
instead of hanging with no word; requests already waiting stay queued. Retrieval alone
(MCP's ``search_articles``) needs no slot. Cancelling a generation that is already
running on a worker thread is left to the chain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from assistant.chain import NewsQA
from assistant.errors import AssistantError

# How many generations run at once. One place to change it (a setting may replace it).
GENERATIONS = 1
# What a request that arrives while the model loads is told to wait, in seconds.
RETRY_AFTER_S = 10


class ModelLoading(AssistantError):
    """The model is being loaded for an earlier request: retry in a few seconds."""


class GenerationSlot:
    def __init__(self, chain: NewsQA, limit: int = GENERATIONS) -> None:
        self.chain = chain
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
        """The slot, once the requests before this one are done with it."""
        async with self._limiter:
            loading = not self.chain.llm_loaded
            self._loading = self._loading or loading
            try:
                yield
            finally:
                if loading:
                    self._loading = False
