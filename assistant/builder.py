"""``build_chain``: the one place the real parts are made from settings.

Everything can be handed in instead (any ``BaseChatModel``, any ``Embeddings``, a
retriever); what is not handed in is built from ``settings.py``. Collections are
opened on first use, and only ones that exist: a question never creates one. The
chain keeps the ``OPEN_COLLECTIONS`` most recently used open.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from assistant.chain import NewsQA
from assistant.errors import AssistantError
from assistant.models import get_chat_model
from assistant.prompts import load_prompts
from assistant.retrieval import HybridRetriever
from index.collection import NewsCollection
from settings import Settings, get_settings

# Each open collection holds a SQLite connection and a Chroma handle; a server with
# many collections must not keep every one it was ever asked about open.
OPEN_COLLECTIONS = 4


@dataclass
class _Opened:
    collection: NewsCollection
    retriever: HybridRetriever | None = None


def build_chain(
    settings: Settings | None = None,
    *,
    llm: BaseChatModel | None = None,
    embeddings: Embeddings | None = None,
    retriever: HybridRetriever | None = None,
    progress: bool = True,
) -> NewsQA:
    """A ready chain. ``progress`` shows the model being assembled on first use."""
    settings = settings or get_settings()
    opened: OrderedDict[str, _Opened] = OrderedDict()
    lock = threading.Lock()

    def open_for(name: str) -> _Opened:
        # Called with the lock held. An evicted collection is not closed here: a
        # request may still be reading it; its catalog closes when the last one lets go.
        if name not in opened:
            collection = NewsCollection(
                settings.model_copy(update={"collection": name}), embeddings=embeddings
            )
            opened[name] = _Opened(collection)
            while len(opened) > OPEN_COLLECTIONS:
                opened.popitem(last=False)
        opened.move_to_end(name)
        return opened[name]

    def collection_for(name: str) -> NewsCollection:
        with lock:
            return open_for(name).collection

    def retriever_for(name: str) -> HybridRetriever:
        if retriever is not None:
            if name != settings.collection:
                raise AssistantError(
                    f"this chain was built with a retriever for collection "
                    f"{settings.collection!r}, not {name!r}"
                )
            return retriever
        with lock:
            entry = open_for(name)
            if entry.retriever is None:
                entry.retriever = HybridRetriever.for_collection(entry.collection)
            return entry.retriever

    def default_llm() -> BaseChatModel:
        return get_chat_model(settings, progress)

    return NewsQA(
        llm=llm or default_llm,
        retriever_for=retriever_for,
        collection_for=None if retriever is not None else collection_for,
        prompts=load_prompts(),
        settings=settings,
    )
