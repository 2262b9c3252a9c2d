"""The real model keeps the state of a prompt beginning that comes back (a follow-up's
rewrite instructions, between other prompts) and answers exactly as without it."""

from __future__ import annotations

import pytest

from assistant.llamacpp import LlamaCppChat, _load
from assistant.models import get_chat_model
from settings import get_settings

pytestmark = [pytest.mark.llm, pytest.mark.slow]

SYSTEM = "You are a helpful assistant."
FIXED = (
    "Rewrite the user's last question so that it can be understood without the "
    "conversation: name the person, thing or event it refers to, taken from the earlier "
    "questions. Do not answer it.\n\nExample:\nUser: How heavy was the largest pumpkin at "
    "the state fair?\nAssistant: It weighed 2,500 pounds.\nUser: Who grew it?\nRewritten: "
    "Who grew the largest pumpkin at the state fair?\n\nConversation:\n"
)
TURNS = [
    ("Who won the Stanley Cup this year?", "Where did they play the final game?"),
    ("How heavy was the python caught in Florida?", "How long was it?"),
    ("Which automaker recalled 2.9 million vehicles?", "Why did it recall them?"),
    ("When does Brittney Griner's trial start?", "When was she arrested?"),
]
# Another prompt in between, as the check and the answer come between two rewrites.
OTHER = [("system", SYSTEM), ("human", "Sources:\n[1] Markets opened higher.\n\nSay ok.")]


def _rewrites(llm: LlamaCppChat) -> list[tuple[str, float]]:
    replies = []
    for first, follow_up in TURNS:
        prompt = [("system", SYSTEM), ("human", f"{FIXED}User: {first}\nUser: {follow_up}")]
        reply = llm.invoke(prompt, stop=["\n"], max_tokens=16)
        replies.append((str(reply.content), llm.yes_probability(prompt)))
        llm.invoke(OTHER, max_tokens=2)
    return replies


def test_a_recurring_beginning_is_read_once_and_answers_stay_the_same() -> None:
    llm = get_chat_model(get_settings(), progress=False)
    assert isinstance(llm, LlamaCppChat)
    cache = _load(llm.model_path, llm.n_ctx, llm.n_threads).prefixes
    # The loaded model is the session's: forget the rewrites of earlier tests, which
    # begin like these and would make the first one here start from a kept state.
    cache.states.clear()
    cache.recent.clear()
    llm.keep_prefixes = False
    plain = _rewrites(llm)
    llm.keep_prefixes = True
    restored, saved = cache.restored, cache.saved_tokens
    kept = _rewrites(llm)
    assert [text for text, _ in kept] == [text for text, _ in plain]
    # llama.cpp's numbers move a little with how a prompt is split into batches, kept
    # states or not (the first rewrite here, read after another prompt instead of from
    # an empty cache, moved by 0.01); a wrong state would not be this close.
    assert [p for _, p in kept] == pytest.approx([p for _, p in plain], abs=0.05)
    # The second rewrite shares its beginning with the first: that state is kept. The
    # third and fourth start from it (their yes/no pass reuses the live cache anyway).
    assert cache.restored - restored == len(TURNS) - 2
    assert cache.saved_tokens - saved >= (len(TURNS) - 2) * 48
