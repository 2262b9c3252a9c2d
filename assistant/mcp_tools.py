"""newsqa as an MCP server: tools for agents and desktop assistants.

- ``answer_question``: the chain's cited answer; the ``Answer`` as structured content
  (citations with quotes and offsets, refusal, confidence, retrieved ids) and, as text,
  the answer with its numbered sources.
- ``search_articles``: hybrid retrieval only (no model: milliseconds), with the chat's
  filters; each article's title, date, url, best passages and its resource URI.
- resource ``newsqa://articles/{collection}/{article_id}``: an article's stored text,
  exactly the text a citation's offsets point into (the id percent-encoded).

Built on the official SDK's ``MCPServer``; served over stdio (``python -m assistant
mcp``) or streamable HTTP (``assistant/server.py`` mounts it at ``/mcp``). Answers take
turns with the OpenAI API's through the same ``GenerationSlot``. Auth for HTTP is the
server's (``assistant/api_access.py``); stdio runs as the user who started it.
"""

from datetime import date
from typing import Annotated
from urllib.parse import quote

import anyio
from langchain_core.documents import Document
from mcp.server.mcpserver import MCPServer, ResourceSecurity
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from assistant.chain import NewsQA
from assistant.public_ids import shown_answer, shown_id, stored_id
from assistant.slot import GenerationSlot
from assistant.types import Answer, Filters, Question
from index.catalog import StoredArticle
from index.errors import NewsqaError

ARTICLE_URI = "newsqa://articles/{collection}/{article_id}"
MAX_ARTICLES = 10


class ArticleHit(BaseModel):
    article_id: str
    title: str
    published: date | None = None
    source: str = ""
    url: str = ""
    resource: str  # the article's text: read it with resources/read
    passages: list[str]  # the best-matching passages, best first


class SearchResult(BaseModel):
    collection: str
    articles: list[ArticleHit]


def article_uri(collection: str, article_id: str) -> str:
    return f"newsqa://articles/{quote(collection, safe='')}/{quote(article_id, safe='')}"


def answer_text(answer: Answer) -> str:
    """What a model reading the tool's text sees: the answer, then its numbered sources."""
    lines = [answer.answer]
    for c in answer.citations:
        day = f", {c.published}" if c.published else ""
        lines.append(f"[{c.n}] {c.title}{day} {c.url or c.article_id}")
        if c.quote:
            lines.append(f"    “{' '.join(c.quote.split())}”")
    return "\n".join(lines)


def hits(collection: str, docs: list[Document], limit: int) -> list[ArticleHit]:
    """One entry per article, in the retriever's order (best article first)."""
    found: dict[str, ArticleHit] = {}
    for doc in docs:
        meta = doc.metadata
        article_id = meta["article_id"]
        if article_id not in found:
            if len(found) == limit:
                continue
            found[article_id] = ArticleHit(
                article_id=article_id,
                title=meta.get("title", ""),
                published=meta.get("published"),
                source=meta.get("source", ""),
                url=meta.get("url", ""),
                resource=article_uri(collection, article_id),
                passages=[],
            )
        found[article_id].passages.append(doc.page_content)
    return list(found.values())


def build_mcp(chain: NewsQA, slot: GenerationSlot) -> MCPServer:
    server = MCPServer(
        "newsqa",
        instructions="Answers and search over the indexed news articles, with citations.",
    )
    tools = _Tools(chain, slot)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    server.add_tool(tools.answer_question, annotations=read_only)
    server.add_tool(tools.search_articles, annotations=read_only)
    # The id is looked up in the catalog, never used as a path: absolute file paths
    # (what a file's article id is) are fine here.
    server.resource(
        ARTICLE_URI,
        name="article",
        mime_type="text/plain",
        security=ResourceSecurity(exempt_params={"article_id"}),
    )(tools.article)
    return server


class _Tools:
    def __init__(self, chain: NewsQA, slot: GenerationSlot) -> None:
        self.chain, self.slot = chain, slot

    async def answer_question(
        self,
        question: str,
        collection: str | None = None,
        as_of: date | None = None,
        published_from: date | None = None,
        published_to: date | None = None,
        source: str | None = None,
    ) -> Annotated[CallToolResult, Answer]:
        """Answer a question from the indexed news articles, with numbered citations
        ([n] in the text) and the supporting quotes; says so (refused: true) when the
        articles don't hold the answer. as_of: the question's "today" (YYYY-MM-DD);
        nothing published after it is used. Takes seconds: a local model writes it."""
        filters = Filters(published_from=published_from, published_to=published_to, source=source)
        asked = self._question(question, collection, as_of, filters)
        try:
            self.slot.admit()
            async with self.slot.hold():
                answer = await self.chain.ainvoke(asked)
        except NewsqaError as error:
            raise ToolError(str(error)) from None
        answer = shown_answer(answer, self.chain.settings.data_dir)
        return CallToolResult(
            content=[TextContent(type="text", text=answer_text(answer))],
            structured_content=answer.to_json(),
        )

    async def search_articles(
        self,
        query: str,
        collection: str | None = None,
        as_of: date | None = None,
        published_from: date | None = None,
        published_to: date | None = None,
        source: str | None = None,
        limit: int = 5,
    ) -> SearchResult:
        """Search the indexed news articles (keywords and meaning, no model: fast).
        Returns up to `limit` articles (at most 10), best first: title, date, source,
        url, the best-matching passages, and a resource URI for the full text."""
        filters = Filters(published_from=published_from, published_to=published_to, source=source)
        asked = self._question(query, collection, as_of, filters)
        try:
            docs = await anyio.to_thread.run_sync(self.chain.retrieve, asked)
        except NewsqaError as error:
            raise ToolError(str(error)) from None
        name = asked.collection or self.chain.settings.collection
        data_dir = self.chain.settings.data_dir
        shown = [
            Document(d.page_content, metadata={**d.metadata, "article_id": shown_id(a, data_dir)})
            for d in docs
            if (a := d.metadata["article_id"])
        ]
        found = hits(name, shown, max(1, min(limit, MAX_ARTICLES)))
        return SearchResult(collection=name, articles=found)

    async def article(self, collection: str, article_id: str) -> str:
        """An indexed article's text (the text citations' start/end offsets point into)."""
        try:
            stored = await anyio.to_thread.run_sync(self._stored_article, article_id, collection)
        except NewsqaError as error:
            raise ResourceError(str(error)) from None
        if stored is None:
            raise ResourceError(f"no article {article_id!r} in collection {collection!r}")
        return stored.text

    def _stored_article(self, article_id: str, collection: str) -> StoredArticle | None:
        """The article a shown id (``public_ids.py``) or a stored one names."""
        catalog = self.chain.retriever(collection).catalog
        found = stored_id(article_id, catalog, self.chain.settings.data_dir)
        return None if found is None else catalog.get_article(found)

    def _question(
        self, text: str, collection: str | None, as_of: date | None, filters: Filters
    ) -> Question:
        name = collection or self.chain.settings.collection
        return Question(question=text, as_of=as_of, filters=filters, collection=name)
