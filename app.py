"""The browser chat: ``python app.py``, then open http://127.0.0.1:7860.

On first start it creates the collection (``NEWSQA_COLLECTION``) and indexes the
bundled sample articles (``data/``) into it if it is empty; the model is assembled from
its packages and loaded on the first question. Host, port, login and upload limit come
from settings (``NEWSQA_HOST``, ``NEWSQA_PORT``, ``NEWSQA_UI_USER`` +
``NEWSQA_UI_PASSWORD``, ``NEWSQA_ALLOW_ANONYMOUS``, ``NEWSQA_UPLOAD_MAX_BYTES``,
``NEWSQA_UI_CONCURRENCY``);
``NEWSQA_WATCH_EVERY=15m`` polls the collection's feeds in the background. A setting
that cannot work (half a login, an open host without one, an unusable store) prints one
``error:`` line and exits with status 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from index.errors import NewsqaError
from settings import Settings, get_settings
from ui.access import login

SAMPLES = Path(__file__).resolve().parent / "data"


def serve(settings: Settings) -> None:
    login(settings)
    # Imported after the check: Gradio and the model stack take 10-15 s to import on 2
    # cores, and a refused login should be said at once.
    from assistant import build_chain
    from assistant.guard import host_warning
    from index import NewsCollection, ingest
    from index.watch import background_watch
    from ui.page import launch, web_app

    # The default collection is the one a fresh data dir gets by starting the app;
    # questions and the page never create one.
    NewsCollection(settings, create=True).close()
    chain = build_chain(settings)
    collection = chain.collection()
    if collection.catalog.counts()[0] == 0:
        print(f"Collection {collection.name!r} is empty: indexing {SAMPLES}", file=sys.stderr)
        report = ingest(collection, [SAMPLES])
        print(f"Indexed {report.added} sample articles", file=sys.stderr)
    # NEWSQA_WATCH_EVERY: the collection's feeds are polled in the background while
    # the server runs; what a poll adds is answerable at once.
    warning = host_warning(settings)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    watcher = background_watch(collection)
    try:
        # The OpenAI-compatible API (/v1) and MCP (/mcp) share the chat's server, login
        # and generation slots (NEWSQA_UI_CONCURRENCY).
        launch(web_app(chain, settings), settings)
    finally:
        if watcher is not None:
            watcher.stop()


def main() -> int:
    try:
        serve(get_settings())
    except NewsqaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
