"""``build_chain``: the one place the real parts are made from settings.

Everything can be handed in instead (any ``BaseChatModel``, any ``Embeddings``, a
retriever); what is not handed in is built from ``settings.py``. Collections are
opened on first use and kept for the life of the chain.
"""

from __future__ import annotations

import threading

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from assistant.chain import NewsQA
from assistant.errors import AssistantError
from assistant.models import get_chat_model
from assistant.prompts import load_prompts
from assistant.retrieval import HybridRetriever
from index.collection import NewsCollection
from settings import Settings, get_settings


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
    collections: dict[str, NewsCollection] = {}
    opened: dict[str, HybridRetriever] = {}
    lock = threading.Lock()

    def collection_for(name: str) -> NewsCollection:
        with lock:
            if name not in collections:
                collections[name] = NewsCollection(
                    settings.model_copy(update={"collection": name}), embeddings=embeddings
                )
            return collections[name]

    def retriever_for(name: str) -> HybridRetriever:
        if retriever is not None:
            if name != settings.collection:
                raise AssistantError(
                    f"this chain was built with a retriever for collection "
                    f"{settings.collection!r}, not {name!r}"
                )
            return retriever
        collection = collection_for(name)
        with lock:
            if name not in opened:
                opened[name] = HybridRetriever(
                    vector_store=collection.vector_store(),
                    catalog=collection.catalog,
                    embeddings=collection.embeddings,
                )
            return opened[name]

    def default_llm() -> BaseChatModel:
        return get_chat_model(settings, progress)

    return NewsQA(
        llm=llm or default_llm,
        retriever_for=retriever_for,
        collection_for=None if retriever is not None else collection_for,
        prompts=load_prompts(),
        settings=settings,
    )
