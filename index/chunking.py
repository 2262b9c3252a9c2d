"""Split an article into short chunks of whole sentences, with offsets into its text.

Sentences come from blingfire inside each paragraph; chunks pack consecutive sentences
up to a soft size and never overlap, so every sentence is embedded once. A sentence
longer than the size stays whole in a chunk of its own. Chunks remember their
character span in the article so citations can point back into it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import blingfire

from index.articles import Article

_PARAGRAPH = re.compile(r"[^\n]+")


@dataclass(frozen=True)
class Chunk:
    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence; a line break always ends a sentence."""
    spans: list[tuple[int, int]] = []
    for para in _PARAGRAPH.finditer(text):
        if not para.group().strip():
            continue
        _, offsets = blingfire.text_to_sentences_and_offsets(para.group())
        spans.extend((para.start() + s, para.start() + e) for s, e in offsets)
    return spans


def chunk_article(article: Article, size: int) -> list[Chunk]:
    spans = sentence_spans(article.text)
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for span in spans:
        if current:
            length = span[1] - current[0][0]
            paragraph_break = "\n" in article.text[current[-1][1] : span[0]]
            filled = current[-1][1] - current[0][0]
            if length > size or (paragraph_break and filled > size * 3 // 4):
                groups.append(current)
                current = []
        current.append(span)
    if current:
        groups.append(current)
    prefix = hashlib.sha1(article.id.encode()).hexdigest()[:16]
    version = article.content_hash[:8]
    return [
        Chunk(
            id=f"{prefix}-{version}-{i}",
            article_id=article.id,
            index=i,
            start=group[0][0],
            end=group[-1][1],
            text=article.text[group[0][0] : group[-1][1]],
        )
        for i, group in enumerate(groups)
    ]
