"""newsqa's index: load news articles, chunk, embed and store them in Chroma + BM25.

Public surface: open a collection with :class:`NewsCollection`, fill it with
:func:`ingest`. The answering chain reads the same collection.
"""

from index.articles import Article
from index.collection import NewsCollection
from index.ingest import IngestReport, ingest
from index.loaders import LoadError

__all__ = ["Article", "IngestReport", "LoadError", "NewsCollection", "ingest"]
