"""A second, lenient accuracy: a chat model judges the answers the strict scorer rejects.

The lexical scorer (``scoring.py``) wants the gold answer's words, so right answers in
other words fail it ("Boris Johnson" for "UK Prime Minister Boris Johnson", "tied the
knot" for "They got married"). ``python -m eval judge SET OUT`` shows each answered,
strictly wrong answer to a model with the question and the gold answer, stores the
model's P(yes) as ``judge_p`` and sets ``judged`` (right by the judge: strictly right,
or P(yes) >= ``ACCEPT``). Refusals and unanswerable questions keep their strict score.
The report lists every answer the judge accepted so a reader can audit it. The judge is
the configured model (``NEWSQA_LLM``); the default 1.5B one misjudges both ways (some
wrong answers accepted, some right ones rejected: BENCHMARKS.md), so the strict
``accuracy`` stays the number to compare and ``accuracy_judged`` says how much of the
gap is wording.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from assistant.answerability import yes_probability
from eval.sets import EvalItem

ACCEPT = 0.65  # at 0.5 the 1.5B judge accepted 6 wrong answers of a dev run (BENCHMARKS.md)
PROMPT = (Path(__file__).resolve().parent.parent / "prompts" / "judge.txt").read_text().strip()


def judge_messages(question: str, gold: str, answer: str) -> list[tuple[str, str]]:
    text = PROMPT.format(question=question, gold=gold, answer=" ".join(answer.split()))
    return [("human", text)]


def judge_results(
    llm: BaseChatModel, items: dict[str, EvalItem], results: Iterable[dict[str, Any]]
) -> int:
    """Fill ``judge_p``/``judged`` in place; returns how many answers were sent to the
    judge. Answers judged before (same answer text) are not judged again."""
    asked = 0
    for result in results:
        item = items.get(result["id"])
        if item is None or result.get("error") or result.get("correct") is None:
            continue
        if result["correct"] or result["refused"] or not item.answerable or not item.answer:
            result.pop("judge_p", None)
            result["judged"] = bool(result["correct"])
            continue
        if result.get("judged_answer") != result["answer"]:
            result["judge_p"] = round(
                yes_probability(llm, judge_messages(item.question, item.answer, result["answer"])),
                4,
            )
            result["judged_answer"] = result["answer"]
            asked += 1
        result["judged"] = result["judge_p"] >= ACCEPT
    return asked
