"""The news is this week's unless the question says otherwise.

A question with no date words ("Which tech boss stepped down?") asked on a day
(``as_of``, else today) is about the news before that day. Where the collection holds
that news (an article of the ``recency_days`` before the day among those retrieved for
the question), an answer whose every cited article is more than ``stale_days`` older
answers an older story: on the 2026 web corpus the rule refused 19 wrong answers and 4
right ones of 84 (BENCHMARKS.md, issue #25), so the chain refuses it. A collection
with nothing recent on the question (an archive) is answered from what it has, and the
answer says the date of its newest source (``dated``), not only its citations. A
question that names a period is left to its window (``assistant/dates.py``); an answer
read from outside it (a "this week" question relaxed to the weeks before, where the
week itself has nothing) says its date the same way (``outside``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta

from langchain_core.documents import Document

from index.collection import day_number


def covers_recent(docs: Iterable[Document], as_of: date, recency_days: int) -> bool:
    """Whether any of the chunks is from an article published in the ``recency_days``
    up to ``as_of``."""
    low, high = day_number(as_of - timedelta(days=recency_days)), day_number(as_of)
    return any(low <= (d.metadata.get("published_day") or 0) <= high for d in docs)


def outdated(cited: Iterable[date | None], as_of: date, stale_days: int) -> bool:
    """Whether every cited article is dated, and more than ``stale_days`` before
    ``as_of`` (an undated one is unknown, not old)."""
    return outside(cited, as_of - timedelta(days=stale_days), date.max)


def outside(cited: Iterable[date | None], start: date, end: date) -> bool:
    """Whether every cited article is dated, and published outside ``start``..``end``."""
    dates = list(cited)
    return bool(dates) and all(d is not None and not start <= d <= end for d in dates)


def dated(answer: str, published: date) -> str:
    """The answer with the day of the reports it comes from said in its text:
    "... [1]. (Reported on 3 March 2025.)"."""
    return f"{answer} (Reported on {published.day} {published:%B %Y}.)"


_DATED = re.compile(r" \(Reported on [^()]*\.\)$")


def split_dated(answer: str) -> tuple[str, str]:
    """The answer without what ``dated`` added, and that addition ("" if none)."""
    match = _DATED.search(answer)
    return (answer[: match.start()], match.group()) if match else (answer, "")
