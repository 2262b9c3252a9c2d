"""What an article is once loaded: text plus the metadata citations need.

Every loader produces :class:`Article`; every later stage (chunking, the catalog, the
answering chain) reads only this. Parsing of the input formats lives in ``formats.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


@dataclass(frozen=True)
class Article:
    id: str
    text: str
    title: str
    published: date | None = None
    source: str = ""
    url: str = ""
    authors: tuple[str, ...] = ()
    # Where it came from: (path, key) with key "" for one-article files and the record
    # id or line number for JSONL. An article can have several (the same text twice).
    origin: tuple[str, str] = ("", "")

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that ends up in the index changes."""
        parts = [
            self.text,
            self.title,
            self.published.isoformat() if self.published else "",
            self.source,
            self.url,
            "|".join(self.authors),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    @property
    def text_hash(self) -> str:
        """Identity of the story (title and text, whitespace aside), wherever it came from:
        the same story under two paths or ids is stored once. The title counts because
        scraped pages can share boilerplate text yet be different stories."""
        story = " ".join(f"{self.title}\n{self.text}".split())
        return hashlib.sha256(story.encode()).hexdigest()


def short_title(text: str, limit: int = 80) -> str:
    """A title for an article that has none: its first sentence, cut at a word."""
    first = " ".join(text.strip().split("\n", 1)[0].split())
    first = _SENTENCE_END.split(first, maxsplit=1)[0]
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0].rstrip(",;:-—")
    return cut + "…"
