"""Is an answer supported by what the model was shown? A check on key facts.

A small model that "knows" an answer gives it even when the sources are silent (ask it
for the capital of Australia). Names and numbers are what such an answer hangs on, so
each one the answer adds to the question must appear in a shown source. When fewer
than half of them do, the answer is treated as unsupported and the chain refuses.
Dates the model derives ("Thursday" -> "March 18") keep an answer whose other facts are
in the sources, which is why it is a share and not all-or-nothing.
"""

from __future__ import annotations

import re

from assistant.words import FACTLESS_CAPITALS, MARKER, words

_TOKEN = re.compile(r"\d[\d,.]*\d|\d|[A-ZÀ-Þ][\w'’-]*")


def key_facts(text: str) -> set[str]:
    """Numbers and capitalised words of the text, normalised; citation markers excluded."""
    text = MARKER.sub(" ", text)
    facts = {
        w for token in _TOKEN.findall(text) for w in words(token) if w not in FACTLESS_CAPITALS
    }
    facts |= {w for w in words(text) if w.isdigit()}  # "thirteen" counts as 13
    return facts


def _vocabulary(text: str) -> set[str]:
    return set(words(text))


def support_share(answer: str, shown: str, question: str) -> float:
    """Share of the answer's new key facts (not already in the question) that appear in
    the shown sources; 1.0 when the answer adds no name or number."""
    facts = key_facts(answer) - _vocabulary(question)
    if not facts:
        return 1.0
    known = _vocabulary(shown)
    return sum(fact in known for fact in facts) / len(facts)
