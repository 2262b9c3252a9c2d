"""The one family of errors a user can act on.

Every error that newsqa raises on purpose derives from :class:`NewsqaError`: the index
(store unreachable, another ingest running, a collection embedded with another model),
the assistant (empty index, model missing, question too long), the eval sets and the
UI's own input checks. Each entry point (the three CLIs, the chat, the Articles tab,
``/ask``) catches this one class, prints its message as one line and goes on; anything
else is a bug and keeps its traceback. This module is the bottom layer: it imports
nothing of ours.
"""

from __future__ import annotations


class NewsqaError(Exception):
    """Base class: the message says what is wrong and, where it can, what to do."""


class StoreError(NewsqaError):
    """The vector store or the catalog cannot be reached or used."""


class IngestBusy(NewsqaError):
    """Another ingest holds this collection."""


class EmbeddingMismatch(NewsqaError):
    """The collection was embedded with another model than the one loaded."""


class InvalidInput(NewsqaError):
    """A value a user typed or sent (a date, a collection name, a setting) is not valid."""


class UnknownCollection(InvalidInput):
    """A collection was asked for by a name that no ingest or create action made."""
