"""The Gradio page: a Chat tab with a sources panel and filters, an Articles tab for
uploads, index stats and creating a collection, and the ``/ask`` API endpoint.

The chat and ``/ask`` take their generation slot from the ``GenerationSlot`` the
OpenAI-compatible API and MCP use (``web_app``): ``NEWSQA_UI_CONCURRENCY`` answers at
once across all of them. Gradio's queue ("work") admits as many chat and ``/ask``
events, so the rest wait there with their position shown. Uploads are not generations:
they queue on their own, one at a time. Each browser session keeps its own exchanges in
a ``gr.State``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import gradio as gr
from fastapi import FastAPI

from assistant import NewsQA
from assistant.server import api_app, run
from assistant.slot import GenerationSlot, generations
from index.collection import NewsCollection, collection_names
from index.errors import InvalidInput, NewsqaError
from index.loaders import SUFFIXES
from index.store import check_new_collection_name
from settings import Settings
from ui import feeds, render, session
from ui.access import ApiInfoBehindLogin, login
from ui.upload_field import received_only, received_uploads
from ui.uploads import ingest_uploads, report_html

# Opens the card of a clicked citation marker and scrolls to its highlighted quote.
HEAD = """<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest && event.target.closest("a.newsqa-cite");
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  document.querySelectorAll(".src-card.flash").forEach((c) => c.classList.remove("flash"));
  card.classList.add("shown", "flash");
  card.open = true;
  card.scrollIntoView({ block: "start", behavior: "smooth" });
  const mark = card.querySelector("mark");
  const box = card.querySelector(".src-text");
  if (mark && box) box.scrollTop = mark.offsetTop - box.offsetTop - 40;
}, true);
</script>"""

CSS = """
.newsqa-refusal { border-left: 4px solid #d97706; background: rgba(217, 119, 6, 0.08);
  padding: 4px 10px; font-style: italic; }
.newsqa-error { border-left: 4px solid #dc2626; background: rgba(220, 38, 38, 0.08);
  padding: 4px 10px; }
.newsqa-status { font-style: italic; opacity: 0.7; }
.newsqa-stopped { font-size: 0.75em; opacity: 0.6; font-style: italic; }
.newsqa-timings { font-size: 0.75em; opacity: 0.6; margin-top: 4px; }
a.newsqa-cite { text-decoration: none; font-weight: 600; cursor: pointer; }
.src-card { display: none; border: 1px solid var(--border-color-primary);
  border-radius: 6px; margin: 6px 0; padding: 6px 8px; }
.src-card.latest, .src-card.shown { display: block; }
.src-card.flash { outline: 2px solid var(--color-accent); }
.src-card summary { cursor: pointer; }
.src-meta { font-size: 0.85em; opacity: 0.75; margin: 4px 0; }
.src-quote { font-size: 0.9em; margin: 4px 0; padding-left: 8px;
  border-left: 3px solid #f59e0b; }
.src-text { max-height: 340px; overflow-y: auto; font-size: 0.9em; line-height: 1.45; }
.src-text mark { background: #fde68a; color: #111; }
.src-headline { font-weight: 600; margin-bottom: 6px; }
.newsqa-stats th { text-align: left; padding-right: 12px; }
.newsqa-feeds th, .newsqa-feeds td { text-align: left; padding-right: 12px; }
.newsqa-fresh { font-size: 0.8em; opacity: 0.7; }
"""


def build_page(chain: NewsQA, settings: Settings, slot: GenerationSlot | None = None) -> gr.Blocks:
    """The page; ``slot``: the generation limit it shares (by default one of its own)."""
    slot = slot or GenerationSlot(chain, generations(settings))
    work: dict[str, Any] = {"concurrency_id": "work", "concurrency_limit": slot.limit}

    def collection_choices() -> list[str]:
        try:
            names = collection_names(settings)
        except NewsqaError:
            names = []
        return names if settings.collection in names else [settings.collection, *names]

    def source_choices(collection: str) -> list[str]:
        try:
            return ["", *chain.collection(collection or None).catalog.source_names()]
        except NewsqaError:
            return [""]

    def stats(collection: str) -> str:
        try:
            stats = chain.collection(collection or None).stats()
            return render.stats_table(stats, settings.data_dir)
        except NewsqaError as error:
            return render.error_message(str(error))

    async def chat(
        message: str,
        exchanges: list[session.Exchange],
        collection: str,
        published_from: Any,
        published_to: Any,
        source: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> AsyncIterator[session.Update]:
        updates = session.ask(
            chain,
            message,
            exchanges,
            collection=collection,
            published_from=published_from,
            published_to=published_to,
            source=source,
        )
        # The question and a status line show at once, before the wait for a slot.
        async for update in slot.iterate(updates, free=1):
            yield update

    async def ask(question: str, as_of: str = "", collection: str = "") -> dict[str, Any]:
        """Answer one question from the indexed articles, with citations.

        Args:
            question: the question, e.g. "How many officers died in the ambush?"
            as_of: the question's "today" as YYYY-MM-DD (default: the real today)
            collection: the collection to search (default: the server's)
        """
        try:
            return await slot.run(session.ask_json, chain, question, as_of, collection)
        except NewsqaError as error:
            raise gr.Error(str(error)) from None

    def upload(
        files: list[str] | None,
        collection: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[str, str, Any, Any]:
        unchanged = gr.update(), gr.update()
        if not files:
            failed = render.error_message("Choose one or more files first.")
            return failed, stats(collection), *unchanged
        try:
            report = ingest_uploads(
                chain.collection(collection or None), files, received=received_uploads(page)
            )
        except NewsqaError as error:
            return render.error_message(str(error)), stats(collection), *unchanged
        return (
            report_html(report, len(files)),
            stats(collection),
            gr.update(choices=source_choices(collection)),
            gr.update(choices=collection_choices()),
        )

    def create(name: str) -> tuple[str, Any, Any]:
        """The one way the page makes a collection: a valid name that is not taken."""
        name = name.strip()
        try:
            check_new_collection_name(name)
            if name in collection_names(settings):
                raise InvalidInput(f"there is already a collection {name!r}")
            NewsCollection(settings.model_copy(update={"collection": name}), create=True).close()
        except NewsqaError as error:
            return render.error_message(str(error)), gr.update(), gr.update()
        created = f"Created collection {name}; it is selected: upload its articles above."
        return (
            f'<div class="newsqa-report">{render.text(created)}</div>',
            gr.update(choices=collection_choices(), value=name),
            "",
        )

    def switch(collection: str) -> tuple[Any, str]:
        return gr.update(choices=source_choices(collection), value=""), stats(collection)

    with gr.Blocks(title="newsqa") as page:
        exchanges = gr.State([])
        pending = gr.State("")
        with gr.Row():
            gr.Markdown(
                "## newsqa\nAnswers from the indexed news articles, with citations; "
                "it says so when the articles don't hold the answer."
            )
            collection = gr.Dropdown(
                collection_choices(),
                value=settings.collection,
                label="Collection",
                elem_id="newsqa-collection",
                scale=0,
                min_width=220,
            )
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="newsqa-chat",
                    height=520,
                    feedback_options=None,
                    placeholder="Ask about the indexed news articles.",
                )
                gr.HTML(  # how current the index is (feeds: ui/feeds.py)
                    lambda c: feeds.freshness(chain, c), inputs=[collection], every=60
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Ask a question, e.g. How many officers died in "
                        "the Coatepec Harinas ambush?",
                        show_label=False,
                        elem_id="newsqa-question",
                        scale=8,
                        autofocus=True,
                    )
                    button: dict[str, Any] = {"scale": 0, "min_width": 110}
                    send = gr.Button("Ask", variant="primary", elem_id="newsqa-ask", **button)
                    stop = gr.Button("Stop", variant="stop", elem_id="newsqa-stop", **button)
                    clear = gr.Button("New chat", elem_id="newsqa-clear", **button)
                with gr.Accordion("Filters", open=False), gr.Row():
                    published_from = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD")
                    published_to = gr.Textbox(label="Published to", placeholder="YYYY-MM-DD")
                    source = gr.Dropdown(
                        source_choices(settings.collection),
                        value="",
                        label="Source",
                        allow_custom_value=True,
                    )
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                panel = gr.HTML(render.sources_panel([]), elem_id="newsqa-sources")
        with gr.Tab("Articles"):
            files = gr.File(
                file_count="multiple",
                file_types=list(SUFFIXES),
                type="filepath",
                label=f"Article files ({', '.join(SUFFIXES)}; up to "
                f"{settings.upload_max_bytes / 1e6:g} MB each)",
                elem_id="newsqa-files",
            )
            received_only(files, received_uploads(page))
            ingest_button = gr.Button("Ingest", variant="primary", elem_id="newsqa-ingest")
            report = gr.HTML(elem_id="newsqa-report")
            gr.Markdown("### Index")
            stats_view = gr.HTML(stats(settings.collection), elem_id="newsqa-stats")
            feeds.section(chain, settings, collection)
            gr.Markdown("### New collection")
            with gr.Row():
                new_name = gr.Textbox(
                    placeholder="name: 3-63 lowercase letters, digits, _ or -",
                    show_label=False,
                    elem_id="newsqa-new-collection",
                    scale=4,
                )
                create_button = gr.Button(
                    "Create collection", elem_id="newsqa-create", scale=0, min_width=170
                )
            created = gr.HTML(elem_id="newsqa-created")

        inputs = [pending, exchanges, collection, published_from, published_to, source]
        outputs = [chatbot, exchanges, panel]
        running = []
        for trigger in (box.submit, send.click):
            running.append(
                trigger(lambda m: ("", m), box, [box, pending], queue=False).then(
                    chat, inputs, outputs, api_visibility="private", **work
                )
            )
        stop.click(None, cancels=running)
        clear.click(
            lambda: ([], [], render.sources_panel([])),
            outputs=outputs,
            cancels=running,
            queue=False,
        )
        collection.change(switch, collection, [source, stats_view], queue=False)
        ingest_button.click(
            upload,
            [files, collection],
            [report, stats_view, source, collection],
            api_visibility="private",
            # Not a generation: an upload of many files must not hold answers up. One
            # at a time, as two would only split the embedding model's cores.
            concurrency_id="ingest",
            concurrency_limit=1,
        )
        create_button.click(
            create,
            new_name,
            [created, collection, new_name],
            api_visibility="private",
            queue=False,
        )
        # Collections made since the page was built (by the CLI, another user) appear
        # on reload.
        page.load(
            lambda c: (stats(c), gr.update(choices=collection_choices())),
            collection,
            [stats_view, collection],
            queue=False,
        )
        gr.api(ask, api_name="ask", **work)
    return page


def web_app(chain: NewsQA, settings: Settings, **overrides: Any) -> FastAPI:
    """The page at ``/`` of the protocol server (its ``/v1`` and ``/mcp`` routes come
    first), all of them drawing on one ``GenerationSlot``; refuses (``InvalidInput``) a
    login or host that ui/access.py does not allow."""
    slot = GenerationSlot(chain, generations(settings))
    app = api_app(chain, slot)
    page = build_page(chain, settings, slot).queue(default_concurrency_limit=1)
    gr.mount_gradio_app(
        app,
        page,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        auth=login(settings),
        max_file_size=settings.upload_max_bytes,
        head=HEAD,
        css=CSS,
        footer_links=["api"],
        show_error=False,  # as Gradio's own launch: only gr.Error messages reach the page
        **overrides,
    )
    # As Gradio's own launch() does: its checks of the file paths an event names (only
    # files in its upload folder) run only for an app marked launched. The file field
    # and ingest_uploads check again on their own (ui/upload_field.py).
    page.has_launched = True
    if login(settings):
        app.add_middleware(ApiInfoBehindLogin)
    return app


def launch(app: FastAPI, settings: Settings) -> None:
    """Serve ``app`` (``web_app``) until interrupted."""
    print(f"* Running on local URL:  http://{settings.host}:{settings.port}", flush=True)
    run(app, settings)
