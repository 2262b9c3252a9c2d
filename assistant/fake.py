"""A scripted chat model for tests and demos: replies from a queue, records every prompt.

Lives beside the real backends so tests exercise the real chain with a model whose
prompt can be asserted on. It streams its reply word by word like a real model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class RecordingChatModel(BaseChatModel):
    """Replies from ``replies`` in order; with ``echo=True`` and no reply queued, it
    answers with the first sentence of source [1], cited (for plumbing tests)."""

    replies: list[str] = Field(default_factory=list)
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    echo: bool = False
    # What the answerability check returns, and the check prompts it was shown.
    confidence: float = 1.0
    checks: list[list[tuple[str, str]]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "newsqa-recording"

    def yes_probability(self, messages: list[tuple[str, str]]) -> float:
        self.checks.append(list(messages))
        return self.confidence

    def _reply(self, messages: list[BaseMessage]) -> str:
        self.prompts.append(list(messages))
        if self.replies:
            return self.replies.pop(0)
        if self.echo:
            prompt = str(messages[-1].content)
            first = prompt.split("\n[1] ", 1)[-1].split("\n", 2)[1] if "\n[1] " in prompt else ""
            return (first.split(". ")[0].rstrip(".") + ". [1]") if first else "I don't know."
        raise AssertionError("RecordingChatModel has no reply queued")

    def _usage(self, messages: list[BaseMessage], reply: str) -> UsageMetadata:
        prompt = sum(len(str(m.content).split()) for m in messages)
        return UsageMetadata(
            input_tokens=prompt,
            output_tokens=len(reply.split()),
            total_tokens=prompt + len(reply.split()),
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._reply(messages)
        for i, word in enumerate(reply.split(" ")):
            yield ChatGenerationChunk(message=AIMessageChunk(content=(" " if i else "") + word))
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=self._usage(messages, reply))
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages)
        message = AIMessage(content=reply, usage_metadata=self._usage(messages, reply))
        return ChatResult(generations=[ChatGeneration(message=message)])
