"""The answering chain, a LangChain ``Runnable``: question in, cited ``Answer`` out.

Steps: validate the question, retrieve (hybrid, filtered in the stores), pick the
passages the model reads, stream the model's answer, then clean its citation markers,
detect refusal and attach quotes. ``stream`` yields text as it is generated and the
final ``Answer`` last; ``invoke`` returns that ``Answer``. The model, the retriever and
the embeddings are passed in (``build_chain`` makes the defaults from settings).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any, TypeVar

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig

from assistant.answerability import yes_probability
from assistant.citations import is_refusal
from assistant.dates import DateWindow, question_window
from assistant.errors import (
    AssistantError,
    EmptyIndex,
    QuestionTooLong,
    ServerUnreachable,
    is_connection_error,
)
from assistant.evidence import render_sources, select_evidence
from assistant.prompts import Prompts
from assistant.retrieval import HybridRetriever
from assistant.support import support_share
from assistant.types import Answer, Filters, Question, Timings, final_answer
from assistant.verify import verify
from assistant.words import STOPWORDS
from index.catalog import StoredArticle
from index.collection import NewsCollection, day_number
from settings import Settings

QuestionInput = Question | str | dict[str, Any]
RetrieverFactory = Callable[[str], HybridRetriever]
CollectionFactory = Callable[[str], NewsCollection]


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


def in_window(docs: list[Document], window: DateWindow) -> list[Document]:
    """The chunks of articles published in the window (undated articles stay: their
    date is unknown, not wrong)."""
    low, high = day_number(window.start), day_number(window.end)
    return [
        d
        for d in docs
        if d.metadata.get("published_day") is None or low <= d.metadata["published_day"] <= high
    ]


def retrieval_query(question: Question) -> str:
    """A follow-up is searched together with the question it follows."""
    earlier = [t.content for t in question.history if t.role == "user"]
    return f"{earlier[-1]} {question.question}" if earlier else question.question


class NewsQA(Runnable[QuestionInput, Answer]):
    def __init__(
        self,
        *,
        llm: BaseChatModel | Callable[[], BaseChatModel],
        retriever_for: RetrieverFactory,
        prompts: Prompts,
        settings: Settings,
        collection_for: CollectionFactory | None = None,
    ) -> None:
        # A callable is called at the first generation: retrieval alone (the eval's
        # --retrieval-only) never loads a model.
        self._llm = llm
        self._llm_lock = threading.Lock()
        self.retriever_for = retriever_for
        self._collection_for = collection_for
        self.prompts = prompts
        self.settings = settings

    @property
    def llm(self) -> BaseChatModel:
        model = self._llm
        if isinstance(model, BaseChatModel):
            return model
        # Once, however many threads ask first (chain.batch): each call assembles and
        # loads a model of its own.
        with self._llm_lock:
            if not isinstance(self._llm, BaseChatModel):
                self._llm = self._llm()
            return self._llm

    @property
    def llm_loaded(self) -> bool:
        """False until the first generation assembles and loads the model."""
        return isinstance(self._llm, BaseChatModel)

    def collection(self, name: str | None = None) -> NewsCollection:
        """The collection the chain reads (to ingest into it or show its stats)."""
        if self._collection_for is None:
            raise AssistantError("this chain was built with a retriever, not collections")
        return self._collection_for(name or self.settings.collection)

    def article(self, article_id: str, collection: str | None = None) -> StoredArticle | None:
        """A stored article, full text included: what a citation's offsets point into."""
        return self.retriever_for(collection or self.settings.collection).catalog.get_article(
            article_id
        )

    @property
    def InputType(self) -> type[Question]:
        return Question

    @property
    def OutputType(self) -> type[Answer]:
        return Answer

    def invoke(
        self, input: QuestionInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Answer:
        return final_answer(self.stream(input, config, **kwargs))

    def stream(  # type: ignore[override]
        self, input: QuestionInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[str | Answer]:
        """Text pieces as the model writes them, then the final ``Answer``."""
        started = time.perf_counter()
        question = to_question(input)
        retriever = self.retriever_for(question.collection or self.settings.collection)
        docs = self.retrieve(question, config)
        retrieved = list(dict.fromkeys(d.metadata["article_id"] for d in docs))
        sources = select_evidence(
            retrieval_query(question),
            docs,
            retriever.catalog,
            retriever.embeddings,
            max_sources=self.settings.max_sources,
            budget_tokens=self.settings.context_tokens,
            stopwords=STOPWORDS,
        )
        timings = Timings(retrieval_s=time.perf_counter() - started)
        shown = render_sources(sources)
        asked = self._with_history(question)
        confidence = self._check(shown, asked, timings) if sources else 0.0
        if confidence < self.settings.refusal_threshold:
            timings.total_s = time.perf_counter() - started
            yield self.prompts.refusal
            yield self._refusal(retrieved, timings, confidence)
            return

        messages = self.prompts.answer_messages(sources=shown, question=asked)
        raw = ""
        generation_started = time.perf_counter()
        for delta in self._generate(messages, config, timings, started):
            raw += delta
            yield delta
        timings.generation_s = time.perf_counter() - generation_started
        timings.total_s = time.perf_counter() - started
        if is_refusal(raw, self.prompts.refusal) or (
            support_share(raw, shown, question.question) < self.settings.min_fact_support
        ):
            yield self._refusal(retrieved, timings, confidence)
            return
        answer, citations = verify(
            raw, question.question, sources, self.settings.citation_threshold
        )
        if not citations:  # no shown sentence supports any of it
            yield self._refusal(retrieved, timings, confidence)
            return
        yield Answer(
            answer=answer,
            refused=False,
            confidence=confidence,
            retrieved=retrieved,
            timings=timings,
            citations=citations,
        )

    def retrieve(
        self, input: QuestionInput, config: RunnableConfig | None = None
    ) -> list[Document]:
        """The chunks the chain would answer from, best article first (no model call)."""
        question = to_question(input)
        text = question.question.strip()
        if not text:
            raise AssistantError("the question is empty")
        if len(text) > self.settings.max_question_chars:
            raise QuestionTooLong(
                f"the question has {len(text):,} characters; the limit is "
                f"{self.settings.max_question_chars:,}"
            )
        name = question.collection or self.settings.collection
        retriever = self.retriever_for(name)
        if retriever.catalog.counts()[0] == 0:
            raise EmptyIndex(
                f"collection {name!r} is empty: add articles with python -m index ingest PATH"
            )
        window = question_window(question.question, question.as_of or date.today())
        prefer, weight = self.date_preference(question, window)
        docs = retriever.invoke(
            retrieval_query(question),
            config,
            filters=effective_filters(question),
            articles=self.settings.retrieve_articles,
            prefer=prefer,
            prefer_weight=weight,
        )
        # Ranked with the window preferred, then cut to it: filtering inside the
        # searches measured worse (Hits@5 with noise 0.862 -> 0.851).
        if window is not None and window.current and self.settings.strict_dates:
            docs = in_window(docs, window)
        return docs

    def date_preference(
        self, question: Question, window: DateWindow | None
    ) -> tuple[tuple[date, date] | None, float]:
        """The publication window to favour, and how strongly: the question's own date
        expression, else the weeks before ``as_of``."""
        as_of = question.as_of or date.today()
        if window is not None:
            return (window.start, window.end), self.settings.date_weight
        if self.settings.recency_weight <= 0:
            return None, 0.0
        start = as_of - timedelta(days=self.settings.recency_days)
        return (start, as_of), self.settings.recency_weight

    def _refusal(self, retrieved: list[str], timings: Timings, confidence: float) -> Answer:
        return Answer(
            answer=self.prompts.refusal,
            refused=True,
            retrieved=retrieved,
            timings=timings,
            confidence=confidence,
        )

    def _check(self, shown: str, asked: str, timings: Timings) -> float:
        """The model's probability that the shown sources answer the question."""
        started = time.perf_counter()
        with self._model_errors():
            confidence = yes_probability(
                self.llm, self.prompts.check_messages(sources=shown, question=asked)
            )
        timings.check_s = time.perf_counter() - started
        return confidence

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
        # Closed with this generator (a consumer that stops reading, a Stop button): the
        # model's stream ends now, and with it its hold on the model, not at the next
        # garbage collection.
        with self._model_errors(), _closing(self.llm.stream(messages, config)) as chunks:
            for chunk in chunks:
                usage = getattr(chunk, "usage_metadata", None)
                if usage:
                    timings.prompt_tokens = usage.get("input_tokens", 0)
                    timings.completion_tokens = usage.get("output_tokens", 0)
                if isinstance(chunk.content, str) and chunk.content:
                    if timings.ttft_s is None:
                        timings.ttft_s = time.perf_counter() - started
                    yield chunk.content

    @contextmanager
    def _model_errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            if is_connection_error(error):
                raise ServerUnreachable(
                    f"cannot reach the model server at {self.settings.openai_base_url}: {error}"
                ) from None
            raise


T = TypeVar("T")


@contextmanager
def _closing(iterator: Iterator[T]) -> Iterator[Iterator[T]]:
    """``contextlib.closing`` for an iterator typed as one that is a generator."""
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
