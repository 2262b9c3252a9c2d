"""The chat page's parts without a browser: HTML rendering (escaping, citation links,
quote highlighting), a session's streamed updates and history, uploads, the page's
collection events called as Gradio calls them. The browser and the real model are in
test_app.py."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import anyio
import gradio as gr
import pytest

from assistant import Answer, Citation, build_chain
from assistant.fake import RecordingChatModel
from index.catalog import StoredArticle
from index.collection import NewsCollection, collection_names
from index.errors import InvalidInput
from index.ingest import ingest
from settings import Settings
from tests.conftest import SAMPLES, CountingEmbeddings, stored_collections, write_jsonl
from ui import render, session
from ui.page import build_page
from ui.uploads import Received, ingest_uploads, report_html, upload_dir

ARTICLE = StoredArticle(
    id="a1",
    title="Storm <b>hits</b> coast",
    published=date(2021, 3, 19),
    source="Herald",
    url="https://example.com/storm",
    authors=(),
    text="Intro line. <script>alert(1)</script> Thirteen boats sank in the storm. End.",
)


def _citation(**changes: object) -> Citation:
    quote = "Thirteen boats sank in the storm."
    start = ARTICLE.text.index(quote)
    fields: dict[str, object] = {
        "n": 1,
        "article_id": "a1",
        "title": ARTICLE.title,
        "url": ARTICLE.url,
        "published": ARTICLE.published,
        "source": "Herald",
        "quote": quote,
        "start": start,
        "end": start + len(quote),
    }
    return Citation.model_validate({**fields, **changes})


def test_answer_markers_link_to_their_cards_and_everything_else_is_text() -> None:
    answer = Answer(
        answer="Thirteen <img src=x onerror=alert(1)> boats [1] sank [2] **a** [x](javascript:1)",
        refused=False,
        citations=[_citation()],
    )
    html = render.answer_message(answer, turn=3)
    assert '<a class="newsqa-cite" href="#src-3-1"' in html
    assert "#src-3-2" not in html  # [2] cites nothing: shown as text, not a link
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in html and "**" not in html and "[x]" not in html
    assert 'class="newsqa-timings"' in html


def test_refusal_looks_different_and_links_nothing() -> None:
    html = render.answer_message(
        Answer(answer="The indexed articles don't say.", refused=True, confidence=0.2), turn=0
    )
    assert 'class="newsqa-refusal"' in html
    assert "newsqa-cite" not in html and "newsqa-answer" not in html
    assert "confidence 0.20" in html


def test_a_follow_up_shows_the_question_it_was_answered_as() -> None:
    answer = Answer(answer="x", refused=True, standalone_question="How long was <the> python?")
    html = render.answer_message(answer, turn=0)
    assert "Asked as: How long was &lt;the&gt; python?" in html
    assert "Asked as" not in render.answer_message(Answer(answer="x", refused=True), turn=0)


def test_source_card_highlights_the_quote_at_its_offsets_and_escapes_the_article() -> None:
    card = render.source_cards(
        Answer(answer="x [1]", refused=False, citations=[_citation()]),
        turn=2,
        articles={"a1": ARTICLE},
        latest=True,
    )
    assert 'id="src-2-1" class="src-card latest"' in card
    assert "<mark>Thirteen boats sank in the storm.</mark>" in card
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card and "<script" not in card
    assert "Storm &lt;b&gt;hits&lt;/b&gt; coast" in card
    assert 'href="https://example.com/storm"' in card and "2021-03-19 · Herald" in card


def test_source_card_without_offsets_or_safe_url_or_article() -> None:
    answer = Answer(
        answer="x [1]",
        refused=False,
        citations=[_citation(start=None, end=None, url="javascript:alert(1)")],
    )
    card = render.source_cards(answer, 0, {"a1": ARTICLE}, latest=False)
    assert "<mark>" not in card and "javascript" not in card
    assert 'class="src-card"' in card
    headline = answer.model_copy(
        update={"citations": [_citation(quote=ARTICLE.title, start=None, end=None)]}
    )
    card = render.source_cards(headline, 0, {"a1": ARTICLE}, latest=False)
    assert '<div class="src-headline"><mark>Storm &lt;b&gt;hits&lt;/b&gt; coast</mark>' in card
    gone = render.source_cards(answer, 0, {"a1": None}, latest=False)
    assert "no longer in the index" in gone


def test_sources_panel_marks_only_the_latest_answers_cards() -> None:
    answer = Answer(answer="x [1]", refused=False, citations=[_citation()])
    panel = render.sources_panel([(answer, {"a1": ARTICLE}), (answer, {"a1": ARTICLE})])
    assert 'id="src-0-1" class="src-card"' in panel
    assert 'id="src-1-1" class="src-card latest"' in panel
    assert "Click a citation" in render.sources_panel([])


def test_question_from_the_session_and_filters() -> None:
    earlier = session.Exchange("How many died?", Answer(answer="13 [1]", refused=False), {})
    question = session.make_question(
        "And how many were police?",
        [earlier],
        collection="",
        published_from="2021-03-01",
        published_to="2021-03-31 00:00:00",
        source="CNN",
        as_of="",
    )
    assert [(t.role, t.content) for t in question.history] == [
        ("user", "How many died?"),
        ("assistant", "13 [1]"),
    ]
    assert question.collection is None and question.as_of is None
    assert question.filters.published_from == date(2021, 3, 1)
    assert question.filters.published_to == date(2021, 3, 31)
    assert question.filters.source == "CNN"
    with pytest.raises(InvalidInput, match="published from: 'March' is not a date"):
        session.make_question("q", [], published_from="March")


@pytest.fixture
def sampled(settings: Settings, embeddings: CountingEmbeddings) -> Settings:
    collection = NewsCollection(settings, embeddings=embeddings, create=True)
    ingest(collection, [SAMPLES], progress=False)
    collection.close()
    return settings


def test_session_streams_then_keeps_the_exchange(
    sampled: Settings, embeddings: CountingEmbeddings
) -> None:
    llm = RecordingChatModel(replies=["13 officers died in the ambush [1]."])
    chain = build_chain(sampled, llm=llm, embeddings=embeddings)
    updates = list(session.ask(chain, "How many officers died in the Coatepec Harinas ambush?", []))
    first_messages, first_exchanges, _ = updates[0]
    assert "newsqa-status" in first_messages[-1]["content"]
    assert [e.complete for e in first_exchanges] == [False]
    assert any("newsqa-streaming" in u[0][-1]["content"] for u in updates[1:-1])
    messages, exchanges, panel = updates[-1]
    assert len(exchanges) == 1 and len(messages) == 2
    assert 'href="#src-0-1"' in messages[-1]["content"]
    card = exchanges[0].answer.citations[0]
    assert exchanges[0].articles[card.article_id] is not None
    assert 'id="src-0-1"' in panel and "<mark>" in panel

    # A follow-up carries the first exchange to the chain; the first stays as it was.
    standalone = "How many of the officers who died in the Coatepec Harinas ambush were police?"
    llm.replies += [standalone, "Eight of them were police officers [1]."]
    *_, (messages, exchanges, panel) = session.ask(chain, "And how many were police?", exchanges)
    assert len(exchanges) == 2 and len(messages) == 4
    rewrite, answer = (str(p[-1].content) for p in llm.prompts[-2:])
    assert "User: How many officers died in the Coatepec Harinas ambush?" in rewrite
    assert (
        f"Question: {standalone}" in answer and f"Asked as: {standalone}" in messages[-1]["content"]
    )
    assert 'id="src-0-1" class="src-card"' in panel and 'id="src-1-1"' in panel


def test_a_stopped_answer_stays_visible_but_out_of_the_history(
    sampled: Settings, embeddings: CountingEmbeddings
) -> None:
    llm = RecordingChatModel(replies=["Thirteen officers died in the ambush [1]."])
    chain = build_chain(sampled, llm=llm, embeddings=embeddings)
    updates = session.ask(chain, "How many officers died in the Coatepec Harinas ambush?", [])
    for _, exchanges, _ in updates:  # the Stop button: Gradio drops the generator
        if "Thirteen" in exchanges[-1].answer.answer:
            break
    updates.close()
    assert not exchanges[-1].complete
    assert "Stopped." in session.chat_messages(exchanges)[-1]["content"]
    question = session.make_question("And how many were police?", exchanges)
    assert question.history == []


def test_session_errors_become_a_message_not_a_crash(
    sampled: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = build_chain(sampled, llm=RecordingChatModel(), embeddings=embeddings)
    *_, (messages, exchanges, _) = session.ask(chain, "q", [], published_to="soon")
    assert "newsqa-error" in messages[-1]["content"] and "published to" in messages[-1]["content"]
    assert exchanges == []
    (messages, exchanges, _), *rest = session.ask(chain, "   ", [])
    assert messages == [] and not rest


def test_uploads_are_kept_ingested_and_bad_ones_named(
    settings: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    collection = NewsCollection(
        settings.model_copy(update={"upload_max_bytes": 2000}), embeddings=embeddings, create=True
    )
    good = write_jsonl(
        tmp_path / "good.jsonl",
        [{"id": "g1", "title": "Bridge reopens", "text": "The bridge reopened on Monday."}],
    )
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\xff\x00 not text")
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    names = [str(good), str(binary), str(big)]
    received = Received(tmp_path, set(names))
    report = ingest_uploads(collection, names, received=received, progress=False)
    assert report.added == 1
    assert sorted(Path(e.path).name for e in report.failed) == ["big.txt", "binary.txt"]
    assert sorted(p.name for p in upload_dir(collection).iterdir()) == ["good.jsonl"]
    html = report_html(report, 3)
    assert (
        "3 file(s): 1 new" in html
        and "big.txt: the file is over the size limit (2,000 bytes)" in html
    )
    assert collection.catalog.counts()[0] == 1
    collection.close()


def _event(page: gr.Blocks, name: str) -> Callable[..., Any]:
    """The function behind one of the page's events, to call as Gradio would."""
    for block_fn in page.fns.values():
        if block_fn.fn is not None and getattr(block_fn.fn, "__name__", None) == name:
            return _awaited(block_fn.fn)
    raise AssertionError(f"the page has no event {name!r}")


def _awaited(handler: Callable[..., Any]) -> Callable[..., Any]:
    """An async handler (one that takes a generation slot) run to its end, as Gradio would."""
    if not inspect.iscoroutinefunction(handler):
        return handler
    return lambda *args: anyio.run(functools.partial(handler, *args))


def test_asking_an_unknown_collection_is_an_error_that_creates_nothing(
    sampled: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = build_chain(sampled, llm=RecordingChatModel(), embeddings=embeddings)
    page = build_page(chain, sampled)
    before = stored_collections(sampled)
    listed = r"there is no collection 'nope' \(the collections are: news\)"
    with pytest.raises(gr.Error, match=listed):
        _event(page, "ask")("How many officers died in the ambush?", "", "nope")
    *_, (messages, exchanges, _) = session.ask(chain, "How many died?", [], collection="nope")
    assert "newsqa-error" in messages[-1]["content"] and exchanges == []
    assert "there is no collection &#x27;nope&#x27;" in messages[-1]["content"]
    assert stored_collections(sampled) == before
    # The box offers the collections that exist, and nothing typed in.
    (box,) = [b for b in page.blocks.values() if b.elem_id == "newsqa-collection"]
    assert isinstance(box, gr.Dropdown) and not box.allow_custom_value
    assert [choice[0] for choice in box.choices] == ["news"]


def test_the_articles_tab_creates_a_collection_only_under_a_plain_new_name(
    sampled: Settings, embeddings: CountingEmbeddings
) -> None:
    chain = build_chain(sampled, llm=RecordingChatModel(), embeddings=embeddings)
    create = _event(build_page(chain, sampled), "create")
    for bad, why in [
        ("Wire Feed", "cannot name a new collection: use 3-63 lowercase"),
        ("", "cannot name a new collection"),
        ("news", "there is already a collection &#x27;news&#x27;"),
    ]:
        message, box, name = create(bad)
        assert "newsqa-error" in message and why in message, (bad, message)
        assert box == gr.update() and name == gr.update()
    assert collection_names(sampled) == ["news"]

    message, box, name = create("  wire-2021 ")
    assert "Created collection wire-2021" in message
    assert box["value"] == "wire-2021" and box["choices"] == ["news", "wire-2021"]
    assert name == ""
    assert collection_names(sampled) == ["news", "wire-2021"]
    assert chain.collection("wire-2021").stats()["articles"] == 0


def test_the_file_field_refuses_paths_it_did_not_receive_before_gradio_reads_them(
    sampled: Settings, embeddings: CountingEmbeddings, tmp_path: Path
) -> None:
    """Whatever Gradio's launch state (this page was never launched, so Gradio's own
    path check is off): the field refuses a path nobody uploaded before Gradio copies
    or hashes it, ``/dev/zero`` at once; a file Gradio's upload route wrote passes."""
    page = build_page(
        build_chain(sampled, llm=RecordingChatModel(), embeddings=embeddings), sampled
    )
    assert not page.has_launched
    field = next(b for b in page.blocks.values() if isinstance(b, gr.File))
    secret = tmp_path / "secret.txt"
    secret.write_text("not an upload")
    for path in ("/dev/zero", str(secret)):
        with pytest.raises(gr.Error, match="not a file uploaded to this server"):
            anyio.run(field.async_move_resource_to_block_cache, path)
        with pytest.raises(gr.Error, match="not a file uploaded to this server"):
            field.move_resource_to_block_cache(path)
    upload = Path(gr.utils.get_upload_folder()) / "test-received" / "story.txt"
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_text("The bridge reopened on Monday.")
    page.upload_file_set.add(str(upload))  # as Gradio's upload route records it
    cached = anyio.run(field.async_move_resource_to_block_cache, str(upload))
    assert cached is not None and Path(cached).read_text() == "The bridge reopened on Monday."
