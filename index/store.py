"""Connect to Chroma: embedded under the data dir, or a ``chroma run`` server by URL.

This is the only file that knows how a Chroma client is made, and how it fails:
``store_errors`` turns a store that stops answering into one ``StoreError``. Vectors
are always computed by our ``Embeddings`` and handed to Chroma, so Chroma's own
default embedding function (which would download a model) is never used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, InvalidArgumentError, NotFoundError

from index.errors import InvalidInput, StoreError
from settings import Settings

_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
# New collections get plain names, safe as file names and in URLs: up to 63 lowercase
# letters, digits, '_' and '-', starting with a letter or digit; Chroma also wants 3
# characters at least and a letter or digit last. Existing ones keep what Chroma allowed.
_NEW_COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")


def check_collection_name(name: str) -> str:
    if not _COLLECTION_NAME.match(name) or ".." in name:
        raise StoreError(
            f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def check_new_collection_name(name: str) -> str:
    if not _NEW_COLLECTION_NAME.match(name):
        raise InvalidInput(
            f"{name!r} cannot name a new collection: use 3-63 lowercase letters, digits, "
            "'_' or '-', starting and ending with a letter or digit"
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


@contextmanager
def store_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn a failure of the Chroma store inside the block into one ``StoreError``.

    Wrap only calls into Chroma (its client, or a LangChain vector store over it): an
    error of our own code raised in the block keeps its type and its traceback.
    ``settings`` name the store; without them a server is named by the failed request.
    """
    try:
        yield
    except Exception as error:
        if not _store_fault(error):
            raise
        raise StoreError(_fault_message(error, settings)) from error


def _store_fault(error: Exception) -> bool:
    # httpx errors: the server is gone, refuses connections or broke the exchange.
    # ChromaError: what the server or the embedded store reports, except a request it
    # calls malformed, which is our bug. A bare Exception is chromadb's for an error
    # response it cannot classify (a proxy's 502 page). OSError: sockets and files.
    if isinstance(error, InvalidArgumentError):
        return False
    return isinstance(error, httpx.HTTPError | ChromaError | OSError) or type(error) is Exception


def _fault_message(error: Exception, settings: Settings | None) -> str:
    reason = " ".join(str(error).split())[:300] or type(error).__name__
    if isinstance(error, httpx.TransportError):
        server = settings.chroma_url if settings else _server(error)
        return (
            f"the Chroma server at {server} stopped answering ({reason}): "
            "start it again, then retry"
        )
    where = f" at {location(settings)}" if settings else ""
    return f"the Chroma store{where} failed: {reason}"


def _server(error: httpx.TransportError) -> str:
    try:
        url = error.request.url
    except RuntimeError:  # an error raised outside a request carries none
        return "NEWSQA_CHROMA_URL"
    return f"{url.scheme}://{url.netloc.decode()}"


def find_collection(client: ClientAPI, name: str) -> Any | None:
    """The Chroma collection by that name, or None: never creates one."""
    try:
        return client.get_collection(check_collection_name(name), embedding_function=None)
    except NotFoundError:
        return None


def open_collection(client: ClientAPI, name: str) -> Any:
    return client.get_or_create_collection(
        check_collection_name(name), metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
