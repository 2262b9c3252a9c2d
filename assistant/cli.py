"""``python -m assistant ask QUESTION``, ``chat``, ``serve`` (the OpenAI-compatible API and
MCP over HTTP) and ``mcp`` (MCP over stdio).

Argument parsing and printing only; every answer comes from the public chain.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from assistant.builder import build_chain
from assistant.chain import NewsQA
from assistant.types import Answer, Question, Turn, final_answer
from index.errors import NewsqaError
from settings import Settings, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m assistant", description="Answer questions from the indexed news."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument(
        "--as-of",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="answer as of this date (no articles published after it)",
    )
    ask.add_argument("--collection")
    ask.add_argument("--json", action="store_true", help="print the Answer as one JSON object")
    chat = commands.add_parser("chat", help="a conversation, answers streamed as they come")
    chat.add_argument("--collection")
    serve = commands.add_parser(
        "serve", help="the OpenAI-compatible API (/v1) and MCP (/mcp) over HTTP, headless"
    )
    serve.add_argument("--collection")
    serve.add_argument("--host", help="default: NEWSQA_HOST")
    serve.add_argument("--port", type=int, help="default: NEWSQA_PORT")
    mcp = commands.add_parser("mcp", help="the MCP tools over stdio (for an MCP client)")
    mcp.add_argument("--collection")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
        if args.collection:
            settings = settings.model_copy(update={"collection": args.collection})
        if args.command in ("serve", "mcp"):
            return _serve(args, settings)
        chain = build_chain(settings, progress=True)
        if args.command == "chat":
            return _chat(chain)
        question = Question(question=args.question, as_of=args.as_of)
        if args.json:
            print(json.dumps(chain.invoke(question).to_json(), ensure_ascii=False))
        else:
            _print_answer(chain, question)
    except NewsqaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: uvicorn, FastAPI and the MCP SDK are for these two commands only.
    from assistant import server

    if args.command == "mcp":
        server.serve_stdio(settings)
        return 0
    overrides = {"host": args.host, "port": args.port}
    server.serve(settings.model_copy(update={k: v for k, v in overrides.items() if v}))
    return 0


def _print_answer(chain: NewsQA, question: Question) -> Answer:
    # On a terminal the model's text streams as a draft; the checked answer (citations
    # moved or dropped, or a refusal) follows when it differs. Piped: the answer only.
    live = sys.stdout.isatty()
    draft: list[str] = []

    def show(piece: str) -> None:
        draft.append(piece)
        if live:
            print(piece, end="", flush=True)

    answer = final_answer(chain.stream(question), show)
    if not live:
        print(answer.answer)
    elif answer.answer != "".join(draft).strip():
        print(f"\nchecked: {answer.answer}")
    else:
        print()
    for citation in answer.citations:
        day = f", {citation.published}" if citation.published else ""
        print(f"  [{citation.n}] {citation.title}{day}  {citation.url or citation.article_id}")
        if citation.quote:
            print(f"      “{' '.join(citation.quote.split())}”")
    t = answer.timings
    print(
        f"  ({t.total_s:.1f} s, first token {t.ttft_s or 0:.1f} s, "
        f"{t.prompt_tokens} prompt tokens)",
        file=sys.stderr,
    )
    return answer


def _chat(chain: NewsQA) -> int:
    print("Ask about the indexed news. Empty line or Ctrl-D to quit.")
    history: list[Turn] = []
    while True:
        try:
            line = input("\n> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not line:
            return 0
        try:
            answer = _print_answer(chain, Question(question=line, history=history))
        except NewsqaError as error:
            print(f"error: {error}", file=sys.stderr)
            continue
        history += [Turn(role="user", content=line), Turn(role="assistant", content=answer.answer)]
