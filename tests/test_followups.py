"""Follow-up questions: made standalone before the check and the answer, an answer that
restates the last turn refused, a question that stands alone left exactly as it is.
Scripted model; real Chroma, embeddings and prompts."""

from __future__ import annotations

import pytest

from assistant import Question, Turn, build_chain
from assistant.errors import AssistantError, QuestionTooLong
from assistant.fake import RecordingChatModel
from assistant.followup import clean_rewrite, leans_on_history, named, restates
from index.collection import NewsCollection
from settings import Settings
from tests.conftest import SAMPLES, CountingEmbeddings

AMBUSH = str(SAMPLES / "000_529f16d631959521.txt")
EARLIER = [
    Turn(role="user", content="How many officers died in the Coatepec Harinas ambush?"),
    Turn(role="assistant", content="13 officers died in the ambush [1]."),
]
STANDALONE = "How many of the officers killed in the Coatepec Harinas ambush were police?"


@pytest.mark.parametrize(
    ("question", "leans"),
    [
        ("How long was it?", True),
        ("When was she arrested?", True),
        ("And how much did he pay?", True),
        ("How much did the launch cost?", True),  # no subject of its own
        ("What happened this week?", True),  # "this week" is a date, but no subject
        ("How many people died in the earthquake in the Philippines?", False),  # new name
        ("Who was shot in Oaxaca in 2021?", False),
    ],
)
def test_which_questions_lean_on_the_conversation(question: str, leans: bool) -> None:
    assert leans_on_history(question, EARLIER) is leans
    assert leans_on_history(question, []) is False


def test_a_rewrite_that_is_not_a_question_keeps_the_question() -> None:
    asked = "How long was it?"
    history = [Turn(role="user", content="How heavy was the python?"), *EARLIER[1:]]
    assert clean_rewrite('Question: "How long was the python?"\nMore', asked, history) == (
        "How long was the python?"
    )
    assert clean_rewrite("It was 18 feet long.", asked, history) == asked
    assert clean_rewrite("", asked, history) == asked
    assert clean_rewrite("Why? " * 200, asked, history) == asked
    # The earlier question again is no rewrite of this one.
    assert clean_rewrite("How heavy was the python?", asked, history) == asked


def test_an_answer_that_restates_the_last_turn_is_caught() -> None:
    history = [
        Turn(role="user", content="How heavy was the record python captured in Florida?"),
        Turn(role="assistant", content="It weighed 215 pounds [1]."),
    ]
    asked = "How long was the record python captured in Florida?"
    assert restates("The record python captured in Florida weighed 215 pounds [1].", history, asked)
    # Its number again, in other words: "was", not "weighed".
    assert restates(
        "The record Python was 215 pounds, the heaviest in the state [1].", history, asked
    )
    assert not restates("It was almost 18 feet long [1].", history, asked)
    assert not restates("It was 18 feet long and weighed 215 pounds [1].", history, asked)
    assert not restates("It weighed 215 pounds [1].", [], asked)
    assert not restates("", history, asked) and not restates("[1]", history, asked)
    sentence = [
        Turn(role="user", content="How long was the sentence for Jerry Harris?"),
        Turn(role="assistant", content="He was sentenced to 12 years in federal prison [1]."),
    ]
    release = "How long is the supervised release after Jerry Harris's sentence?"
    assert not restates("The supervised release is 8 years [1].", sentence, release)
    assert restates("He was sentenced to 12 years [1].", sentence, release)
    pilot = [
        Turn(role="user", content="Who became the youngest person to fly solo around the world?"),
        Turn(role="assistant", content="Mack Rutherford, a 17-year-old pilot [1]."),
    ]
    why = "Why did Mack Rutherford have to land on an island in the Pacific?"
    assert not restates("Strong headwinds forced him down on August 17 [2].", pilot, why)


def test_a_follow_up_is_answered_as_a_standalone_question(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    llm = RecordingChatModel(replies=[STANDALONE, "Eight were police officers [1]."])
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    answer = chain.invoke(Question(question="And how many of them were police?", history=EARLIER))
    rewrite, answer_prompt = (str(p[-1].content) for p in llm.prompts)
    assert "User: How many officers died in the Coatepec Harinas ambush?" in rewrite
    assert "Assistant: 13 officers died in the ambush" in rewrite and "[1]" not in rewrite
    assert rewrite.rstrip().endswith("User: And how many of them were police?\nRewritten:")
    assert "User: And how many of them were police?" in rewrite
    # The check and the answer see the standalone question only, never the earlier answer.
    assert f"Question: {STANDALONE}" in answer_prompt and "13 officers died" not in answer_prompt
    assert f"Question: {STANDALONE}" in llm.checks[0][-1][1]
    assert answer.standalone_question == STANDALONE and answer.retrieved[0] == AMBUSH
    assert not answer.refused and answer.to_json()["standalone_question"] == STANDALONE
    assert answer.timings.standalone_s > 0


def test_an_answer_repeating_the_previous_one_is_refused(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    llm = RecordingChatModel(replies=[STANDALONE, "13 officers died in the ambush [1]."])
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    answer = chain.invoke(Question(question="And how many of them were police?", history=EARLIER))
    assert answer.refused and answer.standalone_question == STANDALONE


def test_an_empty_answer_to_a_follow_up_is_refused(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    # The 0.5B model sometimes writes nothing, or a marker alone.
    for reply in ("", " [1]"):
        llm = RecordingChatModel(replies=[STANDALONE, reply])
        chain = build_chain(settings, llm=llm, embeddings=embeddings)
        answer = chain.invoke(
            Question(question="And how many of them were police?", history=EARLIER)
        )
        assert answer.refused and answer.standalone_question == STANDALONE


def test_a_question_that_stands_alone_is_asked_as_written(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    question = "Which would-be mayoral candidate was killed in Oaxaca?"
    llm = RecordingChatModel(replies=["Ivonne Gallegos Carreño [1]."] * 2)
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    alone = chain.invoke(question)
    in_chat = chain.invoke(Question(question=question, history=EARLIER))
    # No rewrite call, the same prompts and the same answer as without a conversation.
    assert len(llm.prompts) == 2 and llm.prompts[0] == llm.prompts[1]
    assert llm.checks[0] == llm.checks[1]
    assert in_chat.answer == alone.answer and in_chat.standalone_question is None


def test_a_rewritten_follow_up_is_searched_as_the_standalone_question_alone(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    # The earlier question's words would pull in the passages of the earlier answer
    # ("13 officers died"): once rewritten, the follow-up is searched and given evidence
    # exactly as the standalone question asked without a conversation.
    llm = RecordingChatModel(replies=[STANDALONE, "Eight [1].", "Eight [1]."])
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    followup = chain.invoke(Question(question="And how many of them were police?", history=EARLIER))
    assert set(embeddings.queries) == {STANDALONE}
    alone = chain.invoke(STANDALONE)
    assert followup.standalone_question == STANDALONE and alone.standalone_question is None
    assert followup.retrieved == alone.retrieved
    assert llm.checks[0] == llm.checks[1] and llm.prompts[1] == llm.prompts[2]


def test_a_rewrite_that_names_nothing_is_searched_with_the_question_before_it(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    assert named(STANDALONE) == {"coatepec", "harinas"}
    assert named("How many people were injured by the earthquake?") == set()
    vague = "How many of the officers were police?"
    llm = RecordingChatModel(replies=[vague, "Eight [1]."])
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    answer = chain.invoke(Question(question="And how many of them were police?", history=EARLIER))
    # Searched with the question before it, which names the ambush; asked as rewritten.
    assert set(embeddings.queries) == {f"{EARLIER[0].content} {vague}"}
    assert answer.standalone_question == vague and answer.retrieved[0] == AMBUSH
    assert f"Question: {vague}" in str(llm.prompts[1][-1].content)


def test_a_rewrite_that_fails_keeps_the_follow_up_searched_with_its_context(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    llm = RecordingChatModel(replies=["I don't know.", "Eight [1]."])
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    answer = chain.invoke(Question(question="And how many of them were police?", history=EARLIER))
    assert answer.standalone_question is None and answer.retrieved[0] == AMBUSH
    assert "Question: And how many of them were police?" in str(llm.prompts[1][-1].content)


def test_an_empty_or_overlong_follow_up_is_refused_before_any_model_call(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    llm = RecordingChatModel()
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    with pytest.raises(AssistantError, match="empty"):
        chain.invoke(Question(question="  ", history=EARLIER))
    with pytest.raises(QuestionTooLong):
        chain.invoke(Question(question="And that? " * 200, history=EARLIER))
    assert llm.prompts == [] and llm.checks == []


def test_a_rewrite_that_lost_the_question_keeps_it_with_the_person_named() -> None:
    history = [
        Turn(role="user", content="Which role was Nichelle Nichols best known for?"),
        Turn(role="assistant", content="Lt. Nyota Uhura in Star Trek [1]."),
    ]
    asked = "How old was she when she died?"
    # "old" is gone from the rewrite: the user's question, with the person named.
    assert clean_rewrite("When Nichelle Nichols died?", asked, history) == (
        "How old was Nichelle Nichols when she died?"
    )
    assert clean_rewrite("What did Nichelle Nichols's son say?", "What did her agent say?", []) == (
        "What did Nichelle Nichols's agent say?"
    )
    # Words the search leaves out as stop-words still make the question: "take over"
    # is not "become prime minister".
    minister = [Turn(role="user", content="Who is the new prime minister of Ruritania?")]
    assert clean_rewrite(
        "When did Jane Doe become prime minister of Ruritania?",
        "When did she take over?",
        minister,
    ) == ("When did Jane Doe take over?")
    assert clean_rewrite(
        "How much will Jane Doe earn?", "So how much will she earn?", minister
    ) == ("How much will Jane Doe earn?")
    # A rewrite that keeps the question's words is used as it is.
    assert clean_rewrite("How old was Nichelle Nichols when she died?", asked, history) == (
        "How old was Nichelle Nichols when she died?"
    )
    # No person to put in (or no he/she to replace): the rewrite as before.
    earthquake = "What time did the earthquake in Afghanistan occur?"
    assert clean_rewrite(earthquake, "What time did it strike?", history) == earthquake


def test_only_the_rewrite_keeps_prompt_states() -> None:
    """The local model keeps the rewrite prompt's beginning between follow-ups; the
    check and the answer use the model as it is, so their arithmetic is unchanged."""
    from assistant.chain import rewriter
    from assistant.llamacpp import LlamaCppChat

    local = LlamaCppChat(model_path="model.gguf")
    assert not local.keep_prefixes
    rewriting = rewriter(local)
    assert isinstance(rewriting, LlamaCppChat) and rewriting.keep_prefixes
    assert not local.keep_prefixes
    other = RecordingChatModel(replies=["ok"])
    assert rewriter(other) is other
