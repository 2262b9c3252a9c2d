"""Connect to Chroma: embedded under the data dir, or a ``chroma run`` server by URL.

This is the only file that knows how a Chroma client is made. Vectors are always
computed by our ``Embeddings`` and handed to Chroma, so Chroma's own default embedding
function (which would download a model) is never used.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings

from index.errors import StoreError
from settings import Settings

_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


def check_collection_name(name: str) -> str:
    if not _COLLECTION_NAME.match(name) or ".." in name:
        raise StoreError(
            f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def chroma_client(settings: Settings) -> ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.chroma_url:
        path = settings.data_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    url = urlparse(settings.chroma_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise StoreError(f"NEWSQA_CHROMA_URL={settings.chroma_url!r} is not an http(s) URL")
    try:
        client = chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
        client.heartbeat()
    except Exception as error:  # chromadb raises several kinds for a dead server
        raise StoreError(
            f"cannot reach the Chroma server at {settings.chroma_url}: {error}"
        ) from None
    return client


def location(settings: Settings) -> str:
    return settings.chroma_url or str(settings.data_dir / "chroma")


def open_collection(client: ClientAPI, name: str) -> Any:
    return client.get_or_create_collection(
        check_collection_name(name), metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
