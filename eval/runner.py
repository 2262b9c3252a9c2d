"""Run an eval set through a chain and write one result per question as it finishes.

The chain is the one the chat uses (or anything with the same ``stream``/``retrieve``,
such as the benchmark's tutorial pipeline). Results are appended to ``results.jsonl``
one whole line at a time and synced to disk, so an interrupted run resumes where it
stopped, even one killed mid-write (its torn last line is dropped); a question that
raised is recorded with its error and retried on resume.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from langchain_core.documents import Document
from tqdm import tqdm

from assistant.evidence import render_sources
from assistant.types import Answer, Question, final_answer
from eval.scoring import is_correct, names, rank_of_gold
from eval.sets import EvalItem
from index.errors import NewsqaError


class Answerer(Protocol):
    def stream(self, input: Question) -> Iterator[str | Answer]: ...
    def retrieve(self, input: Question) -> list[Document]: ...


class ResultsError(NewsqaError):
    """A results.jsonl line that is not a result (and not the torn end of a killed run)."""


def load_results(path: Path) -> list[dict[str, Any]]:
    """The results written so far. A line counts once its newline is written: the torn
    last line of a run killed mid-write is left out (and gone once the run resumes)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1].decode("utf-8", errors="replace")
    results = []
    for number, line in enumerate(whole.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise _not_a_result(path, number, f"invalid JSON: {error.msg}") from None
        if not isinstance(record, dict) or "id" not in record:
            raise _not_a_result(path, number, "no id")
        results.append(record)
    return results


def _not_a_result(path: Path, number: int, why: str) -> ResultsError:
    return ResultsError(
        f"{path}:{number}: not a result ({why}); delete the line to answer its question again"
    )


def write_results(path: Path, results: Iterable[dict[str, Any]]) -> None:
    """Replace the file in one step (a new file renamed over it): a kill while rewriting
    leaves the old file or the new one, never half of either."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as sink:
        sink.writelines(_line(r) for r in results)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(partial, path)


def _append_result(sink: BinaryIO, result: dict[str, Any]) -> None:
    """One whole line in one write, on disk before the next question starts."""
    sink.write(_line(result))
    sink.flush()
    os.fsync(sink.fileno())


def _line(result: dict[str, Any]) -> bytes:
    return (json.dumps(result) + "\n").encode()


def run_items(
    chain: Answerer,
    items: list[EvalItem],
    out: Path,
    *,
    aliases: dict[str, set[str]],
    with_choices: bool = False,
    retrieval_only: bool = False,
    collection: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Answer every item not already done in ``out/results.jsonl``; return all results."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.jsonl"
    done = {r["id"]: r for r in load_results(path) if not r.get("error")}
    write_results(path, done.values())
    todo = [item for item in items if item.id not in done]
    right = sum(bool(r.get("correct")) for r in done.values())
    scored = sum(r.get("correct") is not None for r in done.values())
    bar = tqdm(todo, desc="eval", unit="q", disable=not progress, initial=0)
    with path.open("ab") as sink:
        for item in bar:
            started = time.perf_counter()
            result = _one(chain, item, aliases, with_choices, retrieval_only, collection)
            result.setdefault("latency_s", round(time.perf_counter() - started, 3))
            _append_result(sink, result)
            done[item.id] = result
            if result.get("correct") is not None:
                scored += 1
                right += bool(result["correct"])
            bar.set_postfix(
                acc=f"{right / scored:.2f}" if scored else "-", last=f"{result['latency_s']:.1f}s"
            )
    return [done[item.id] for item in items if item.id in done]


def _one(
    chain: Answerer,
    item: EvalItem,
    aliases: dict[str, set[str]],
    with_choices: bool,
    retrieval_only: bool,
    collection: str | None,
) -> dict[str, Any]:
    question = item.to_question(with_choices, collection)
    record: dict[str, Any] = {
        "id": item.id,
        "question": item.question,
        "gold_answer": item.answer,
        "answerable": item.answerable,
        "gold_sources": item.gold_sources,
        "group": item.group,
    }
    # Retrieval-only runs also rank the first article that names the answer.
    bears_answer = retrieval_only and item.answerable and bool(item.answer)
    named: int | None = None
    shown: bool | None = None
    drafted: list[str] = []  # the model's streamed draft, before the checks
    try:
        if retrieval_only:
            started = time.perf_counter()
            docs = chain.retrieve(question)
            elapsed = time.perf_counter() - started
            if bears_answer:
                named = answer_rank(docs, str(item.answer))
                shown = answer_shown(chain, question, docs, str(item.answer))
            answer = Answer(
                answer="",
                refused=False,
                retrieved=list(dict.fromkeys(d.metadata["article_id"] for d in docs)),
            )
            answer.timings.retrieval_s = answer.timings.total_s = elapsed
        else:
            answer = final_answer(chain.stream(question), on_text=drafted.append)
    except Exception as error:  # recorded, and retried on resume
        record.update(
            error=f"{type(error).__name__}: {error}",
            refused=False,
            retrieved=[],
            citations=[],
            correct=None,
        )
        return record
    gold = set(item.gold_sources)
    record.update(
        answer=answer.answer,
        refused=answer.refused,
        citations=[c.article_id for c in answer.citations],
        citation_gold=[
            bool(({c.article_id} | aliases.get(c.article_id, set())) & gold)
            for c in answer.citations
        ],
        citation_quoted=[bool(c.quote) for c in answer.citations],
        quotes=[c.quote for c in answer.citations],
        draft="".join(drafted),
        retrieved=answer.retrieved,
        gold_rank=rank_of_gold(answer.retrieved, gold, aliases),
        latency_s=round(answer.timings.total_s, 3),
        retrieval_s=round(answer.timings.retrieval_s, 4),
        ttft_s=None if answer.timings.ttft_s is None else round(answer.timings.ttft_s, 3),
        prompt_tokens=answer.timings.prompt_tokens,
        standalone_question=answer.standalone_question,
        standalone_s=round(answer.timings.standalone_s, 3),
        confidence=answer.confidence,
        correct=None
        if retrieval_only
        else is_correct(
            answer.answer,
            answer.refused,
            item.answer,
            item.answerable,
            item.choices if with_choices else (),
        ),
    )
    if bears_answer:  # the gold article counts as bearing the answer too
        record["answer_rank"] = min((k for k in (named, record["gold_rank"]) if k), default=None)
        if shown is not None:
            record["answer_shown"] = shown
    return record


def answer_shown(
    chain: Answerer, question: Question, docs: list[Document], gold: str
) -> bool | None:
    """Whether the passages the model would read (the chain's ``evidence``, within its
    token budget) name the gold answer; None for a chain that cannot say (the
    tutorial pipeline shows whole chunks)."""
    evidence = getattr(chain, "evidence", None)
    if evidence is None:
        return None
    return names(render_sources(evidence(question, docs)), gold)


def answer_rank(docs: list[Document], gold: str) -> int | None:
    """1-based rank of the first retrieved article whose retrieved text (title and
    chunks) names the gold answer. The record's ``answer_rank`` is the better of this
    and the gold article's rank: retrieval that finds the answer in another outlet's
    report of the same story counts there, not in Hits@k."""
    texts: dict[str, str] = {}
    for doc in docs:
        article_id = doc.metadata["article_id"]
        texts.setdefault(article_id, doc.metadata.get("title", ""))
        texts[article_id] += " " + doc.page_content
    for rank, text in enumerate(texts.values(), start=1):
        if names(text, gold):
            return rank
    return None
