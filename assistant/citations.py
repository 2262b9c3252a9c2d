"""Is the model's reply a refusal? (Markers and quotes are ``verify.py``'s job.)"""

from __future__ import annotations

from assistant.words import words


def is_refusal(text: str, phrase: str) -> bool:
    said, refusal = " ".join(words(text)), " ".join(words(phrase))
    return not said or refusal in said or said in refusal
