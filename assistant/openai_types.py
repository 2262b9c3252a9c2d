"""The OpenAI chat-completions wire format, as newsqa speaks it: requests in, answers out.

A request's ``messages`` become a ``Question`` (the last user message; the user and
assistant messages before it are the history; system and developer messages are
accepted and ignored, since newsqa's prompts are fixed). newsqa's own options travel
in a ``newsqa`` body field (``extra_body={"newsqa": {...}}`` in the openai client).
Responses carry the answer text with its ``[n]`` markers, real token counts, and the
citations, refusal, confidence and retrieved ids in a ``newsqa`` field beside
``choices``. Sampling parameters (temperature, max_tokens, ...) are accepted and
ignored: the answer is made by the chain. HTTP, streaming and errors' status codes
live in ``assistant/openai_api.py``.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.types import Answer, Filters, Question, Turn

# The model id that means "the server's collection" (or the one in the newsqa field).
MODEL = "newsqa"
IGNORED_ROLES = ("system", "developer")
ErrorType = Literal[
    "invalid_request_error", "authentication_error", "not_found_error", "server_error"
]


class APIError(Exception):
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        type: ErrorType = "invalid_request_error",
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class NewsqaOptions(BaseModel):
    """The ``newsqa`` body field. Unknown keys are an error: a typo must not be ignored."""

    model_config = ConfigDict(extra="forbid")

    collection: str | None = None
    as_of: date | None = None  # the question's "today"; nothing published after it is used
    published_from: date | None = None
    published_to: date | None = None
    source: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    # A string, or OpenAI's content parts ([{"type": "text", "text": ...}]).
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = MODEL
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    newsqa: NewsqaOptions = Field(default_factory=NewsqaOptions)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def parse_request(body: dict[str, Any]) -> ChatRequest:
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        raise APIError(400, f"{param}: {first['msg']}", param=param) from None
    if request.n not in (None, 1):
        raise APIError(400, "n: newsqa gives one answer per request (n=1)", param="n")
    return request


def text_of(message: ChatMessage, index: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for part in message.content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise APIError(
                400,
                f"messages[{index}].content: only text parts are supported, "
                f"not {part.get('type')!r}",
                param=f"messages[{index}].content",
            )
        texts.append(part["text"])
    return "\n".join(texts)


def to_question(request: ChatRequest, collection: str) -> Question:
    """The last message is the question; the user and assistant turns before it, the
    history (a follow-up is read with the exchange it follows, as in the chat)."""
    if not request.messages:
        raise APIError(400, "messages: at least one message is required", param="messages")
    history = []
    for i, message in enumerate(request.messages):
        if message.role not in ("user", "assistant", *IGNORED_ROLES):
            raise APIError(
                400,
                f"messages[{i}].role: {message.role!r} is not supported; use user, "
                "assistant or system",
                param=f"messages[{i}].role",
            )
        if message.role in ("user", "assistant"):
            history.append(Turn(role=message.role, content=text_of(message, i)))
    last = len(request.messages) - 1
    if request.messages[last].role != "user" or not history:
        raise APIError(
            400,
            f"messages[{last}].role: the last message must be the user's question, "
            f"not {request.messages[last].role!r}",
            param=f"messages[{last}].role",
        )
    options = request.newsqa
    return Question(
        question=history[-1].content,
        history=history[:-1],
        as_of=options.as_of,
        filters=Filters(
            published_from=options.published_from,
            published_to=options.published_to,
            source=options.source,
        ),
        collection=collection,
    )


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(answer: Answer) -> Usage:
    prompt, completion = answer.timings.prompt_tokens, answer.timings.completion_tokens
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def extension(result: Answer, collection: str, **more: Any) -> dict[str, Any]:
    """The ``newsqa`` field: what an OpenAI response has no place for."""
    data = result.to_json()
    return {
        "collection": collection,
        "refused": data["refused"],
        "confidence": data["confidence"],
        "citations": data["citations"],
        "retrieved": data["retrieved"],
        "timings": data["timings"],
        "standalone_question": data["standalone_question"],
        **more,
    }


def completion(answer: Answer, model: str, collection: str) -> dict[str, Any]:
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage(answer).model_dump(),
        "newsqa": extension(answer, collection),
    }


def chunk(
    ident: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One streamed chunk; ``delta`` None makes the usage-only chunk (no choices)."""
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
    )
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        **extra,
    }


def model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "newsqa"}
