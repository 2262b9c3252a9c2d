"""The answering chain with a scripted model: real Chroma, real embeddings, real prompts."""

import asyncio
from datetime import date
from pathlib import Path

import pytest

import assistant
from assistant import Answer, Filters, Question, Turn, build_chain
from assistant.chain import HISTORY_TURNS, recent
from assistant.errors import EmptyIndex, InvalidQuestion, QuestionTooLong, ServerUnreachable
from assistant.fake import RecordingChatModel, ScriptedChatModel
from assistant.models import refusal_threshold
from index.collection import NewsCollection
from settings import Settings
from tests.conftest import SAMPLES, CountingEmbeddings

AMBUSH = str(SAMPLES / "000_529f16d631959521.txt")
CANDIDATE = str(SAMPLES / "002_1edb485b8cb994a6.txt")
SNAPSHOT = Path(__file__).parent / "snapshots" / "ambush_prompt.txt"


def _chain(settings: Settings, embeddings: CountingEmbeddings, *replies: str):
    llm = RecordingChatModel(replies=list(replies))
    return build_chain(settings, llm=llm, embeddings=embeddings), llm


def test_public_api_is_pinned() -> None:
    assert assistant.__all__ == [
        "Answer",
        "AnswerPart",
        "AssistantError",
        "Citation",
        "Filters",
        "HybridRetriever",
        "NewsQA",
        "NewsqaError",
        "Question",
        "Timings",
        "Turn",
        "build_chain",
    ]


def test_answer_cites_the_source_with_a_quote(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    reply = "Eight police officers and five representatives died [1]."
    chain, _ = _chain(settings, embeddings, reply)
    answer = chain.invoke("How many officers died in the Coatepec Harinas ambush?")
    assert answer.answer == f"{reply} (Reported on 19 March 2021.)"  # old news, dated
    assert not answer.refused
    assert answer.retrieved[0] == AMBUSH and set(answer.retrieved) == {AMBUSH, CANDIDATE}
    [citation] = answer.citations
    assert (citation.n, citation.article_id, citation.published) == (1, AMBUSH, date(2021, 3, 19))
    assert citation.title == "13 law enforcement officers killed in Mexico ambush"
    article = indexed.catalog.get_article(AMBUSH)
    assert article is not None and citation.start is not None and citation.end is not None
    assert article.text[citation.start : citation.end] == citation.quote
    assert "eight police officers" in citation.quote
    assert answer.timings.prompt_tokens > 50 and answer.timings.ttft_s is not None


def test_check_then_answer_prompts_share_the_sources_and_question(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, llm = _chain(settings, embeddings, "13 [1]")
    chain.invoke(Question(question="How many officers died in the Coatepec Harinas ambush?"))
    [(check_system, check_user)] = llm.checks
    system, user = llm.prompts[0]
    prompt = str(user.content)
    assert prompt.startswith(
        "Sources:\n[1] 13 law enforcement officers killed in Mexico ambush (2021-03-19)\n"
    )
    assert "leaving 13 officers dead" in prompt
    # Instructions come after the question; both prompts share everything before them,
    # which llama.cpp then evaluates only once.
    context, _, instruction = prompt.rpartition("\n\n")
    assert context.endswith("Question: How many officers died in the Coatepec Harinas ambush?")
    assert instruction.startswith("Answer the question in one or two short sentences")
    assert (
        check_user[1] == f"{context}\n\nDoes any source above state the answer to the "
        "question? Reply yes or no."
    )
    assert check_system == ("system", str(system.content))
    # The rendered prompt is kept as a file so a wording change shows up in review.
    rendered = f"--- system\n{system.content}\n--- user\n{prompt}\n"
    if not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(rendered)
    assert SNAPSHOT.read_text() == rendered


def test_low_confidence_refuses_without_generating(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, llm = _chain(settings, embeddings, "never used")
    llm.confidence = 0.3
    answer = chain.invoke("What is the capital of Australia?")
    assert answer.refused and answer.confidence == 0.3 and llm.prompts == []
    assert answer.retrieved  # retrieval still ran and is reported


def test_each_local_model_refuses_at_its_own_threshold(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    # The same P(yes) of 0.35 is low for the default model and enough for the 0.5B one,
    # whose P(yes) stays under 0.45; a threshold that is set wins over both.
    small = settings.model_copy(update={"llm": "llamacpp:qwen2.5-0.5b"})
    assert refusal_threshold(settings) == 0.8 and refusal_threshold(small) == 0.28
    assert refusal_threshold(settings.model_copy(update={"llm": "openai:any"})) == 0.8
    assert refusal_threshold(small.model_copy(update={"refusal_threshold": 0.5})) == 0.5
    question = "How many officers died in the Coatepec Harinas ambush?"
    for chosen, refused in ((settings, True), (small, False)):
        chain, llm = _chain(chosen, embeddings, "13 officers died in the ambush [1].")
        llm.confidence = 0.35
        assert chain.invoke(question).refused is refused


def test_answer_whose_facts_are_in_no_source_is_refused(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, _ = _chain(
        settings,
        embeddings,
        "The capital of Australia is Canberra [1].",
        "The officers died on Thursday, March 18, in Coatepec Harinas [1].",
    )
    assert chain.invoke("What is the capital of Australia?").refused
    # A derived date next to supported facts is kept.
    assert not chain.invoke("When did the officers die?").refused


def test_answer_no_shown_sentence_supports_is_refused(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    reply = "Eight police officers and five staff of the prosecutor's office died [1]."
    chain, _ = _chain(settings, embeddings, reply)
    assert not chain.invoke("Who died in the ambush?").refused
    # With a support bar no sentence can clear, the same reply keeps no citation,
    # and an answer without one is refused.
    strict = settings.model_copy(update={"citation_threshold": 1.01})
    chain, _ = _chain(strict, embeddings, reply)
    answer = chain.invoke("Who died in the ambush?")
    assert answer.refused and answer.citations == []


def test_markers_that_point_at_no_source_are_removed(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, _ = _chain(settings, embeddings, "Thirteen officers [1][7], said [9] officials [2, 8].")
    asked = "How many officers died in the Coatepec Harinas ambush?"
    answer = chain.invoke(Question(question=asked, as_of=date(2021, 3, 24)))
    # Markers gather at the end of their sentence; those naming no shown source go.
    assert answer.answer == "Thirteen officers, said officials [1][2]."
    assert [c.n for c in answer.citations] == [1, 2]
    assert all(c.quote for c in answer.citations)


def test_refusal_has_no_citations(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, _ = _chain(settings, embeddings, "The indexed articles don't say. [1]")
    answer = chain.invoke("What is the capital of Australia?")
    assert answer.refused and answer.citations == []
    assert answer.answer == "The indexed articles don't say."


def test_stream_yields_text_then_the_answer(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, _ = _chain(settings, embeddings, "Eight police officers and five staff [1].")
    parts = list(chain.stream("Who died in the ambush?"))
    assert all(isinstance(p, str) for p in parts[:-1]) and len(parts) > 3
    assert isinstance(parts[-1], Answer)
    # The text streams as the model writes it; the answer carries the verified markers.
    assert "".join(parts[:-1]) == "Eight police officers and five staff [1]."  # type: ignore[arg-type]
    assert parts[-1].answer.startswith("Eight police officers and five staff [")
    assert all("five" in c.quote or "eight" in c.quote.lower() for c in parts[-1].citations)


def test_batch_and_ainvoke(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, _ = _chain(
        settings, embeddings, "13 [1]", "Ivonne Gallegos Carreño [1]", "Eight officers [1]"
    )
    answers = chain.batch(
        ["How many died?", "Who was shot in Oaxaca?"], config={"max_concurrency": 1}
    )
    assert [a.answer.split(" [")[0] for a in answers] == ["13", "Ivonne Gallegos Carreño"]
    assert all(a.citations for a in answers)
    later = asyncio.run(chain.ainvoke({"question": "And how many were police officers?"}))
    assert later.answer.startswith("Eight officers")


def test_filters_and_as_of_are_applied_in_the_stores(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, _ = _chain(settings, embeddings, "a [1]", "b [1]", "c [1]")
    later = chain.invoke(
        Question(
            question="officers killed in Mexico", filters=Filters(published_from=date(2021, 3, 20))
        )
    )
    assert later.retrieved == [CANDIDATE]
    as_of = chain.invoke(Question(question="Ivonne Gallegos Carreño", as_of=date(2021, 3, 20)))
    assert as_of.retrieved == [AMBUSH]
    other = chain.invoke(Question(question="officers", filters=Filters(source="Reuters")))
    assert other.refused and other.retrieved == []


def test_clear_errors(
    settings: Settings, embeddings: CountingEmbeddings, collection: NewsCollection
) -> None:
    chain, _ = _chain(settings, embeddings)
    with pytest.raises(EmptyIndex, match="is empty: add articles with python -m index ingest"):
        chain.invoke("Anything?")
    with pytest.raises(QuestionTooLong, match="the limit is 1,000"):
        chain.invoke("why " * 400)


def test_unreachable_openai_compatible_server(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    from assistant.models import get_chat_model

    settings = settings.model_copy(
        update={"llm": "openai:qwen", "openai_base_url": "http://127.0.0.1:9/v1"}
    )
    chain = build_chain(settings, llm=get_chat_model(settings), embeddings=embeddings)
    with pytest.raises(ServerUnreachable, match="cannot reach the model server at http://127"):
        chain.invoke("How many officers died?")


@pytest.mark.parametrize(
    ("logprobs", "confidence", "refused", "read"),
    [
        (True, 0.79, True, 0.79),  # just below NEWSQA_REFUSAL_THRESHOLD (0.8)
        (True, 0.81, False, 0.81),
        (False, 0.3, True, 0.0),  # no logprobs: the reply "No" is read as 0
        (False, 0.9, False, 1.0),
    ],
)
def test_refusal_check_of_a_model_behind_a_server(
    indexed: NewsCollection,
    settings: Settings,
    embeddings: CountingEmbeddings,
    logprobs: bool,
    confidence: float,
    refused: bool,
    read: float,
) -> None:
    reply = "Eight police officers and five staff of the prosecutor's office died [1]."
    llm = ScriptedChatModel(replies=[reply], confidence=confidence, logprobs=logprobs)
    chain = build_chain(settings, llm=llm, embeddings=embeddings)
    answer = chain.invoke("Who died in the Coatepec Harinas ambush?")
    assert answer.refused is refused and answer.confidence == pytest.approx(read)
    assert len(llm.checks) == 1 and len(llm.prompts) == (0 if refused else 1)
    assert llm.checks[0][-1][1].endswith(
        "Does any source above state the answer to the question? Reply yes or no."
    )


def test_bad_questions_are_refused_naming_what_is_wrong(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    chain, llm = _chain(settings, embeddings)
    earlier = [Turn(role="user", content="How many officers died in the ambush?")]

    def refused(question: Question) -> InvalidQuestion:
        with pytest.raises(InvalidQuestion) as caught:
            chain.invoke(question)
        return caught.value

    long_turn = refused(
        Question(
            question="And how many were hurt?", history=[Turn(role="user", content="x" * 3_500_000)]
        )
    )
    assert isinstance(long_turn, QuestionTooLong) and long_turn.field == "history[0]"
    assert "history turn 1 (user) has 3,500,000 characters; the limit is 1,000" in str(long_turn)
    answer = Turn(role="assistant", content="y" * 4_001)
    assert (
        refused(Question(question="And then?", history=[earlier[0], answer])).field == "history[1]"
    )
    surrogate = refused(Question(question="ambush \ud800?"))
    assert surrogate.field == "question" and "lone surrogate at character 8" in str(surrogate)
    bad_turn = Turn(role="assistant", content="13 \udcff")
    assert refused(Question(question="And then?", history=[bad_turn])).field == "history[0]"
    for day in (date(1, 1, 1), date(9999, 12, 31)):
        dated = refused(Question(question="What happened this year?", as_of=day))
        assert dated.field == "as_of" and "is out of range" in str(dated)
    assert llm.prompts == [] and llm.checks == []  # refused before any model call
    # A long conversation is read by its last turns only; the rest is not searched.
    many = [Turn(role="user", content=f"Question number {n}?") for n in range(HISTORY_TURNS + 30)]
    assert recent(Question(question="And then?", history=many)).history == many[-HISTORY_TURNS:]


def test_an_answer_only_from_older_news_is_refused_where_this_periods_news_was_found(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    # The ambush article is of 2021-03-19, the candidate's of 2021-03-23; asked on
    # 2021-03-24, with stale_days 2 the ambush is older news while the candidate's
    # article is of the period.
    reply = "Eight police officers and five representatives died [1]."
    asked = "How many officers died in the Coatepec Harinas ambush?"
    strict = settings.model_copy(update={"stale_days": 2})
    chain, _ = _chain(strict, embeddings, reply, reply, reply, reply)
    old = chain.invoke(Question(question=asked, as_of=date(2021, 3, 24)))
    assert old.refused and not old.citations and CANDIDATE in old.retrieved
    # A question that names its period is answered from that period's articles.
    named = chain.invoke(Question(question=f"{asked} in March 2021", as_of=date(2021, 3, 24)))
    assert not named.refused and named.citations[0].article_id == AMBUSH
    # Asked years later nothing retrieved is of the period (an archive): answered.
    archive = chain.invoke(Question(question=asked, as_of=date(2026, 6, 1)))
    assert not archive.refused and archive.citations[0].published == date(2021, 3, 19)
    # ... saying in its text how old its news is.
    assert archive.answer.endswith("(Reported on 19 March 2021.)")
    assert not named.answer.endswith(")")
    # Off, as the older default behaved.
    off = settings.model_copy(update={"stale_days": 0})
    chain, _ = _chain(off, embeddings, reply, reply)
    assert not chain.invoke(Question(question=asked, as_of=date(2021, 3, 24))).refused


def test_a_sentence_the_model_says_its_source_does_not_state_is_dropped(
    indexed: NewsCollection, settings: Settings, embeddings: CountingEmbeddings
) -> None:
    asked = "How many officers died in the Coatepec Harinas ambush?"
    reply = "Eight police officers and five representatives died [1]."
    checked = settings.model_copy(update={"claim_threshold": 0.5})
    chain, llm = _chain(checked, embeddings, reply, reply)
    # The answerability check says yes; the claim check says the cited text (and each
    # next best text of that source) does not state the sentence: refused.
    llm.confidences = [0.9, 0.2, 0.2, 0.2]
    refused = chain.invoke(Question(question=asked))
    assert refused.refused and not refused.citations
    claim_prompts = llm.checks[1:]
    assert len(claim_prompts) >= 2
    assert all("Statement: Eight police officers" in p[-1][1] for p in claim_prompts)
    assert len({p[-1][1] for p in claim_prompts}) == len(claim_prompts)  # other texts tried
    assert refused.timings.claims_s > 0
    # Said yes for the second best text: answered, quoting that text.
    llm.checks.clear()
    llm.confidences = [0.9, 0.2, 0.8]
    answered = chain.invoke(Question(question=asked))
    assert not answered.refused and answered.citations[0].article_id == AMBUSH
    assert answered.citations[0].quote in llm.checks[2][-1][1]
    # Off (the default): no claim prompt is asked.
    chain, llm = _chain(settings, embeddings, reply)
    assert not chain.invoke(Question(question=asked)).refused and len(llm.checks) == 1
