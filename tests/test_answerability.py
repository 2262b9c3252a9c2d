"""The refusal check's probability from an OpenAI-style ``logprobs`` reply."""

import math

import pytest

from assistant.answerability import first_token_yes


def _logprobs(*alternatives: tuple[str, float]) -> dict[str, object]:
    top = [{"token": t, "logprob": math.log(p)} for t, p in alternatives]
    return {
        "content": [
            {"token": alternatives[0][0], "logprob": top[0]["logprob"], "top_logprobs": top}
        ]
    }


def test_yes_share_of_yes_and_no_over_their_spellings() -> None:
    reply = _logprobs(("Yes", 0.6), (" yes", 0.1), ("No", 0.2), ("The", 0.1))
    assert first_token_yes(reply) == pytest.approx(0.7 / 0.9)


def test_none_when_neither_word_or_no_logprobs() -> None:
    assert first_token_yes(_logprobs(("The", 0.9), ("A", 0.1))) is None
    assert first_token_yes(None) is None
    assert first_token_yes({"content": []}) is None
    assert first_token_yes({"content": [{"token": "Yes", "logprob": 0.0}]}) is None
