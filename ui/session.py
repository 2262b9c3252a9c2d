"""One browser session's chat: turns a message and the filters into a ``Question``,
streams the chain's answer, and keeps the session's exchanges (its own history).

Only the chain's public API is used here; the page (``ui/page.py``) wires it to Gradio.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from assistant import Answer, Filters, NewsQA, Question, Turn
from assistant.public_ids import shown_answer, shown_id
from index.catalog import StoredArticle
from index.errors import InvalidInput, NewsqaError
from ui import render

Messages = list[dict[str, str]]
# What the chat handler yields: the chat messages, the session's exchanges, the
# sources panel.
Update = tuple[Messages, "list[Exchange]", str]


@dataclass(frozen=True)
class Exchange:
    question: str
    answer: Answer
    articles: dict[str, StoredArticle | None]  # the cited articles, text included
    # False while the answer streams; an exchange left so was stopped: it is shown as
    # such and kept out of the history the next question carries.
    complete: bool = True


def parse_day(value: Any, field: str) -> date | None:
    """A date from a date picker or a text box: '', None, 'YYYY-MM-DD[ ...]' or a
    timestamp. A bad value names the field."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).date()
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None


def make_question(
    message: str,
    exchanges: list[Exchange],
    *,
    collection: str | None = None,
    published_from: Any = None,
    published_to: Any = None,
    source: str | None = None,
    as_of: Any = None,
) -> Question:
    history = [
        turn
        for e in exchanges
        if e.complete
        for turn in (
            Turn(role="user", content=e.question),
            Turn(role="assistant", content=e.answer.answer),
        )
    ]
    return Question(
        question=message,
        history=history,
        as_of=parse_day(as_of, "as of"),
        collection=collection or None,
        filters=Filters(
            published_from=parse_day(published_from, "published from"),
            published_to=parse_day(published_to, "published to"),
            source=source or None,
        ),
    )


def chat_messages(exchanges: list[Exchange]) -> Messages:
    messages = []
    for turn, e in enumerate(exchanges):
        messages.append({"role": "user", "content": render.text(e.question)})
        reply = (
            render.answer_message(e.answer, turn)
            if e.complete
            else render.stopped_message(e.answer.answer)
        )
        messages.append({"role": "assistant", "content": reply})
    return messages


def sources(exchanges: list[Exchange]) -> str:
    return render.sources_panel([(e.answer, e.articles) for e in exchanges])


def ask(
    chain: NewsQA, message: str, exchanges: list[Exchange], **filters: Any
) -> Generator[Update, None, None]:
    """Chat updates while the answer streams; the last one carries the cited answer."""
    message = message.strip()
    before = chat_messages(exchanges)
    panel = sources(exchanges)
    if not message:
        yield before, exchanges, panel
        return
    asked = [*before, {"role": "user", "content": render.text(message)}]
    waiting = (
        "Searching the articles…"
        if chain.llm_loaded
        else "Searching the articles; the model is assembled and loaded on first use…"
    )
    status = {"role": "assistant", "content": render.status_message(waiting)}
    # The session keeps the unfinished exchange, so a stopped answer stays visible.
    yield [*asked, status], [*exchanges, _unfinished(message, "")], panel
    try:
        question = make_question(message, exchanges, **filters)
        partial = ""
        for part in chain.stream(question):
            if isinstance(part, Answer):
                collection, data_dir = question.collection, chain.settings.data_dir
                articles = {
                    shown_id(c.article_id, data_dir): chain.article(c.article_id, collection)
                    for c in part.citations
                }
                done = [*exchanges, Exchange(message, shown_answer(part, data_dir), articles)]
                yield chat_messages(done), done, sources(done)
                return
            partial += part
            shown = {"role": "assistant", "content": render.streaming_message(partial)}
            yield [*asked, shown], [*exchanges, _unfinished(message, partial)], panel
    except NewsqaError as error:
        failed = {"role": "assistant", "content": render.error_message(str(error))}
        yield [*asked, failed], exchanges, panel


def _unfinished(question: str, partial: str) -> Exchange:
    return Exchange(question, Answer(answer=partial, refused=False), {}, complete=False)


def ask_json(chain: NewsQA, question: str, as_of: str = "", collection: str = "") -> dict[str, Any]:
    """The API endpoint: one question, no history, the ``Answer`` as JSON."""
    asked = make_question(question, [], collection=collection, as_of=as_of)
    return shown_answer(chain.invoke(asked), chain.settings.data_dir).to_json()
