"""Load and render the prompt files in ``prompts/``: the one place prompts are read.

``context.txt`` (the numbered sources, then the question) is followed by one of two
instructions: ``check.txt`` asks whether the sources answer the question (a yes/no
whose probability decides refusal), ``answer.txt`` asks for the cited answer. Both
share the context verbatim, so llama.cpp evaluates it once and the second prompt costs
only its instruction. Measured on the default 1.5B model: instructions placed after the
question work far better than a system prompt, and a "reply exactly <refusal>" rule
makes it refuse answerable questions, so refusal is decided by the check instead.
``standalone.txt`` rewrites a follow-up as a question that stands on its own;
``claim.txt`` asks whether one cited sentence states an answer sentence.
Loading checks each file's placeholders, so a wording change cannot drop the sources.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from index.errors import NewsqaError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_EXPECTED = {
    "system.txt": set(),
    "context.txt": {"sources", "question"},
    "check.txt": set(),
    "answer.txt": set(),
    "refusal.txt": set(),
    "standalone.txt": {"conversation", "question"},
    "claim.txt": {"claim", "text"},
}


class PromptError(NewsqaError):
    pass


Messages = list[tuple[str, str]]


@dataclass(frozen=True)
class Prompts:
    system: str
    context: str
    check: str
    answer: str
    refusal: str
    standalone: str
    claim: str

    def _messages(self, sources: str, question: str, instruction: str) -> Messages:
        context = self.context.format(sources=sources, question=question)
        return [("system", self.system), ("human", f"{context}\n\n{instruction}")]

    def check_messages(self, *, sources: str, question: str) -> Messages:
        return self._messages(sources, question, self.check)

    def answer_messages(self, *, sources: str, question: str) -> Messages:
        return self._messages(sources, question, self.answer)

    def standalone_messages(self, *, conversation: str, question: str) -> Messages:
        """The rewrite of a follow-up as a standalone question (``assistant/followup.py``)."""
        text = self.standalone.format(conversation=conversation, question=question)
        return [("system", self.system), ("human", text)]

    def claim_messages(self, *, claim: str, text: str) -> Messages:
        """Whether ``text`` supports the answer sentence ``claim`` (``assistant/claims.py``)."""
        return [("system", self.system), ("human", self.claim.format(claim=claim, text=text))]


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
        texts[name.removesuffix(".txt")] = text
    return Prompts(**texts)
