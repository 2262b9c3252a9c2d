"""The page's view of feeds: the Articles tab's feed list (add, remove) and the chat's
freshness line ("newest article: 2 h ago").

The list shows each feed's last poll, new articles and last error. Adding or removing a
feed changes what the server fetches from the web, so it is offered only when a login
is configured (``NEWSQA_UI_USER`` + ``NEWSQA_UI_PASSWORD``); an open chat shows the list
read-only. Polling itself is the watch loop's job (``index/watch.py``, started by
``app.py`` when ``NEWSQA_WATCH_EVERY`` is set); this module only reads and edits the
feed list in the catalog.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

import gradio as gr

from assistant import NewsQA
from index.errors import NewsqaError
from index.feed_store import Feed, FeedStore
from index.fetching import check_url
from settings import Settings
from ui import render


def can_manage(settings: Settings) -> bool:
    return bool(settings.ui_user and settings.ui_password.get_secret_value())


def ago(then: datetime, now: datetime) -> str:
    seconds = max(0, (now - then).total_seconds())
    if seconds < 90:
        return "just now"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min ago"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} d ago"


def freshness(chain: NewsQA, collection: str, now: datetime | None = None) -> str:
    """One line on how current the collection is."""
    now = now or datetime.now(UTC)
    try:
        store = FeedStore(chain.collection(collection or None).catalog, create=False)
        indexed, published = store.newest()
        polls = [datetime.fromisoformat(f.last_poll) for f in store.feeds() if f.last_poll]
    except NewsqaError:
        return ""
    if indexed is None:
        return '<div class="newsqa-fresh">No articles yet.</div>'
    parts = [f"newest article: {ago(indexed, now)}"]
    if published:
        parts.append(f"latest published {published}")
    if polls:
        parts.append(f"feeds polled {ago(max(polls), now)}")
    return f'<div class="newsqa-fresh">{escape(" · ".join(parts))}</div>'


def feeds_table(feeds: list[Feed], now: datetime | None = None) -> str:
    if not feeds:
        return render.text("No feeds yet.")
    now = now or datetime.now(UTC)
    rows = []
    for feed in feeds:
        polled = ago(datetime.fromisoformat(feed.last_poll), now) if feed.last_poll else "never"
        error = feed.last_error or ""
        if feed.failures:
            error = f"{error} ({feed.failures} failures in a row)"
        rows.append(
            f"<tr><td>{escape(feed.title or feed.url)}<br><small>{escape(feed.url)}</small></td>"
            f"<td>{polled}</td><td>{feed.new_articles}</td><td>{escape(error)}</td></tr>"
        )
    head = "<tr><th>Feed</th><th>Last poll</th><th>New articles</th><th>Last error</th></tr>"
    return f'<table class="newsqa-feeds">{head}{"".join(rows)}</table>'


def listing(chain: NewsQA, collection: str) -> str:
    try:
        catalog = chain.collection(collection or None).catalog
        return feeds_table(FeedStore(catalog, create=False).feeds())
    except NewsqaError as error:
        return render.error_message(str(error))


def change(chain: NewsQA, settings: Settings, collection: str, url: str, add: bool) -> str:
    """Add or remove a feed; the message to show."""
    url = url.strip()
    if not can_manage(settings):
        return render.error_message("Feeds can be changed only when a login is configured.")
    if not url:
        return render.error_message("Enter a feed URL first.")
    try:
        opened = chain.collection(collection or None)
        store = FeedStore(opened.catalog)
        if not add:
            store.remove(url)
            return render.text(f"Removed {url}; the articles it brought stay indexed.")
        check_url(url, allow_private=settings.fetch_allow_private)
        done = store.add(url)
    except NewsqaError as error:
        return render.error_message(str(error))
    if not done:
        return render.text(f"{url} is already a feed of {opened.name}.")
    return render.text(f"Added {url}; the next poll reads it.")


def section(chain: NewsQA, settings: Settings, collection: Any) -> None:
    """The Articles tab's feeds block, inside the page being built."""
    gr.Markdown("### Feeds")
    view = gr.HTML(lambda c: listing(chain, c), inputs=[collection], every=60)
    with gr.Row(visible=can_manage(settings)):
        url = gr.Textbox(placeholder="https://example.org/rss.xml", show_label=False, scale=4)
        add = gr.Button("Add feed", scale=0, min_width=120)
        remove = gr.Button("Remove feed", scale=0, min_width=120)
    message = gr.HTML()
    for button, adding in ((add, True), (remove, False)):
        button.click(
            lambda c, u, adding=adding: (change(chain, settings, c, u, adding), listing(chain, c)),
            [collection, url],
            [message, view],
            api_visibility="private",
            queue=False,
        )
