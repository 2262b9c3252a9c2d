"""Load and render the prompt files in ``prompts/``: the one place prompts are read.

The files are plain text with ``{placeholders}``; loading checks that each file uses
exactly the placeholders the chain fills, so a wording change cannot silently drop the
sources or the refusal rule. Measured on the default 1.5B model: instructions placed
after the question, with an exact refusal phrase, are followed far better than a
system prompt alone, so the rules live at the end of ``answer.txt``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_EXPECTED = {
    "system.txt": set(),
    "answer.txt": {"sources", "question", "today", "refusal"},
    "refusal.txt": set(),
}


class PromptError(ValueError):
    pass


@dataclass(frozen=True)
class Prompts:
    system: str
    answer: str
    refusal: str

    def messages(self, *, sources: str, question: str, today: str) -> list[tuple[str, str]]:
        user = self.answer.format(
            sources=sources, question=question, today=today, refusal=self.refusal
        )
        return [("system", self.system), ("human", user)]


def load_prompts(directory: Path = PROMPTS_DIR) -> Prompts:
    texts = {}
    for name, expected in _EXPECTED.items():
        path = directory / name
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise PromptError(f"cannot read prompt {path}: {error.strerror}") from None
        found = {field for _, field, _, _ in string.Formatter().parse(text) if field}
        if found != expected:
            raise PromptError(
                f"{path}: placeholders {sorted(found)} but the chain fills {sorted(expected)}"
            )
        texts[name] = text
    return Prompts(texts["system.txt"], texts["answer.txt"], texts["refusal.txt"])
