"""Date expressions resolved against the question's as_of day, and used in retrieval."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from assistant import Answer, Question, build_chain
from assistant.dates import question_window
from assistant.fake import RecordingChatModel
from index.collection import NewsCollection
from index.ingest import ingest
from settings import Settings
from tests.conftest import CountingEmbeddings, write_jsonl

AS_OF = date(2022, 6, 16)  # a Thursday


@pytest.mark.parametrize(
    ("question", "start", "end", "current"),
    [
        (
            "Which automaker recalled 2.9 million vehicles this week?",
            "2022-06-09",
            "2022-06-16",
            True,
        ),
        ("Who resigned yesterday?", "2022-06-15", "2022-06-16", True),
        ("What NFL star announced his retirement on Tuesday?", "2022-06-14", "2022-06-16", True),
        ("What did the Fed announce this month?", "2022-06-01", "2022-06-16", True),
        ("What did the Fed announce last month?", "2022-05-01", "2022-06-07", False),
        ("What happened in March 2021 in Texas?", "2021-03-01", "2021-04-07", False),
        ("How many people died on June 12?", "2022-06-12", "2022-06-16", True),
        ("How many police officers were killed in 2020?", "2020-01-01", "2021-01-07", False),
        ("Who won in December?", "2021-12-01", "2022-01-07", False),
        ("How many have died since 2018?", "2018-01-01", "2022-06-16", False),
        ("How much have rents risen compared to a year ago?", "2021-06-16", "2021-06-23", False),
        ("Which show was recently renewed?", "2022-06-02", "2022-06-16", False),
    ],
)
def test_expressions_become_publication_windows(
    question: str, start: str, end: str, current: bool
) -> None:
    window = question_window(question, AS_OF)
    assert window is not None, question
    assert (window.start.isoformat(), window.end.isoformat()) == (start, end)
    assert window.current is current


@pytest.mark.parametrize(
    "question",
    [
        "When was the ambush?",
        "What is the second largest city that may host the games?",
        "How many officers died in the Coatepec Harinas ambush?",
    ],
)
def test_no_date_expression_no_window(question: str) -> None:
    assert question_window(question, AS_OF) is None


ALMA = "Storm Alma hit the coast of Pinewood, flooding coastal roads."


def _story(article_id: str, published: str, title: str, text: str) -> dict[str, object]:
    return {"id": article_id, "title": title, "published": published, "text": text}


def _indexed(
    settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path, *stories: dict[str, object]
) -> NewsCollection:
    collection = NewsCollection(settings, embeddings=embeddings, create=True)
    ingest(collection, [write_jsonl(tmp_path / "storms.jsonl", list(stories))], progress=False)
    return collection


def test_this_week_prefers_the_story_published_this_week(
    settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    collection = _indexed(
        settings,
        embeddings,
        tmp_path,
        # The older story matches the words of the question better.
        _story(
            "old",
            "2021-06-14",
            "Which storm hit the coast of Pinewood: Storm Alma",
            ALMA,
        ),
        _story(
            "new",
            "2022-06-14",
            "Bea floods seaside town",
            "Storm Bea brought floods to Pinewood's seafront; schools closed.",
        ),
    )
    chain = build_chain(settings, llm=RecordingChatModel(), embeddings=embeddings)
    asked = "Which storm hit the coast of Pinewood this week?"
    docs = chain.retrieve(Question(question=asked, as_of=AS_OF))
    assert docs[0].metadata["article_id"] == "new"
    # Without a date expression, and neither story recent, the better match wins.
    plain = asked.replace(" this week", "")
    docs = chain.retrieve(Question(question=plain, as_of=date(2023, 6, 16)))
    assert docs[0].metadata["article_id"] == "old"
    # A year earlier, the same question finds the old story first (and never a later one).
    docs = chain.retrieve(Question(question=asked, as_of=date(2021, 6, 16)))
    assert [d.metadata["article_id"] for d in docs][:1] == ["old"]
    assert "new" not in {d.metadata["article_id"] for d in docs}
    collection.close()


def _ask_this_week(
    settings: Settings,
    embeddings: CountingEmbeddings,
    tmp_path: Path,
    published: str,
    **update: Any,
) -> tuple[Answer, RecordingChatModel]:
    """ "Which storm hit Pinewood this week?" over one story on Storm Alma, published then."""
    folder = tmp_path / f"{published}-{len(update)}"
    folder.mkdir()
    collection = _indexed(
        settings, embeddings, folder, _story("alma", published, "Storm Alma hits Pinewood", ALMA)
    )
    model = RecordingChatModel(echo=True)
    chain = build_chain(settings.model_copy(update=update), llm=model, embeddings=embeddings)
    asked = Question(question="Which storm hit the coast of Pinewood this week?", as_of=AS_OF)
    try:
        return chain.invoke(asked), model
    finally:
        collection.close()


def test_a_current_window_reads_only_its_articles(
    settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    """A "this week" question with only a story months older on the topic is refused
    without asking the model; with strict dates off, the older story is read."""
    answer, model = _ask_this_week(settings, embeddings, tmp_path, "2022-03-20")
    assert answer.refused and answer.retrieved == [] and model.checks == []
    answer, _ = _ask_this_week(settings, embeddings, tmp_path, "2022-03-20", strict_dates=False)
    assert not answer.refused and answer.retrieved == ["alma"]
    assert "Storm Alma" in answer.answer


def test_nothing_in_the_window_reads_the_weeks_before_and_says_their_date(
    settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    """Relaxed, not refused: with nothing of this week, a story of the ``relaxed_days``
    before it is read, and the answer says when it was reported."""
    answer, _ = _ask_this_week(settings, embeddings, tmp_path, "2022-05-20")
    assert not answer.refused and answer.retrieved == ["alma"]
    assert "Storm Alma" in answer.answer
    assert answer.answer.endswith("(Reported on 20 May 2022.)")
    answer, _ = _ask_this_week(settings, embeddings, tmp_path, "2022-05-20", relaxed_days=0)
    assert answer.refused and answer.retrieved == []


@pytest.mark.parametrize(
    ("question", "as_of"),
    [
        ("What happened this year?", date(9000, 12, 31)),
        ("What happened on December 31, 9999?", AS_OF),
        ("What happened in 9999?", date(9000, 1, 1)),
        ("What happened last week?", date(1000, 1, 1)),
    ],
)
def test_dates_at_the_calendars_edge_give_a_window_or_none_never_an_error(
    question: str, as_of: date
) -> None:
    window = question_window(question, as_of)
    assert window is None or window.start <= window.end <= as_of
