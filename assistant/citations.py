"""Turn the model's raw text into an answer: refusal, valid ``[n]`` markers, quotes.

A marker that points at no shown source is removed, never returned. Each kept
citation gets the sentence of its source that shares the most content words with the
answer sentence that cites it, with that sentence's offsets in the article text.
"""

from __future__ import annotations

import re

from assistant.evidence import Source
from assistant.types import Citation
from assistant.words import content_words, words
from index.chunking import sentence_spans

_MARKER = re.compile(r"(\s*)\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


def is_refusal(text: str, phrase: str) -> bool:
    said, refusal = " ".join(words(text)), " ".join(words(phrase))
    return not said or refusal in said or said in refusal


def clean_markers(text: str, valid: set[int]) -> tuple[str, list[int]]:
    """Drop invalid numbers from markers (and empty markers); list the cited ones."""
    cited: list[int] = []

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(2))]
        good = [n for n in dict.fromkeys(numbers) if n in valid]
        cited.extend(n for n in good if n not in cited)
        return match.group(1) + "".join(f"[{n}]" for n in good) if good else ""

    return _MARKER.sub(keep, text).strip(), cited


def build_citations(
    text: str, cited: list[int], sources: list[Source], article_texts: dict[str, str]
) -> list[Citation]:
    by_n = {s.n: s for s in sources}
    citations = []
    for n in cited:
        source = by_n[n]
        claim = " ".join(s for s in _SENTENCE.findall(text) if f"[{n}]" in s) or text
        quote, start, end = _best_sentence(
            content_words(_MARKER.sub("", claim)), source, article_texts.get(source.article_id, "")
        )
        citations.append(
            Citation(
                n=n,
                article_id=source.article_id,
                title=source.title,
                url=source.url,
                published=source.published,
                source=source.source,
                quote=quote,
                start=start,
                end=end,
            )
        )
    return citations


def _best_sentence(
    words: set[str], source: Source, article: str
) -> tuple[str, int | None, int | None]:
    best: tuple[int, int, int] | None = None
    for passage in source.passages:
        for s, e in sentence_spans(passage.text):
            overlap = len(words & content_words(passage.text[s:e]))
            if overlap and (best is None or overlap > best[0]):
                best = (overlap, passage.start + s, passage.start + e)
    if best is None or not article:
        return "", None, None
    return article[best[1] : best[2]], best[1], best[2]
