"""The product's text rules: what a word is, which words carry no content, what a
citation marker looks like. Citations, the key-fact check, evidence selection, keyword
search and the eval's answer scoring all take them from here, so they agree.

Words: lower case, accents folded ("Carreño" = "Carreno"), curly quotes straightened,
thousands separators dropped ("1,000" = "1000") and number words as digits
("thirteen" = "13"), so all compare "the same word" alike. The word lists differ on
purpose, one per use; the FTS5 keyword index tokenises on its own (``index/catalog.py``)
and is handed ``STOPWORDS`` by the retriever.
"""

from __future__ import annotations

import re
import unicodedata

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_TENS = {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
}
NUMBER_WORDS = {word: str(i) for i, word in enumerate(_UNITS)} | _TENS
# Left out when an answer is compared with a gold answer (eval scoring).
ARTICLES = frozenset({"a", "an", "the"})
# Words too common to count as shared content between a claim and a sentence.
FILLER = ARTICLES | frozenset(
    (
        "of to in on at and or for by with from as is was were be been are that this it "
        "its he she they said says"
    ).split()
)
# Left out of keyword search and of the word overlap that picks evidence sentences.
STOPWORDS = frozenset(ENGLISH_STOP_WORDS)
# What says nothing about a sentence's topic ("said" is in every news story).
TOPIC_STOPWORDS = STOPWORDS | FILLER
# Capitalised words that carry no fact of their own (the key-fact check).
FACTLESS_CAPITALS = frozenset(
    (
        "the a an in on at of and or but for to from by with as it its he she they we i "
        "you his her their this that these those there here according yes no not also "
        "however after before during while when where what who which why how source "
        "sources article articles answer question"
    ).split()
)

# A citation marker as the product writes it: "[1]".
MARKER = re.compile(r"\[(\d+)\]")
# Markers as a model may write them: "[1]", "[1, 2]", "[1; 3]"; see ``marker_numbers``.
MARKER_GROUP = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("’", "'").replace("%", " percent").replace("&", " and ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return [NUMBER_WORDS.get(w, w) for w in _WORD.findall(text)]


def claim_words(text: str) -> set[str]:
    """The words a source must share with a claim: all but ``FILLER``, so "5" counts."""
    return {w for w in words(text) if w not in FILLER}


def content_words(text: str, stopwords: frozenset[str] = STOPWORDS) -> set[str]:
    """The words that say what a text is about: no stop-words, none of one letter."""
    return {w for w in words(text) if w not in stopwords and len(w) > 1}


def marker_numbers(group: str) -> list[int]:
    """The numbers in a ``MARKER_GROUP`` match's group: "1, 2" -> [1, 2]."""
    return [int(n) for n in re.split(r"\s*[,;]\s*", group)]
