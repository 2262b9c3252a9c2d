"""Scripted chat models for tests and demos: replies from a queue, records every prompt.

Lives beside the real backends so tests exercise the real chain with a model whose
prompt can be asserted on. It streams its reply word by word like a real model. The
refusal check's P(yes) is scripted (``confidence``) and reaches the chain the way the
real backends give it: ``RecordingChatModel`` computes it itself (``YesProbability``,
like our llama.cpp model); ``ScriptedChatModel`` answers the check like a chat model
behind an OpenAI-compatible server, with ``top_logprobs`` or, with ``logprobs=False``,
a plain "Yes" or "No".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from assistant.answerability import YesProbability


class ScriptedChatModel(BaseChatModel):
    """Replies from ``replies`` in order; with ``echo=True`` and no reply queued, it
    answers with the first sentence of source [1], cited (for plumbing tests). A request
    for ``logprobs`` is the refusal check: it is answered from ``confidence`` and
    recorded in ``checks``, and takes no reply from the queue."""

    replies: list[str] = Field(default_factory=list)
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    echo: bool = False
    # What the yes/no checks (answerability, claims) return: ``confidences`` in order,
    # then ``confidence``; and the check prompts they were shown.
    confidence: float = 1.0
    confidences: list[float] = Field(default_factory=list)
    checks: list[list[tuple[str, str]]] = Field(default_factory=list)
    # False: like a server without logprobs, the check gets a plain "Yes" or "No".
    logprobs: bool = True

    @property
    def _llm_type(self) -> str:
        return "newsqa-scripted"

    def _next_confidence(self) -> float:
        return self.confidences.pop(0) if self.confidences else self.confidence

    def _check_reply(self, messages: list[BaseMessage]) -> AIMessage:
        self.checks.append([(m.type, str(m.content)) for m in messages])
        confidence = self._next_confidence()
        word = "Yes" if confidence >= 0.5 else "No"
        if not self.logprobs:
            return AIMessage(content=word)
        shares = {"Yes": confidence, "No": 1.0 - confidence}
        # A server lists only the likeliest alternatives: none with probability 0.
        top = [{"token": t, "logprob": math.log(p)} for t, p in shares.items() if p > 0]
        first = {"token": word, "logprob": math.log(shares[word]), "top_logprobs": top}
        return AIMessage(content=word, response_metadata={"logprobs": {"content": [first]}})

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
        if "logprobs" in kwargs:
            check = self._check_reply(messages)
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=check.content, response_metadata=check.response_metadata
                )
            )
            return
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
        if "logprobs" in kwargs:
            return ChatResult(generations=[ChatGeneration(message=self._check_reply(messages))])
        reply = self._reply(messages)
        message = AIMessage(content=reply, usage_metadata=self._usage(messages, reply))
        return ChatResult(generations=[ChatGeneration(message=message)])


class RecordingChatModel(ScriptedChatModel):
    """A scripted model that computes the check's P(yes) itself (``YesProbability``), as
    our llama.cpp model does: the check is a method call, not a chat request."""

    @property
    def _llm_type(self) -> str:
        return "newsqa-recording"

    def yes_probability(self, messages: list[tuple[str, str]]) -> float:
        self.checks.append(list(messages))
        return self._next_confidence()


_COMPUTES_P_YES: type[YesProbability] = RecordingChatModel  # checked by mypy
