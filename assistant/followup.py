"""Follow-up questions made standalone, and answers that only restate the last turn.

A follow-up ("How long was it?") leans on the conversation. Before the check and the
answer, the chain has the model rewrite it as a question that names what it refers to
("How long was the record python captured in Florida?"): one short prompt with the
last exchanges, its reply cut at the end of the line. The search, the check, the
evidence and the answer prompt then see only that question (a rewrite that ``named``
nothing is searched with the question before it): no earlier answer stands in front of
the model, so nothing invites it to say that answer again. A question that does not lean
on the conversation (no pronoun or demonstrative, no "And ...?", a name or number the
conversation has not mentioned) is used exactly as written, with no model call.

``restates`` catches an answer that says again what the last exchange said instead of
answering the new question. Deciding the referent by rules (coreference) is left out:
the model does it better and the prompt is short.
"""

from __future__ import annotations

import re
from itertools import pairwise

from assistant.support import key_facts
from assistant.types import Turn
from assistant.words import ARTICLES, MARKER, STOPWORDS, content_words, words

# Words that point back into the conversation. "This" and "that" before a time word
# ("this week") are dates, not references.
_REFERRING = frozenset(
    "it its itself he him his himself she her hers herself they them their theirs "
    "themselves there that those these this such".split()
)
_TIME_WORDS = frozenset(
    "week weekend month year morning afternoon evening night day season".split()
)
# A person's name: capitalised words, possibly joined by initials or hyphens.
_NAME = re.compile(r"\b[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*)+")
_PERSON = re.compile(r"\b(?:he|she|him|his|her|hers)\b", re.IGNORECASE)
_POSSESSIVE = frozenset({"his", "hers"})
_OPENERS = ("and ", "but ", "so ", "also ", "what about", "how about", "what else", "why")
# What a rewrite may add, drop or change around the words the user asked with.
_GRAMMAR = ARTICLES | frozenset(
    "is are was were be been being do does did has have had will would can could "
    "what which who whom whose when where why how and but so also".split()
)
# Turns of the conversation shown to the rewrite: the last two exchanges cover a follow-up
# to the question before last; each turn is cut to keep the prompt short.
_TURNS = 4
_TURN_CHARS = 240
# Share of an answer's content words already said in the last exchange above which the
# answer is a restatement of it.
RESTATED_SHARE = 0.9


def leans_on_history(question: str, history: list[Turn]) -> bool:
    """True when the question cannot be understood without the conversation: it points
    back (a pronoun, "that", "And ...?"), or it names no subject of its own ("How much
    did the launch cost?"). A question that brings a name or number the conversation
    has not mentioned ("How many died in the earthquake in the Philippines?") is a new
    question and stands alone."""
    if not history:
        return False
    said = words(question)
    for i, word in enumerate(said):
        if word in _REFERRING:
            following = said[i + 1] if i + 1 < len(said) else ""
            if word in {"this", "that"} and following in _TIME_WORDS:
                continue
            return True
    if " ".join(said).startswith(_OPENERS):
        return True
    earlier = set(words(" ".join(t.content for t in history)))
    return not (named(question) - earlier)


def named(question: str) -> set[str]:
    """The names and numbers a question brings (its first word is capitalised because it
    starts the sentence, not as a name). A rewrite that names nothing ("How many people
    were injured by the earthquake?") has not made its follow-up standalone: the chain
    still searches it together with the question it follows."""
    return key_facts(question.split(maxsplit=1)[1] if " " in question.strip() else "")


def conversation(history: list[Turn]) -> str:
    lines = []
    for turn in history[-_TURNS:]:
        text = " ".join(MARKER.sub("", turn.content).split())[:_TURN_CHARS]
        lines.append(f"{'User' if turn.role == 'user' else 'Assistant'}: {text}")
    return "\n".join(lines)


def clean_rewrite(reply: str, question: str, history: list[Turn]) -> str:
    """The model's rewrite as a question, or the question as asked when the reply is
    not a rewrite of it: empty, an answer instead of a question, far too long, or an
    earlier question of the conversation said again."""
    text = reply.strip().splitlines()[0].strip() if reply.strip() else ""
    text = re.sub(r"^(?:rewritten |standalone )?question:\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^rewritten:\s*", "", text, flags=re.IGNORECASE)
    text = text.strip().strip('"“”').strip()
    if not text.endswith("?") or len(text) > 3 * len(question) + 200:
        return question
    said = content_words(text)
    for turn in history:
        if turn.role == "user" and said <= content_words(turn.content):
            return question
    if _asked(question) - set(words(text)):
        # The rewrite lost words of the question ("How old was she when she died?" ->
        # "When did Nichelle Nichols die?", "When did he take off?" -> "When did Mack
        # Rutherford become the youngest ...?"): it asks something else. The person it
        # named is still the referent: put the name in place of the question's he or she.
        return _with_person(question, text) or text
    return text


def _asked(question: str) -> set[str]:
    """The words a rewrite must keep: all but the references and the grammar a
    rewrite may change ("did he take off" -> "did Mack Rutherford take off"). Not the
    search's stop-words: "take", "off", "before" and "fire" are among those."""
    return _told(question, _REFERRING | _GRAMMAR)


def _with_person(question: str, rewrite: str) -> str | None:
    """The question with its first "he"/"she" (or "his"/"her"...) replaced by the one
    name the rewrite brings in, or None when there is no such pronoun or one name."""
    asked = set(words(question))
    names = {
        name
        for name in _NAME.findall(rewrite.split(maxsplit=1)[-1])
        if not set(words(name)) & asked
    }
    if len(names) != 1:
        return None
    match = _PERSON.search(question)
    if match is None:
        return None
    name = re.sub(r"'s?$", "", names.pop())
    pronoun = match.group(0).lower()
    if pronoun in _POSSESSIVE or (pronoun == "her" and _before_noun(question, match.end())):
        name += "'s"
    return question[: match.start()] + name + question[match.end() :]


def _before_noun(text: str, end: int) -> bool:
    """True when the word after ``end`` is a content word ("her husband", not "her?")."""
    following = words(text[end:])
    return bool(following) and following[0] not in STOPWORDS


def restates(answer: str, history: list[Turn], question: str) -> bool:
    """True when the answer says again what the last exchange said instead of answering
    the question: nearly all its content words were said there, or every number it
    adds to the question is one the previous answer gave, with the same word after it
    (names are no sign: an answer often adds who said it)."""
    last = history[-2:]
    previous = " ".join(t.content for t in last if t.role == "assistant")
    if not previous:
        return False
    new = _told(MARKER.sub(" ", answer)) - _told(question)
    said = _told(" ".join(t.content for t in last))
    if new and sum(w in said for w in new) / len(new) >= RESTATED_SHARE:
        return True
    asked = set(words(question))
    numbers = {pair for pair in _numbers(answer) if pair[0] not in asked}
    return bool(numbers) and numbers <= _numbers(previous)


def _numbers(text: str) -> set[tuple[str, str]]:
    """Each number with the word after it: "215 pounds" again is the same fact, a 17 in
    "August 17" is not the 17 of "17-year-old"."""
    said = words(MARKER.sub(" ", text))
    return {(w, nxt) for w, nxt in pairwise([*said, ""]) if w.isdigit()}


def _told(text: str, stopwords: frozenset[str] = STOPWORDS) -> set[str]:
    """The content words of a text, one-digit numbers included ("8 years")."""
    return content_words(text, stopwords) | {w for w in words(text) if w.isdigit()}
