"""The protocol server: OpenAI-compatible routes and MCP in one ASGI app, and its runners.

``api_app(chain)`` is a FastAPI app with ``/v1/chat/completions``, ``/v1/models`` and
MCP's streamable HTTP at ``/mcp``, all behind the same key or login
(``assistant/api_access.py``) and one ``GenerationSlot``. ``python app.py`` mounts the
browser chat onto it (``ui/page.py``), sharing that slot; ``python -m assistant serve``
runs it alone, and ``python -m assistant mcp`` serves the MCP tools over stdio. Nothing
here answers anything itself: the routes and tools call the chain.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api_access import is_authorized
from assistant.builder import build_chain
from assistant.chain import NewsQA
from assistant.errors import AssistantError
from assistant.guard import Guard, host_warning, mcp_security
from assistant.mcp_tools import build_mcp
from assistant.openai_api import openai_router
from assistant.slot import GenerationSlot, generations
from index.errors import InvalidInput, NewsqaError, UnknownCollection
from settings import Settings
from ui.access import is_loopback, login

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
OPENAPI_PATH = "/openapi.json"


def api_app(chain: NewsQA, slot: GenerationSlot | None = None) -> FastAPI:
    """The OpenAI routes and MCP over HTTP for one chain (one app per chain: the MCP
    session manager runs once, in the app's lifespan). ``slot``: the generation limit
    they share with others (the browser chat's); by default one of their own."""
    slot = slot or GenerationSlot(chain, generations(chain.settings))
    mcp = build_mcp(chain, slot)
    # Made for its session manager; the Host check is the Guard's, for every route.
    mcp.streamable_http_app(
        streamable_http_path=MCP_PATH, host=chain.settings.host, transport_security=mcp_security()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    app = FastAPI(
        title="newsqa", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.add_middleware(Guard, settings=chain.settings)
    app.include_router(openai_router(chain, slot))
    for path, route in (
        (OPENAPI_PATH, _openapi(app, chain.settings)),
        (HEALTH_PATH, _health(chain)),
    ):
        app.add_api_route(path, route, methods=["GET"], include_in_schema=False)
    mcp_endpoint = _Authorized(StreamableHTTPASGIApp(mcp.session_manager), chain.settings)
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp_endpoint))
    return app


def _openapi(app: FastAPI, settings: Settings) -> Callable[[Request], JSONResponse]:
    """The API's description, behind the same key or login as the API itself."""

    def openapi(request: Request) -> JSONResponse:
        if not is_authorized(request.headers, settings):
            return JSONResponse(
                {"error": {"message": "invalid API key", "type": "authentication_error"}},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return JSONResponse(app.openapi())

    return openapi


def _health(chain: NewsQA) -> Callable[[Request], JSONResponse]:
    """``GET /healthz`` for a load balancer in front of replicas: 200 when this replica
    reaches the collection's catalog and vector store, 503 when either is down. No key
    is needed; what is down (the server's address, never a password) is said only to
    a caller who sends the API's key or login."""

    def health(request: Request) -> JSONResponse:  # sync: FastAPI runs it in a thread
        try:
            chain.collection().check_reachable()
        except UnknownCollection:  # both answered; the collection is not made yet
            return JSONResponse({"status": "ok", "collection": "not created yet"})
        except AssistantError:  # a chain built on a retriever: nothing of ours to check
            return JSONResponse({"status": "ok"})
        except NewsqaError as error:
            body = {"status": "unavailable"}
            if is_authorized(request.headers, chain.settings):
                body["error"] = str(error)
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "collection": chain.settings.collection})

    return health


class _Authorized:
    """MCP over HTTP behind the API's key: a 401 with a JSON-RPC error otherwise."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_authorized(Headers(scope=scope), self.settings):
            refusal = JSONResponse(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32001, "message": "invalid API key (Bearer token)"},
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def check_access(settings: Settings) -> None:
    """The chat's rules (``ui/access.py``): half a login, or a host open to other
    machines with neither ``NEWSQA_API_KEY`` nor a login, is refused (``InvalidInput``)."""
    login(settings.model_copy(update={"allow_anonymous": True}))  # half a login
    guarded = settings.api_key.get_secret_value() or settings.ui_user
    if not guarded and not is_loopback(settings.host) and not settings.allow_anonymous:
        raise InvalidInput(
            f"NEWSQA_HOST={settings.host} lets other machines call the API and there is no "
            "key: set NEWSQA_API_KEY (or NEWSQA_UI_USER and NEWSQA_UI_PASSWORD), or "
            "NEWSQA_ALLOW_ANONYMOUS=true to open it to anyone on purpose"
        )


def serve(settings: Settings) -> None:
    """``python -m assistant serve``: the API alone, until interrupted."""
    check_access(settings)
    chain = build_chain(settings)
    _say_if_unusable(chain)
    warning = host_warning(settings)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    url = f"http://{settings.host}:{settings.port}"
    print(f"newsqa API on {url}/v1 (OpenAI-compatible) and {url}{MCP_PATH} (MCP)", file=sys.stderr)
    run(api_app(chain), settings)


def run(app: FastAPI, settings: Settings) -> None:
    # A streaming client left open must not hold a shutdown forever.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


def serve_stdio(settings: Settings) -> None:
    """``python -m assistant mcp``: the MCP tools on stdin/stdout (stdout is the
    protocol's: everything else goes to stderr)."""
    chain = build_chain(settings)
    _say_if_unusable(chain)
    build_mcp(chain, GenerationSlot(chain, generations(settings))).run("stdio")


def _say_if_unusable(chain: NewsQA) -> None:
    # Not fatal: the collection may be filled (or made) while the server runs.
    try:
        articles = chain.collection().catalog.counts()[0]
    except NewsqaError as error:
        print(f"warning: {error}", file=sys.stderr)
        return
    if articles == 0:
        print(f"warning: collection {chain.settings.collection!r} is empty", file=sys.stderr)
