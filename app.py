"""The browser chat: ``python app.py``, then open http://127.0.0.1:7860.

On first start it indexes the bundled sample articles (``data/``) if the collection is
empty; the model is assembled from its packages and loaded on the first question.
Host, port, login and upload limit come from settings (``NEWSQA_HOST``, ``NEWSQA_PORT``,
``NEWSQA_UI_USER`` + ``NEWSQA_UI_PASSWORD``, ``NEWSQA_UPLOAD_MAX_BYTES``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant import build_chain
from index import ingest
from settings import get_settings
from ui.page import build_page, launch

SAMPLES = Path(__file__).resolve().parent / "data"


def main() -> None:
    settings = get_settings()
    chain = build_chain(settings)
    collection = chain.collection()
    if collection.catalog.counts()[0] == 0:
        print(f"Collection {collection.name!r} is empty: indexing {SAMPLES}", file=sys.stderr)
        report = ingest(collection, [SAMPLES])
        print(f"Indexed {report.added} sample articles", file=sys.stderr)
    launch(build_page(chain, settings), settings)


if __name__ == "__main__":
    main()
