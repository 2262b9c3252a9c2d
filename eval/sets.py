"""Read an eval set: JSONL, one question per line.

The minimum is ``{"question": ..., "answer": ...}``; optional fields are ``id``,
``choices``, ``date`` (the question's "today", passed to the chain as ``as_of``),
``gold_sources``, ``answerable`` (false: the right behaviour is to refuse), ``history``
and ``category``. Unknown fields are kept. A bad line is an error naming the line.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assistant.types import Question, Turn
from index.errors import NewsqaError


class SetError(NewsqaError):
    pass


class EvalItem(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    question: str
    answer: str | None = None
    choices: list[str] = Field(default_factory=list)
    date: dt.date | None = None
    gold_sources: list[str] = Field(default_factory=list)
    answerable: bool = True
    history: list[Turn] = Field(default_factory=list)
    category: str | None = None

    @field_validator("gold_sources")
    @classmethod
    def files_by_path(cls, sources: list[str]) -> list[str]:
        """A gold source that names a file (relative to where the command runs, like
        ``--corpus``), or a line of one (``feed.jsonl#3``), is that file's article id:
        articles from files are identified by their absolute paths."""
        return [_file_id(source) for source in sources]

    @property
    def group(self) -> str:
        """What the report breaks results down by."""
        return self.category or ("answerable" if self.answerable else "unanswerable")

    def to_question(self, with_choices: bool, collection: str | None = None) -> Question:
        text = self.question
        if with_choices and self.choices:
            text += " Choices: " + "; ".join(self.choices) + "."
        return Question(question=text, history=self.history, as_of=self.date, collection=collection)


def _file_id(source: str) -> str:
    name, mark, line = source.rpartition("#")
    if not (mark and line.isdigit()):
        name, mark, line = source, "", ""
    try:
        found = Path(name).is_file()
    except OSError:  # not a path at all: a long URL, say
        return source
    return str(Path(name).resolve()) + mark + line if found else source


def load_set(path: Path) -> list[EvalItem]:
    items: list[EvalItem] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SetError(f"{path}: cannot read: {error}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
            if not isinstance(record, dict):
                raise SetError(f"{path}:{number}: expected a JSON object")
            record.setdefault("id", f"q{number}")
            record["id"] = str(record["id"])
            item = EvalItem.model_validate(record)
        except json.JSONDecodeError as error:
            raise SetError(f"{path}:{number}: invalid JSON: {error.msg}") from None
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise SetError(f"{path}:{number}: field {field!r}: {first['msg']}") from None
        if item.answer is None and item.answerable:
            raise SetError(
                f"{path}:{number}: field 'answer' is required for an answerable question"
            )
        if item.id in seen:
            raise SetError(f"{path}:{number}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise SetError(f"{path}: no questions")
    return items
