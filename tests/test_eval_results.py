"""results.jsonl survives a run killed mid-write: the torn last line is dropped on resume."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document

from assistant.types import Answer, Question
from eval.runner import ResultsError, load_results, run_items
from eval.sets import EvalItem


class _Retriever:
    """Retrieval-only stand-in for the chain: one article per question, counted."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def retrieve(self, input: Question) -> list[Document]:
        self.asked.append(input.question)
        return [Document(page_content="The bridge reopened.", metadata={"article_id": "a1"})]

    def stream(self, input: Question) -> Iterator[str | Answer]:
        raise AssertionError("a retrieval-only run does not generate")


def _items(n: int) -> list[EvalItem]:
    return [
        EvalItem(id=f"q{i}", question=f"Question {i}?", answer="bridge", gold_sources=["a1"])
        for i in range(n)
    ]


def _run(out: Path, retriever: _Retriever) -> list[dict[str, object]]:
    return run_items(retriever, _items(3), out, aliases={}, retrieval_only=True, progress=False)


def test_a_torn_last_line_is_dropped_and_its_question_answered_again(tmp_path: Path) -> None:
    _run(tmp_path, _Retriever())
    path = tmp_path / "results.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    # Killed while writing the third result: half of its line is on disk.
    path.write_bytes(lines[0] + lines[1] + lines[2][:40])
    assert [r["id"] for r in load_results(path)] == ["q0", "q1"]
    retriever = _Retriever()
    results = _run(tmp_path, retriever)
    assert retriever.asked == ["Question 2?"]
    assert [r["id"] for r in results] == ["q0", "q1", "q2"]
    rows = path.read_text().split("\n")
    assert rows[-1] == "" and [json.loads(row)["id"] for row in rows[:-1]] == ["q0", "q1", "q2"]


def test_a_line_without_its_newline_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    whole = json.dumps({"id": "q0", "answer": ""}) + "\n"
    path.write_text(whole + json.dumps({"id": "q1", "answer": ""}))
    assert [r["id"] for r in load_results(path)] == ["q0"]


def test_a_damaged_line_before_the_end_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "q0"}\n{"id": "q1", "ans\n{"id": "q2"}\n')
    with pytest.raises(ResultsError, match=r"results\.jsonl:2: not a result \(invalid JSON"):
        load_results(path)
    path.write_text('{"id": "q0"}\n[1, 2]\n')
    with pytest.raises(ResultsError, match=r"results\.jsonl:2: not a result \(no id\)"):
        load_results(path)
