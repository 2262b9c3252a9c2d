"""Score answers and retrieval: pure functions over one result or a list of results.

Answer correctness is lexical: the answer must name the gold answer after
normalisation (case, punctuation, articles, "&", number words vs digits, thousands
separators); a long gold answer needs most of its content words; in multiple-choice
mode an answer that also names another of the choices is wrong. No LLM judge here:
numbers stay reproducible.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from assistant.words import ARTICLES, FILLER, words

LONG_ANSWER_WORDS = 5  # gold answers longer than this are matched by content words
LONG_ANSWER_SHARE = 0.6


def normalise(text: str) -> list[str]:
    return [w for w in words(text) if w not in ARTICLES]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    if not needle:
        return False
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def names(answer: str, gold: str) -> bool:
    said, want = normalise(answer), normalise(gold)
    if _contains(said, want):
        return True
    content = [w for w in want if w not in FILLER]
    if len(want) > LONG_ANSWER_WORDS and content:
        return sum(w in said for w in content) / len(content) >= LONG_ANSWER_SHARE
    return False


def is_correct(
    answer: str, refused: bool, gold: str | None, answerable: bool, choices: Sequence[str] = ()
) -> bool | None:
    """None when the item has no gold answer to compare with.

    ``choices`` are the other options the model was shown (multiple-choice mode): an
    answer that names one of them besides the gold one is hedging and wrong. In open
    mode pass none: the model never saw the choices, so naming one is incidental.
    """
    if not answerable:
        return refused
    if gold is None:
        return None
    if refused or not names(answer, gold):
        return False
    gold_words = normalise(gold)
    others = [
        c for c in choices if normalise(c) != gold_words and not _contains(gold_words, normalise(c))
    ]
    return not any(names(answer, other) for other in others)


def rank_of_gold(
    retrieved: Sequence[str], gold: Iterable[str], aliases: dict[str, set[str]]
) -> int | None:
    """1-based rank of the first retrieved article that is (an alias of) a gold one."""
    wanted = set(gold)
    for rank, article_id in enumerate(retrieved, start=1):
        if ({article_id} | aliases.get(article_id, set())) & wanted:
            return rank
    return None


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def summarise(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """All metrics over the results of one run (results as written to results.jsonl)."""
    done = [r for r in results if not r.get("error")]
    answerable = [r for r in done if r["answerable"]]
    with_gold = [r for r in answerable if r["gold_sources"]]
    ranks = [r["gold_rank"] for r in with_gold]
    scored = [r for r in done if r.get("correct") is not None]
    answered = [r for r in answerable if not r["refused"]]
    cited = [c for r in answered if r["gold_sources"] for c in r["citation_gold"]]
    right = [r for r in answerable if r.get("correct")]
    answerable_scored = [r for r in answerable if r.get("correct") is not None]
    refused = [r for r in done if r["refused"]]
    unanswerable = [r for r in done if not r["answerable"]]
    quotes = [q for r in answered for q in r.get("citation_quoted", [])]
    totals = [r["latency_s"] for r in done if r.get("latency_s") is not None]
    ttfts = [r["ttft_s"] for r in done if r.get("ttft_s") is not None]
    prompts = [r["prompt_tokens"] for r in done if r.get("prompt_tokens")]
    judged = any("judged" in r for r in scored)  # after python -m eval judge
    answer_ranks = [r["answer_rank"] for r in answerable if "answer_rank" in r]
    shown = [r["answer_shown"] for r in answerable if "answer_shown" in r]
    return {
        "questions": len(results),
        "errors": len(results) - len(done),
        "accuracy": _ratio(sum(bool(r["correct"]) for r in scored), len(scored)),
        "accuracy_answerable": _ratio(len(right), len(answerable_scored)),
        "accuracy_judged": _ratio(
            sum(bool(r.get("judged", r["correct"])) for r in scored), len(scored)
        )
        if judged
        else None,
        "hits_at_1": _ratio(sum(1 for k in ranks if k and k <= 1), len(with_gold)),
        "hits_at_5": _ratio(sum(1 for k in ranks if k and k <= 5), len(with_gold)),
        "mrr_at_10": _ratio(sum(1 / k for k in ranks if k and k <= 10), len(with_gold)),
        "answer_hits_at_5": _ratio(sum(1 for k in answer_ranks if k and k <= 5), len(answer_ranks)),
        # Passage recall: the answer is in what the model reads, not only retrieved.
        "passage_recall": _ratio(sum(shown), len(shown)),
        "citation_precision": _ratio(sum(cited), len(cited)),
        "grounded_right_answers": _ratio(
            sum(any(r["citation_gold"]) for r in right if r["gold_sources"]),
            sum(1 for r in right if r["gold_sources"]),
        ),
        "verified_quote_rate": _ratio(sum(quotes), len(quotes)),
        "refusal_precision": _ratio(sum(not r["answerable"] for r in refused), len(refused)),
        "refusal_recall": _ratio(
            sum(r["refused"] for r in unanswerable),
            sum(1 for r in unanswerable if r.get("correct") is not None),
        ),
        # Answerable questions refused: the cost of refusing too readily.
        "answerable_refused": _ratio(sum(r["refused"] for r in answerable), len(answerable)),
        "latency_p50_s": percentile(totals, 50),
        "latency_p95_s": percentile(totals, 95),
        "ttft_p50_s": percentile(ttfts, 50),
        "ttft_p95_s": percentile(ttfts, 95),
        "prompt_tokens_p50": percentile(prompts, 50),
    }
