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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor

from assistant.answerability import yes_probability
from assistant.citations import is_refusal
from assistant.claims import ClaimCheck
from assistant.dates import DateWindow, question_window
from assistant.errors import (
    AssistantError,
    EmptyIndex,
    InvalidQuestion,
    QuestionTooLong,
    ServerUnreachable,
    is_connection_error,
)
from assistant.evidence import Source, render_sources, select_evidence
from assistant.followup import clean_rewrite, conversation, leans_on_history, named, restates
from assistant.models import refusal_threshold
from assistant.prompts import Prompts
from assistant.retrieval import HybridRetriever
from assistant.staleness import covers_recent, dated, outdated, outside
from assistant.support import support_share
from assistant.types import Answer, AnswerPart, Filters, Question, Timings, final_answer
from assistant.verify import verify
from assistant.words import STOPWORDS
from index.catalog import StoredArticle
from index.collection import NewsCollection, day_number
from settings import Settings

QuestionInput = Question | str | dict[str, Any]
# A standalone question is one line; the cap only guards against a runaway reply.
STANDALONE_TOKENS = 48
# An earlier answer in the history may be this many times a question's length (a
# client may send the draft and the checked answer as one turn).
ANSWER_TURN_FACTOR = 4
# The days an as_of may be: date arithmetic around them ("last year", a week of
# reporting lag, dateparser's relative dates) stays inside the calendar.
AS_OF_RANGE = (date(1000, 1, 1), date(9000, 12, 31))
# The turns of a conversation a question is read with (ten exchanges).
HISTORY_TURNS = 20
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


def relaxed(window: DateWindow, days: int) -> DateWindow:
    """The window widened to the ``days`` before its end: where a question about "this
    week" finds nothing of the week, the most recent reports before it."""
    return replace(window, start=min(window.start, window.end - timedelta(days=days)))


def recent(question: Question) -> Question:
    """The question with only the last ``HISTORY_TURNS`` turns of its conversation:
    what a follow-up can lean on, however long a conversation a client sends."""
    if len(question.history) <= HISTORY_TURNS:
        return question
    return question.model_copy(update={"history": question.history[-HISTORY_TURNS:]})


def retrieval_query(question: Question) -> str:
    """A question that leans on the conversation is searched together with the question
    it follows; one that stands on its own (or was rewritten to) is searched alone."""
    earlier = [t.content for t in question.history if t.role == "user"]
    if earlier and leans_on_history(question.question, question.history):
        return f"{earlier[-1]} {question.question}"
    return question.question


@dataclass
class _Prepared:
    """A question retrieved for and checked: what the answer is generated from."""

    question: Question
    sources: list[Source]
    shown: str
    retrieved: list[str]
    timings: Timings
    confidence: float
    started: float
    messages: list[tuple[str, str]] | None  # None: refused before generating
    ready: float = 0.0  # when generation could start
    standalone: str | None = None  # the follow-up rewritten, if it was
    # this period's news was retrieved for a question that names no period
    # (assistant/staleness.py): an answer only from older articles is refused
    current_news: bool = False


def rewriter(llm: BaseChatModel) -> BaseChatModel:
    """The model that rewrites follow-ups: the local model keeps the state of the rewrite
    prompt's fixed beginning from one follow-up to the next (``prefix_cache.py``); every
    other prompt is read exactly as before. Other models are used as they are."""
    if "keep_prefixes" in type(llm).model_fields:
        return llm.model_copy(update={"keep_prefixes": True})
    return llm


class NewsQA(Runnable[QuestionInput, AnswerPart]):
    """Question in (a string, a dict or a ``Question``); text pieces, then the final
    checked ``Answer``, out. ``invoke``/``ainvoke`` return that ``Answer``;
    ``stream``/``astream`` yield ``AnswerPart``s (``str`` deltas, then the ``Answer``).
    Each call is one traced run: the retriever, the answerability check (a chat model
    run when the model is asked for it) and the generation are its children."""

    name = "NewsQA"

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

    def retriever(self, collection: str | None = None) -> HybridRetriever:
        """The chain's retriever for a collection: a LangChain ``BaseRetriever`` to use
        in other chains (``invoke(query, filters=Filters(...))``)."""
        return self.retriever_for(collection or self.settings.collection)

    def article(self, article_id: str, collection: str | None = None) -> StoredArticle | None:
        """A stored article, full text included: what a citation's offsets point into."""
        return self.retriever(collection).catalog.get_article(article_id)

    @property
    def InputType(self) -> Any:
        return Question | str

    @property
    def OutputType(self) -> Any:
        return AnswerPart

    def invoke(
        self, input: QuestionInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Answer:
        return final_answer(self.stream(input, config, **kwargs))

    async def ainvoke(
        self, input: QuestionInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Answer:
        answer = None
        async for part in self.astream(input, config, **kwargs):
            if isinstance(part, Answer):
                answer = part
        if answer is None:
            raise RuntimeError("the chain's stream ended without an Answer")
        return answer

    def stream(
        self, input: QuestionInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[AnswerPart]:
        """Text pieces as the model writes them, then the final ``Answer``."""
        return self.transform(iter([input]), config, **kwargs)

    def transform(
        self, input: Iterator[QuestionInput], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[AnswerPart]:
        return self._transform_stream_with_config(input, self._answer_parts, config)

    async def astream(
        self, input: QuestionInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[AnswerPart]:
        """``stream`` for async apps: the model runs in a worker thread, so the event
        loop keeps serving while it generates."""

        async def one() -> AsyncIterator[QuestionInput]:
            yield input

        async for part in self.atransform(one(), config, **kwargs):
            yield part

    async def atransform(
        self,
        input: AsyncIterator[QuestionInput],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AnswerPart]:
        async for part in self._atransform_stream_with_config(input, self._aanswer_parts, config):
            yield part

    def _answer_parts(
        self,
        inputs: Iterator[QuestionInput],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> Iterator[AnswerPart]:
        prepared = self._prepare(to_question(_last(inputs)), config)
        if prepared.messages is None:
            yield self.prompts.refusal
            yield self._refusal(prepared)
            return
        raw = ""
        for delta in self._generate(prepared.messages, config, prepared):
            raw += delta
            yield delta
        yield self._finish(prepared, raw, config)

    async def _aanswer_parts(
        self,
        inputs: AsyncIterator[QuestionInput],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[AnswerPart]:
        question = None
        async for value in inputs:
            question = value
        if question is None:
            raise AssistantError("no question was given")
        # Retrieval, evidence scoring and the check are CPU-bound: in a worker thread.
        prepared = await run_in_executor(config, self._prepare, to_question(question), config)
        if prepared.messages is None:
            yield self.prompts.refusal
            yield self._refusal(prepared)
            return
        raw = ""
        llm = await run_in_executor(config, lambda: self.llm)
        with self._model_errors():
            async with _aclosing(llm.astream(prepared.messages, config)) as chunks:
                async for chunk in chunks:
                    delta = self._delta(chunk, prepared)
                    if delta:
                        raw += delta
                        yield delta
        yield await run_in_executor(config, self._finish, prepared, raw, config)

    def _prepare(self, question: Question, config: RunnableConfig) -> _Prepared:
        """Retrieve, pick the passages the model reads, and ask the model whether they
        answer the question; ``messages`` is None when the chain refuses here."""
        started = time.perf_counter()
        self.validate(question)  # before the rewrite, which is a model call
        question = recent(question)
        standalone, standalone_s = self._standalone(question, config)
        searched = question
        if standalone is not None:
            question = question.model_copy(update={"question": standalone})
            # A rewrite that names what the follow-up refers to is searched alone, so
            # the earlier question's words do not bring back the earlier answer's
            # passages; one that names nothing is searched with the question before it.
            searched = (
                question.model_copy(update={"history": []}) if named(standalone) else question
            )
        docs = self.retrieve(searched, config)
        retrieved = list(dict.fromkeys(d.metadata["article_id"] for d in docs))
        sources = self.evidence(searched, docs)
        timings = Timings(
            standalone_s=standalone_s,
            retrieval_s=time.perf_counter() - started - standalone_s,
        )
        shown = render_sources(sources)
        # Only the question, never earlier answers: the model is not invited to repeat one.
        asked = question.question
        confidence = self._check(shown, asked, timings, config) if sources else 0.0
        prepared = _Prepared(
            question=question,
            sources=sources,
            shown=shown,
            retrieved=retrieved,
            timings=timings,
            confidence=confidence,
            started=started,
            messages=None,
            standalone=standalone,
            current_news=self.current_news(searched, docs),
        )
        if confidence >= refusal_threshold(self.settings):
            prepared.messages = self.prompts.answer_messages(sources=shown, question=asked)
            prepared.ready = time.perf_counter()
        else:
            timings.total_s = time.perf_counter() - started
        return prepared

    def _finish(
        self, prepared: _Prepared, raw: str, config: RunnableConfig | None = None
    ) -> Answer:
        """The checked answer: refused when the model said it cannot tell or its facts
        are in no source; otherwise its citations verified against the sources."""
        timings = prepared.timings
        ended = time.perf_counter()
        timings.generation_s = ended - prepared.ready
        timings.total_s = ended - prepared.started
        question = prepared.question.question
        if (
            is_refusal(raw, self.prompts.refusal)
            or support_share(raw, prepared.shown, question) < self.settings.min_fact_support
            or restates(raw, prepared.question.history, question)
        ):
            return self._refusal(prepared)
        claims = None
        if self.settings.claim_threshold > 0:
            claims = ClaimCheck(self.llm, self.prompts, self.settings.claim_threshold, config)
        answer, citations = verify(
            raw, question, prepared.sources, self.settings.citation_threshold, claims
        )
        if claims is not None:
            timings.claims_s = claims.seconds
            timings.total_s += claims.seconds
        if not citations:  # no shown sentence supports any of it
            return self._refusal(prepared)
        as_of = prepared.question.as_of or date.today()
        cited = [c.published for c in citations]
        window = question_window(question, as_of)
        if window is None:  # older news: refused where this period's was retrieved
            older = self.settings.stale_days > 0 and outdated(
                cited, as_of, self.settings.stale_days
            )
            if older and prepared.current_news:
                return self._refusal(prepared)
        else:  # read from outside the period asked about (a relaxed window)
            older = outside(cited, window.start, window.end)
        if older:  # answered all the same: saying when its news is from
            answer = dated(answer, max(d for d in cited if d is not None))
        return Answer(
            answer=answer,
            refused=False,
            confidence=prepared.confidence,
            retrieved=prepared.retrieved,
            timings=timings,
            citations=citations,
            standalone_question=prepared.standalone,
        )

    def retrieve(
        self, input: QuestionInput, config: RunnableConfig | None = None
    ) -> list[Document]:
        """The chunks the chain would answer from, best article first (no model call)."""
        question = to_question(input)
        self.validate(question)
        question = recent(question)
        name = question.collection or self.settings.collection
        retriever = self.retriever_for(name)
        self.require_articles(name)
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
            kept = in_window(docs, window)
            if not kept and self.settings.relaxed_days > 0:
                # Nothing of the window: the weeks before it, the answer dated (_finish).
                kept = in_window(docs, relaxed(window, self.settings.relaxed_days))
            docs = kept
        return docs

    def evidence(self, question: Question, docs: list[Document]) -> list[Source]:
        """The sources the model reads: the passages of ``docs`` that best answer the
        question, within the evidence budget (no model call)."""
        retriever = self.retriever(question.collection)
        return select_evidence(
            retrieval_query(question),
            docs,
            retriever.catalog,
            retriever.embeddings,
            max_sources=self.settings.max_sources,
            budget_tokens=self.settings.context_tokens,
            stopwords=STOPWORDS,
        )

    def current_news(self, question: Question, docs: list[Document]) -> bool:
        """Whether ``docs``, retrieved for a question that names no period, hold an
        article of the ``recency_days`` before its ``as_of`` (``assistant/staleness.py``)."""
        as_of = question.as_of or date.today()
        if self.settings.stale_days <= 0 or question_window(question.question, as_of):
            return False
        return covers_recent(docs, as_of, self.settings.recency_days)

    def require_articles(self, collection: str | None = None) -> None:
        """Raises ``EmptyIndex`` when the collection holds no article."""
        name = collection or self.settings.collection
        if self.retriever(name).catalog.counts()[0] == 0:
            raise EmptyIndex(
                f"collection {name!r} is empty: add articles with python -m index ingest PATH"
            )

    def validate(self, question: Question) -> None:
        """Raises for a question the chain will not take: empty, over
        ``NEWSQA_MAX_QUESTION_CHARS`` (``QuestionTooLong``; an earlier user turn too, and
        an earlier answer over ``ANSWER_TURN_FACTOR`` times that), text that is not
        valid Unicode (a lone surrogate), or an ``as_of`` outside ``AS_OF_RANGE``."""
        text = question.question.strip()
        if not text:
            raise InvalidQuestion("the question is empty")
        limit = self.settings.max_question_chars
        if len(text) > limit:
            raise QuestionTooLong(
                f"the question has {len(text):,} characters; the limit is {limit:,}"
            )
        _check_text(question.question, "the question", "question")
        for n, turn in enumerate(question.history):
            where, field = f"history turn {n + 1} ({turn.role})", f"history[{n}]"
            most = limit if turn.role == "user" else limit * ANSWER_TURN_FACTOR
            if len(turn.content) > most:
                raise QuestionTooLong(
                    f"{where} has {len(turn.content):,} characters; the limit is {most:,}", field
                )
            _check_text(turn.content, where, field)
        low, high = AS_OF_RANGE
        if question.as_of is not None and not low <= question.as_of <= high:
            raise InvalidQuestion(
                f"as_of {question.as_of.isoformat()} is out of range: give a day from "
                f"{low.isoformat()} to {high.isoformat()}",
                "as_of",
            )

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

    def _refusal(self, prepared: _Prepared) -> Answer:
        return Answer(
            answer=self.prompts.refusal,
            refused=True,
            retrieved=prepared.retrieved,
            timings=prepared.timings,
            confidence=prepared.confidence,
            standalone_question=prepared.standalone,
        )

    def _check(self, shown: str, asked: str, timings: Timings, config: RunnableConfig) -> float:
        """The model's probability that the shown sources answer the question."""
        started = time.perf_counter()
        with self._model_errors():
            confidence = yes_probability(
                self.llm,
                self.prompts.check_messages(sources=shown, question=asked),
                {**config, "run_name": "answerability_check"},
            )
        timings.check_s = time.perf_counter() - started
        return confidence

    def _standalone(self, question: Question, config: RunnableConfig) -> tuple[str | None, float]:
        """A follow-up rewritten by the model as a standalone question (None: the
        question stands on its own, or the rewrite did not give a question), and the
        seconds it took."""
        if not leans_on_history(question.question, question.history):
            return None, 0.0
        started = time.perf_counter()
        messages = self.prompts.standalone_messages(
            conversation=conversation(question.history), question=question.question
        )
        with self._model_errors():
            reply = rewriter(self.llm).invoke(
                messages,
                {**config, "run_name": "standalone_question"},
                stop=["\n"],
                max_tokens=STANDALONE_TOKENS,
            )
        rewritten = clean_rewrite(str(reply.content), question.question, question.history)
        elapsed = time.perf_counter() - started
        return (rewritten if rewritten != question.question else None), elapsed

    def _generate(
        self, messages: list[tuple[str, str]], config: RunnableConfig, prepared: _Prepared
    ) -> Iterator[str]:
        # Closed with this generator (a consumer that stops reading, a Stop button): the
        # model's stream ends now, and with it its hold on the model, not at the next
        # garbage collection.
        with self._model_errors(), _closing(self.llm.stream(messages, config)) as chunks:
            for chunk in chunks:
                delta = self._delta(chunk, prepared)
                if delta:
                    yield delta

    @staticmethod
    def _delta(chunk: BaseMessageChunk, prepared: _Prepared) -> str:
        """A chunk's text, with the token counts and first-token time it reports."""
        timings = prepared.timings
        usage = getattr(chunk, "usage_metadata", None)
        if usage:
            timings.prompt_tokens = usage.get("input_tokens", 0)
            timings.completion_tokens = usage.get("output_tokens", 0)
        if not isinstance(chunk.content, str) or not chunk.content:
            return ""
        if timings.ttft_s is None:
            timings.ttft_s = time.perf_counter() - prepared.started
        return chunk.content

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


def _check_text(text: str, where: str, field: str) -> None:
    """Text every step can read: a lone surrogate (JSON's "\\ud800") is no character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidQuestion(
            f"{where} is not valid text: a lone surrogate at character {error.start + 1}", field
        ) from None


T = TypeVar("T")


def _last(values: Iterator[T]) -> T:
    """The input of a ``transform``: the last of its values (one, for ``stream``)."""
    last: T | None = None
    for value in values:
        last = value
    if last is None:
        raise AssistantError("no question was given")
    return last


@contextmanager
def _closing(iterator: Iterator[T]) -> Iterator[Iterator[T]]:
    """``contextlib.closing`` for an iterator typed as one that is a generator."""
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


@asynccontextmanager
async def _aclosing(iterator: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """``_closing`` for an async iterator: the model's stream ends with the consumer's."""
    try:
        yield iterator
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
