"""The text rules in one place: word sets, citation markers, and reading a stream's Answer."""

from __future__ import annotations

import pytest

from assistant.types import Answer, final_answer
from assistant.words import (
    MARKER,
    MARKER_GROUP,
    STOPWORDS,
    TOPIC_STOPWORDS,
    claim_words,
    content_words,
    marker_numbers,
)


def test_claim_words_keep_one_letter_numbers_and_drop_only_filler() -> None:
    # "5" is the fact a claim hangs on; "about" is no filler, so it must be matched too.
    assert claim_words("He said 5 of the officers died about noon") == {
        "5",
        "officers",
        "died",
        "about",
        "noon",
    }


def test_content_words_drop_stopwords_and_one_letter_words() -> None:
    text = "The mayor said 5 officers died in Coatepec Harinas about noon"
    assert content_words(text) == {
        "mayor",
        "said",
        "officers",
        "died",
        "coatepec",
        "harinas",
        "noon",
    }
    assert content_words(text, TOPIC_STOPWORDS) == {
        "mayor",
        "officers",
        "died",
        "coatepec",
        "harinas",
        "noon",
    }
    assert "the" in content_words(text, frozenset())
    assert "5" not in content_words(text, frozenset())


def test_topic_stopwords_are_the_search_stopwords_and_the_filler() -> None:
    assert STOPWORDS < TOPIC_STOPWORDS
    assert {"said", "says"} <= TOPIC_STOPWORDS - STOPWORDS


def test_a_marker_is_one_number_and_a_group_may_list_several() -> None:
    answer = "13 died [1, 2]. The mayor spoke [3][4]; see [2; 5] and [x]."
    assert MARKER.findall(answer) == ["3", "4"]
    groups = MARKER_GROUP.findall(answer)
    assert [marker_numbers(g) for g in groups] == [[1, 2], [3], [4], [2, 5]]


def test_final_answer_is_the_answer_that_ends_the_stream_with_the_text_before_it() -> None:
    draft: list[str] = []
    answer = Answer(answer="13 died [1].", refused=False)
    stream: list[str | Answer] = ["13 ", "died [1].", answer]
    assert final_answer(iter(stream), draft.append) is answer
    assert draft == ["13 ", "died [1]."]
    # The last Answer counts: the stream is read to its end, not stopped at the first.
    draft_answer = Answer(answer="13 died.", refused=False)
    assert final_answer([draft_answer, "more", answer]) is answer


def test_a_stream_without_an_answer_is_an_error_that_says_so() -> None:
    with pytest.raises(RuntimeError, match="without an Answer"):
        final_answer(["13 ", "died"])
