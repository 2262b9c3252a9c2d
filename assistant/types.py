"""The public data types: what a question carries in and what an answer carries out.

These are the contract with apps that embed the chain, the CLI's ``--json`` and the eval
harness, so they change only additively. ``final_answer`` reads a chain's stream to the
``Answer`` at its end; ``AnswerPart`` is what a chain's stream yields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Filters(BaseModel):
    """Applied exactly, never to a cut-down result: in SQL, and for dense search to a
    pool of nearest chunks that Chroma's own ``where`` replaces when too few pass."""

    model_config = ConfigDict(frozen=True)

    published_from: date | None = None
    published_to: date | None = None
    source: str | None = None


class Turn(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: str  # "user" or "assistant"
    content: str


class Question(BaseModel):
    model_config = ConfigDict(frozen=True)

    question: str
    history: list[Turn] = Field(default_factory=list)
    as_of: date | None = None  # "today" for the question; default: the real today
    filters: Filters = Field(default_factory=Filters)
    collection: str | None = None  # default: the chain's collection


class Citation(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int  # the marker number in the answer text
    article_id: str
    title: str
    url: str = ""
    published: date | None = None
    source: str = ""
    quote: str = ""  # the supporting sentence(s) from the article, when verified
    start: int | None = None  # character offsets of the quote in the article text
    end: int | None = None


class Timings(BaseModel):
    standalone_s: float = 0.0  # rewriting a follow-up as a standalone question
    retrieval_s: float = 0.0
    check_s: float = 0.0  # the model's "do the sources answer it?" pass
    generation_s: float = 0.0
    claims_s: float = 0.0  # the model's "does the cited sentence state it?" checks
    ttft_s: float | None = None  # time to first generated token
    total_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Answer(BaseModel):
    answer: str
    refused: bool
    citations: list[Citation] = Field(default_factory=list)
    retrieved: list[str] = Field(default_factory=list)  # article ids, best first
    # The model's probability that the sources shown to it answer the question; the
    # chain refuses below NEWSQA_REFUSAL_THRESHOLD. None when no model was asked.
    confidence: float | None = None
    timings: Timings = Field(default_factory=Timings)
    # A follow-up as the chain understood and answered it ("How long was the python?"
    # for "How long was it?"); None when the question was answered as written.
    standalone_question: str | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# What ``stream``/``astream`` yield: the answer's text as the model writes it (``str``
# deltas, a draft), then exactly one ``Answer``, the checked answer. Its text may differ
# from the joined draft: markers renumbered or dropped, or the refusal.
AnswerPart = str | Answer


def final_answer(
    parts: Iterable[AnswerPart], on_text: Callable[[str], object] | None = None
) -> Answer:
    """The ``Answer`` that ends a chain's stream, the stream read to its end; the text
    pieces before it go to ``on_text`` (a terminal that shows the draft)."""
    answer = None
    for part in parts:
        if isinstance(part, Answer):
            answer = part
        elif on_text is not None:
            on_text(part)
    if answer is None:
        raise RuntimeError("the chain's stream ended without an Answer")
    return answer
