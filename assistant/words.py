"""Words for matching text against text: one normalisation for the whole product.

Lower case, accents folded ("Carreño" = "Carreno"), curly quotes straightened,
thousands separators dropped ("1,000" = "1000") and number words as digits
("thirteen" = "13"). Citations, the key-fact check and the eval's answer scoring all
compare words through here, so they agree on what "the same word" means.
"""

from __future__ import annotations

import re
import unicodedata

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
ARTICLES = frozenset({"a", "an", "the"})
# Words too common to count as shared content between a claim and a sentence.
FILLER = ARTICLES | frozenset(
    (
        "of to in on at and or for by with from as is was were be been are that this it "
        "its he she they said says"
    ).split()
)
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("’", "'").replace("%", " percent").replace("&", " and ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return [NUMBER_WORDS.get(w, w) for w in _WORD.findall(text)]


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in FILLER}
