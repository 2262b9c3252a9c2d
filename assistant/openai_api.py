"""``POST /v1/chat/completions`` and ``GET /v1/models``: newsqa behind OpenAI's chat API.

Any OpenAI client (the ``openai`` package, LangChain's ``ChatOpenAI``, chat front-ends,
curl) gets grounded answers: the text with its ``[n]`` markers, and the citations in a
``newsqa`` field (``assistant/openai_types.py`` has the format). ``model`` names a
collection, or ``newsqa`` for the server's.

Streaming (``stream: true``) sends the model's draft as it is written, in OpenAI's
chunks over server-sent events, then the checked answer: the last chunk's ``newsqa``
field carries the checked ``answer`` and ``draft_replaced: true`` when it differs from
the draft (markers moved, renumbered or dropped; a refusal); when its words differ too
(a refusal, a sentence dropped), one more content chunk says ``Checked answer: ...`` so
a client that only shows content is not left with the draft. Errors have OpenAI's shape and
status codes; a failure after the stream began is an ``error`` event, as OpenAI sends.
Generations take turns through the ``GenerationSlot``; auth is ``assistant/api_access.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, cast

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from assistant.api_access import is_authorized
from assistant.chain import NewsQA
from assistant.errors import (
    AssistantError,
    EmptyIndex,
    InvalidQuestion,
    ModelMissing,
    QuestionTooLong,
    ServerUnreachable,
)
from assistant.openai_types import (
    MODEL,
    APIError,
    ChatRequest,
    chunk,
    completion,
    completion_id,
    extension,
    model_card,
    parse_request,
    to_question,
    usage,
)
from assistant.public_ids import shown_answer
from assistant.slot import RETRY_AFTER_S, GenerationSlot, ModelLoading
from assistant.staleness import split_dated
from assistant.types import Answer, Question
from assistant.words import MARKER_GROUP, words
from index.collection import collection_names
from index.errors import InvalidInput, NewsqaError, StoreError, UnknownCollection
from index.store import check_collection_name

log = logging.getLogger(__name__)
# Whole chat histories fit; a body beyond this is refused before it is read whole.
MAX_BODY_BYTES = 4_000_000
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def openai_router(chain: NewsQA, slot: GenerationSlot) -> APIRouter:
    routes = _Routes(chain, slot)
    router = APIRouter(prefix="/v1")
    router.add_api_route("/models", routes.list_models, methods=["GET"])
    router.add_api_route("/models/{model}", routes.get_model, methods=["GET"])
    router.add_api_route("/chat/completions", routes.chat, methods=["POST"])
    return router


def error_response(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def api_error(error: NewsqaError) -> APIError:
    """A newsqa error as the OpenAI error a client expects for it."""
    message = str(error)
    if isinstance(error, ModelLoading):
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        return APIError(503, message, "server_error", code="model_loading", headers=headers)
    if isinstance(error, UnknownCollection):
        return APIError(404, message, "not_found_error", param="model", code="model_not_found")
    if isinstance(error, QuestionTooLong | EmptyIndex | InvalidInput):
        return APIError(400, message)
    if isinstance(error, StoreError | ServerUnreachable | ModelMissing):
        return APIError(503, message, "server_error", code="service_unavailable")
    return APIError(500, message, "server_error")


class _Routes:
    def __init__(self, chain: NewsQA, slot: GenerationSlot) -> None:
        self.chain, self.slot, self.settings = chain, slot, chain.settings

    async def list_models(self, request: Request) -> Response:
        async def answer() -> Response:
            names = await anyio.to_thread.run_sync(collection_names, self.settings)
            cards = [model_card(n) for n in [MODEL, *names]]
            return JSONResponse({"object": "list", "data": cards})

        return await self._guarded(request, answer)

    async def get_model(self, request: Request, model: str) -> Response:
        async def answer() -> Response:
            if model != MODEL:
                await anyio.to_thread.run_sync(self._open, model)
            return JSONResponse(model_card(model))

        return await self._guarded(request, answer)

    async def chat(self, request: Request) -> Response:
        async def answer() -> Response:
            asked = parse_request(await _json_body(request))
            name = self._collection_name(asked)
            question = to_question(asked, name)
            self._check_question(question, asked)
            await anyio.to_thread.run_sync(self._open, name)
            self.slot.admit()
            if asked.stream:
                include = bool(asked.stream_options and asked.stream_options.include_usage)
                stream = self._stream(question, asked.model, name, include)
                return StreamingResponse(
                    stream, media_type="text/event-stream", headers=SSE_HEADERS
                )
            async with self.slot.hold():
                result = await self.chain.ainvoke(question)
            result = shown_answer(result, self.settings.data_dir)
            return JSONResponse(completion(result, asked.model, name))

        return await self._guarded(request, answer)

    async def _guarded(
        self, request: Request, answer: Callable[[], Awaitable[Response]]
    ) -> Response:
        """Auth, then the answer; every failure in OpenAI's error shape."""
        try:
            if not is_authorized(request.headers, self.settings):
                raise APIError(
                    401,
                    "invalid API key: send NEWSQA_API_KEY (or the chat's password) as "
                    "'Authorization: Bearer KEY'",
                    "authentication_error",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await answer()
        except APIError as error:
            return error_response(error)
        except NewsqaError as error:
            return error_response(api_error(error))
        except Exception:
            log.exception("the OpenAI-compatible API failed")
            return error_response(
                APIError(500, "internal error (see the server log)", "server_error")
            )

    def _collection_name(self, request: ChatRequest) -> str:
        named, model = request.newsqa.collection, request.model
        if model and model != MODEL:
            if named and named != model:
                raise APIError(
                    400,
                    f"model {model!r} and newsqa.collection {named!r} name different "
                    f"collections: give one, or model {MODEL!r}",
                    param="model",
                )
            named = model
        return named or self.settings.collection

    def _open(self, name: str) -> None:
        """The collection exists and holds articles; else a 404 or a 400."""
        try:
            check_collection_name(name)
        except StoreError:
            raise UnknownCollection(
                f"there is no collection {name!r}; GET /v1/models lists them"
            ) from None
        self.chain.collection(name)
        self.chain.require_articles(name)

    def _check_question(self, question: Question, asked: ChatRequest) -> None:
        # Checked here, not only in the chain: a stream must fail before it starts.
        try:
            self.chain.validate(question)
        except InvalidQuestion as error:
            param = _param(error.field, asked)
            code = "question_too_long" if isinstance(error, QuestionTooLong) else None
            raise APIError(400, f"{param}: {error}", param=param, code=code) from None
        except AssistantError as error:
            param = f"messages[{len(asked.messages) - 1}].content"
            raise APIError(400, f"{param}: {error}", param=param) from None

    async def _stream(
        self, question: Question, model: str, collection: str, include_usage: bool
    ) -> AsyncIterator[str]:
        ident, created = completion_id(), int(time.time())

        def event(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
            data = chunk(ident, model, created, delta, finish, **extra)
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        yield event({"role": "assistant", "content": ""})
        draft = ""
        answer: Answer | None = None
        try:
            async with self.slot.hold(), aclosing(_parts(self.chain, question)) as parts:
                async for part in parts:
                    if isinstance(part, Answer):
                        answer = shown_answer(part, self.settings.data_dir)
                    elif part:
                        draft += part
                        yield event({"content": part})
            if answer is None:
                raise RuntimeError("the chain's stream ended without an Answer")
        except Exception as failure:
            error = api_error(failure) if isinstance(failure, NewsqaError) else None
            if error is None:
                log.exception("a streamed answer failed")
                error = APIError(500, "internal error (see the server log)", "server_error")
            yield f"data: {json.dumps(error.body())}\n\n"
            yield "data: [DONE]\n\n"
            return
        replaced = bool(draft.strip()) and draft.strip() != answer.answer.strip()
        if not draft.strip():
            yield event({"content": answer.answer})
        elif not same_words(draft, (undated := split_dated(answer.answer))[0]):
            yield event({"content": f"\n\nChecked answer: {answer.answer}"})
        elif undated[1]:  # the same answer, dated: only the date follows
            yield event({"content": undated[1]})
        more = {"draft_replaced": replaced, "answer": answer.answer}
        yield event({}, "stop", newsqa=extension(answer, collection, **more))
        if include_usage:
            yield event(None, usage=usage(answer).model_dump())
        yield "data: [DONE]\n\n"


def _param(field: str, asked: ChatRequest) -> str:
    """Where in the request a question's ``field`` came from: the last message, the
    message of a history turn, or ``newsqa.as_of``."""
    if field == "as_of":
        return "newsqa.as_of"
    turns = [i for i, m in enumerate(asked.messages) if m.role in ("user", "assistant")]
    if field.startswith("history[") and field.endswith("]") and field[8:-1].isdigit():
        n = int(field[8:-1])
        if n < len(turns):
            return f"messages[{turns[n]}].content"
    return f"messages[{len(asked.messages) - 1}].content"


def same_words(draft: str, checked: str) -> bool:
    """The same words, citation markers aside: a checked answer that only moved or
    renumbered markers is not worth a second copy in a chat window."""
    return words(MARKER_GROUP.sub(" ", draft)) == words(MARKER_GROUP.sub(" ", checked))


def _parts(chain: NewsQA, question: Question) -> AsyncGenerator[str | Answer, None]:
    # Runnable.astream is an async generator; typed here as one so it can be closed
    # (a client that hangs up ends the chain's stream, not just our reading of it).
    return cast(AsyncGenerator[str | Answer, None], chain.astream(question))


async def _json_body(request: Request) -> dict[str, Any]:
    # Only JSON: a cross-site HTML form can send text/plain without the browser asking
    # first, and must not start a generation.
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise APIError(
            415,
            f"the request body must be sent as application/json, not {media_type or 'untyped'}",
            code="unsupported_media_type",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    try:
        data = json.loads(body)
    except ValueError as error:
        raise APIError(400, f"the request body is not valid JSON: {error}") from None
    except RecursionError:
        raise APIError(400, "the request body is JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    return data


def _too_large() -> APIError:
    return APIError(
        413, f"the request body is over {MAX_BODY_BYTES:,} bytes", code="request_too_large"
    )
