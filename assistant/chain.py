"""The answering chain, a LangChain ``Runnable``: question in, cited ``Answer`` out.

Steps: validate the question, retrieve (hybrid, filtered in the stores), pick the
passages the model reads, stream the model's answer, then clean its citation markers,
detect refusal and attach quotes. ``stream`` yields text as it is generated and the
final ``Answer`` last; ``invoke`` returns that ``Answer``. The model, the retriever and
the embeddings are passed in (``build_chain`` makes the defaults from settings).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig

from assistant.citations import build_citations, clean_markers, is_refusal
from assistant.errors import AssistantError, EmptyIndex, QuestionTooLong, ServerUnreachable
from assistant.evidence import render_sources, select_sources
from assistant.prompts import Prompts
from assistant.retrieval import HybridRetriever
from assistant.types import Answer, Filters, Question, Timings
from settings import Settings

QuestionInput = Question | str | dict[str, Any]
RetrieverFactory = Callable[[str], HybridRetriever]


def to_question(value: QuestionInput) -> Question:
    if isinstance(value, Question):
        return value
    if isinstance(value, str):
        return Question(question=value)
    return Question.model_validate(value)


def effective_filters(question: Question) -> Filters:
    """An ``as_of`` date also means: nothing published after it."""
    filters = question.filters
    if question.as_of and (filters.published_to is None or filters.published_to > question.as_of):
        filters = filters.model_copy(update={"published_to": question.as_of})
    return filters


def retrieval_query(question: Question) -> str:
    """A follow-up is searched together with the question it follows."""
    earlier = [t.content for t in question.history if t.role == "user"]
    return f"{earlier[-1]} {question.question}" if earlier else question.question


class NewsQA(Runnable[QuestionInput, Answer]):
    def __init__(
        self,
        *,
        llm: BaseChatModel,
        retriever_for: RetrieverFactory,
        prompts: Prompts,
        settings: Settings,
    ) -> None:
        self.llm = llm
        self.retriever_for = retriever_for
        self.prompts = prompts
        self.settings = settings

    @property
    def InputType(self) -> type[Question]:
        return Question

    @property
    def OutputType(self) -> type[Answer]:
        return Answer

    def invoke(
        self, input: QuestionInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Answer:
        answer = None
        for part in self.stream(input, config, **kwargs):
            if isinstance(part, Answer):
                answer = part
        assert answer is not None
        return answer

    def stream(  # type: ignore[override]
        self, input: QuestionInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[str | Answer]:
        """Text pieces as the model writes them, then the final ``Answer``."""
        started = time.perf_counter()
        question = to_question(input)
        text = question.question.strip()
        if not text:
            raise AssistantError("the question is empty")
        if len(text) > self.settings.max_question_chars:
            raise QuestionTooLong(
                f"the question has {len(text):,} characters; the limit is "
                f"{self.settings.max_question_chars:,}"
            )
        retriever = self.retriever_for(question.collection or self.settings.collection)
        if retriever.catalog.counts()[0] == 0:
            raise EmptyIndex(
                f"collection {question.collection or self.settings.collection!r} "
                "is empty: add articles with python -m index ingest PATH"
            )
        docs = retriever.invoke(
            retrieval_query(question),
            config,
            filters=effective_filters(question),
            articles=self.settings.retrieve_articles,
        )
        retrieved = list(dict.fromkeys(d.metadata["article_id"] for d in docs))
        sources = select_sources(docs, self.settings.max_sources, self.settings.context_tokens)
        timings = Timings(retrieval_s=time.perf_counter() - started)
        if not sources:
            yield self.prompts.refusal
            timings.total_s = time.perf_counter() - started
            yield Answer(
                answer=self.prompts.refusal, refused=True, retrieved=retrieved, timings=timings
            )
            return

        today = (question.as_of or date.today()).isoformat()
        messages = self.prompts.messages(
            sources=render_sources(sources), question=self._with_history(question), today=today
        )
        raw = ""
        generation_started = time.perf_counter()
        for delta in self._generate(messages, config, timings, started):
            raw += delta
            yield delta
        timings.generation_s = time.perf_counter() - generation_started
        timings.total_s = time.perf_counter() - started

        if is_refusal(raw, self.prompts.refusal):
            yield Answer(
                answer=self.prompts.refusal, refused=True, retrieved=retrieved, timings=timings
            )
            return
        answer, cited = clean_markers(raw, {s.n for s in sources})
        texts = {}
        for n in cited:
            article = retriever.catalog.get_article(sources[n - 1].article_id)
            texts[sources[n - 1].article_id] = article.text if article else ""
        yield Answer(
            answer=answer,
            refused=False,
            retrieved=retrieved,
            timings=timings,
            citations=build_citations(answer, cited, sources, texts),
        )

    def _with_history(self, question: Question) -> str:
        if not question.history:
            return question.question
        # Only the last exchange: the prompt must stay short on a small CPU.
        last = question.history[-2:]
        lines = [
            f"{'Earlier question' if t.role == 'user' else 'Earlier answer'}: "
            f"{' '.join(t.content.split())[:300]}"
            for t in last
        ]
        return "\n".join([*lines, f"Follow-up question: {question.question}"])

    def _generate(
        self,
        messages: list[tuple[str, str]],
        config: RunnableConfig | None,
        timings: Timings,
        started: float,
    ) -> Iterator[str]:
        try:
            for chunk in self.llm.stream(messages, config):
                usage = getattr(chunk, "usage_metadata", None)
                if usage:
                    timings.prompt_tokens = usage.get("input_tokens", 0)
                    timings.completion_tokens = usage.get("output_tokens", 0)
                if isinstance(chunk.content, str) and chunk.content:
                    if timings.ttft_s is None:
                        timings.ttft_s = time.perf_counter() - started
                    yield chunk.content
        except Exception as error:
            if _is_connection_error(error):
                raise ServerUnreachable(
                    f"cannot reach the model server at {self.settings.openai_base_url}: {error}"
                ) from None
            raise


def _is_connection_error(error: Exception) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(
        names & {"APIConnectionError", "ConnectError", "ConnectionError", "APITimeoutError"}
    )
