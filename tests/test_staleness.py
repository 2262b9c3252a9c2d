"""Which answers are about older news than the question's period."""

from datetime import date

from langchain_core.documents import Document

from assistant.staleness import covers_recent, dated, outdated, outside
from index.collection import day_number


def _doc(day: date | None) -> Document:
    return Document("x", metadata={} if day is None else {"published_day": day_number(day)})


def test_recent_news_is_an_article_of_the_days_up_to_as_of() -> None:
    as_of = date(2026, 6, 5)
    assert covers_recent([_doc(date(2024, 1, 1)), _doc(date(2026, 5, 10))], as_of, 30)
    assert not covers_recent([_doc(date(2026, 5, 5))], as_of, 30)  # 31 days before
    assert not covers_recent([_doc(date(2026, 6, 6))], as_of, 30)  # after as_of
    assert not covers_recent([_doc(None), _doc(date(2025, 6, 5))], as_of, 30)
    assert not covers_recent([], as_of, 30)


def test_outdated_needs_every_cited_article_dated_and_old() -> None:
    as_of = date(2026, 6, 5)
    assert outdated([date(2024, 5, 1), date(2026, 5, 5)], as_of, 30)
    assert not outdated([date(2024, 5, 1), date(2026, 5, 6)], as_of, 30)  # one of the period
    assert not outdated([date(2024, 5, 1), None], as_of, 30)  # undated: unknown, not old
    assert not outdated([], as_of, 30)


def test_outside_needs_every_cited_article_dated_and_out_of_the_window() -> None:
    start, end = date(2026, 5, 15), date(2026, 5, 22)
    assert outside([date(2026, 4, 23), date(2026, 5, 23)], start, end)
    assert not outside([date(2026, 4, 23), date(2026, 5, 15)], start, end)  # one in it
    assert not outside([date(2026, 4, 23), None], start, end)  # undated: unknown
    assert not outside([], start, end)


def test_an_answer_from_older_news_says_its_date() -> None:
    assert dated("13 died [1].", date(2025, 3, 3)) == "13 died [1]. (Reported on 3 March 2025.)"
