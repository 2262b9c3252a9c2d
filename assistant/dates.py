"""Date expressions in a question, resolved against its ``as_of`` day into the window of
publication dates the answer is likely to come from.

"this week", "yesterday", "on Tuesday", "last month", "in March 2021", "June 12", "in
2020", "recently": dateparser finds and anchors them (relative to ``as_of``, preferring
the past); the granularity (day, week, month, year) sets the window's width. News
reports an event on the day or in the days after it, so a window reaches ``lag_days``
past the event, never past ``as_of``. No LLM call is involved.

A window is *current* when the expression points at the last few weeks ("this week",
"yesterday", "on Tuesday", "this month"): the chain then reads only articles from it
(``NEWSQA_STRICT_DATES``), since an older article on the same topic answers a different
week's question. Other windows ("in 2020", "since June", "a year ago", "recently") only
rank their articles higher: a question often names a past event that a later article
reports on.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONTH_ABBR = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
# What a real date expression contains; dateparser alone also matches "may", "second"...
_DATE_WORD = re.compile(
    rf"\b(?:{_MONTHS}|(?:{_MONTH_ABBR})\.?|{_WEEKDAYS}|today|tonight|yesterday|"
    r"week|weekend|month|year|ago|(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_CASED_MONTH = re.compile(rf"\b(?:{_MONTHS}|{_MONTH_ABBR})\b")  # "May" yes, "may" no
_RECENT = re.compile(r"\b(?:recent|recently|lately|latest)\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_DAY_NUMBER = re.compile(r"\b\d{1,2}(?:st|nd|rd|th)?\b")
CURRENT_DAYS = 31  # a window ending at as_of and no longer than this is current


@dataclass(frozen=True)
class DateWindow:
    start: date
    end: date
    expression: str  # the words it came from, for logs and tests
    current: bool = False  # about the weeks up to as_of: read only its articles


def question_window(
    question: str, as_of: date, *, lag_days: int = 7, recent_days: int = 14
) -> DateWindow | None:
    """The publication window a question's date expression points at, or None."""
    for text, anchor in _search(question, as_of):
        try:
            window = _event_window(text, anchor, as_of)
            if window is None:
                continue
            start, end = window
            if re.search(rf"\b(?:since|after)\s+{re.escape(text.strip())}", question, re.I):
                end = as_of
            end = min(end + timedelta(days=lag_days), as_of)
        except OverflowError:  # a date at the calendar's edge ("in 9999"): no window
            continue
        if start <= end:
            current = end == as_of and (as_of - start).days <= CURRENT_DAYS
            return DateWindow(start, end, text.strip(), current)
    found = _RECENT.search(question)
    if found:
        return DateWindow(as_of - timedelta(days=recent_days), as_of, found.group(0))
    return None


def _search(question: str, as_of: date) -> list[tuple[str, date]]:
    from dateparser.search import search_dates  # slow to import: only when asked

    if not _DATE_WORD.search(question):
        return []
    found = search_dates(question, languages=["en"], settings=_settings(as_of)) or []
    return [(text, moment.date()) for text, moment in found if _is_date_expression(text)]


@lru_cache(maxsize=64)
def _settings(as_of: date) -> dict[str, Any]:
    return {
        "RELATIVE_BASE": datetime(as_of.year, as_of.month, as_of.day),
        "PREFER_DATES_FROM": "past",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }


def _is_date_expression(text: str) -> bool:
    if not _DATE_WORD.search(text):
        return False
    words = _DATE_WORD.findall(text)
    months_only = all(re.fullmatch(rf"(?:{_MONTHS}|{_MONTH_ABBR})\.?", w, re.I) for w in words)
    return not months_only or bool(_CASED_MONTH.search(text))


def _event_window(text: str, anchor: date, as_of: date) -> tuple[date, date] | None:
    """When the expression's event happened: a day, a week, a month or a year."""
    lowered = text.lower()
    if "week" in lowered:
        if "last" in lowered or "past" in lowered or "ago" in lowered:
            return anchor - timedelta(days=7), anchor
        return as_of - timedelta(days=7), as_of  # "this week": the last seven days
    if "month" in lowered and "ago" not in lowered:
        return anchor.replace(day=1), _month_end(anchor)
    if "year" in lowered and "ago" not in lowered:
        return date(anchor.year, 1, 1), date(anchor.year, 12, 31)
    has_month = re.search(rf"\b(?:{_MONTHS}|{_MONTH_ABBR})\b", text, re.IGNORECASE)
    without_years = _YEAR.sub("", text)
    if has_month and not _DAY_NUMBER.search(without_years):
        if _YEAR.search(text) is None and anchor > as_of:
            anchor = anchor.replace(year=anchor.year - 1)
        return anchor.replace(day=1), _month_end(anchor)
    if not has_month and _YEAR.search(text) and not re.search(_WEEKDAYS, text, re.I):
        return date(anchor.year, 1, 1), date(anchor.year, 12, 31)
    if anchor > as_of:
        return None
    return anchor, anchor


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])
