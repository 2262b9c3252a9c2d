"""``python -m eval run SET --corpus PATH... --out DIR``, ``rescore``, ``judge`` and ``compare``.

``run`` ingests the corpus into a throwaway collection (in a temporary data dir,
deleted afterwards) or into ``--collection NAME`` (kept, so a rerun embeds nothing),
then sends every question through the same chain the chat uses.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.builder import build_chain
from assistant.models import refusal_threshold
from eval.judge import ACCEPT, judge_results
from eval.report import compare, write_reports
from eval.runner import load_results, run_items, write_results
from eval.scoring import is_correct
from eval.sets import SetError, load_set
from index.collection import NewsCollection
from index.errors import NewsqaError
from index.ingest import ingest
from settings import Settings, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an eval set and write results and reports")
    run.add_argument("set", type=Path, help="JSONL eval set")
    run.add_argument(
        "--corpus",
        type=Path,
        nargs="+",
        default=[],
        metavar="PATH",
        help="articles to answer from (files or folders)",
    )
    run.add_argument("--out", type=Path, required=True, help="output folder (resumable)")
    run.add_argument(
        "--collection", help="use (and fill) this collection instead of a throwaway one"
    )
    run.add_argument(
        "--choices",
        action="store_true",
        help="multiple choice: append the choices to each question",
    )
    run.add_argument(
        "--retrieval-only", action="store_true", help="score retrieval only, without the LLM"
    )
    run.add_argument("--limit", type=int, help="only the first N questions")
    run.add_argument("--ids", help="only these question ids (comma-separated)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    again = commands.add_parser(
        "rescore",
        help="score a run's answers again (after a scoring change), without running the chain",
    )
    again.add_argument("set", type=Path)
    again.add_argument("out", type=Path, help="the run's output folder")
    judge = commands.add_parser(
        "judge",
        help="ask the model whether the answers the strict scorer rejects are right in "
        "other words (adds accuracy_judged)",
    )
    judge.add_argument("set", type=Path)
    judge.add_argument("out", type=Path, help="the run's output folder")
    cmp = commands.add_parser("compare", help="two runs' metrics side by side, and flips")
    cmp.add_argument("a", type=Path)
    cmp.add_argument("b", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "compare":
            print(compare(args.a, args.b))
            return 0
        if args.command == "rescore":
            return _rescore(args.set, args.out)
        if args.command == "judge":
            return _judge(args.set, args.out)
        return _run(args)
    except (NewsqaError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    items = load_set(args.set)
    if args.ids:
        wanted = set(args.ids.split(","))
        items = [i for i in items if i.id in wanted]
    if args.limit:
        items = items[: args.limit]
    if not args.corpus and not args.collection:
        raise SetError("give --corpus PATH ... (or an existing --collection NAME)")
    settings = get_settings()
    scratch = None
    if args.collection:
        settings = settings.model_copy(update={"collection": args.collection})
    else:
        scratch = Path(tempfile.mkdtemp(prefix="newsqa-eval-"))
        settings = settings.model_copy(update={"data_dir": scratch, "collection": "eval"})
    try:
        return _run_in(args, items, settings)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _shown(settings: Settings) -> dict[str, Any]:
    """The settings for the report, without secrets: the database only by its place; the
    refusal threshold the run used, also where it is the model's own."""
    shown = settings.model_dump(mode="json", exclude={"openai_api_key", "database_url"})
    shown["refusal_threshold"] = refusal_threshold(settings)
    if settings.database_url:
        from index.pg_catalog import server_location

        shown["database"] = server_location(settings.database_url)
    return shown


def _run_in(args: argparse.Namespace, items: list[Any], settings: Settings) -> int:
    collection = NewsCollection(settings, create=bool(args.corpus))
    if args.corpus:
        report = ingest(collection, args.corpus, progress=not args.quiet)
        for failure in report.failed:
            print(f"corpus: skipped {failure}", file=sys.stderr)
    articles, chunks = collection.catalog.counts()
    chain = build_chain(settings, embeddings=collection.embeddings, progress=not args.quiet)
    started = time.time()
    results = run_items(
        chain,
        items,
        args.out,
        aliases=collection.catalog.aliases(),
        with_choices=args.choices,
        retrieval_only=args.retrieval_only,
        progress=not args.quiet,
    )
    context = {
        "set": str(args.set),
        "mode": "retrieval-only"
        if args.retrieval_only
        else ("multiple-choice" if args.choices else "open"),
        "llm": None if args.retrieval_only else settings.llm,
        "settings": _shown(settings),
        "corpus": {"paths": [str(p) for p in args.corpus], "articles": articles, "chunks": chunks},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "seconds": round(time.time() - started, 1),
    }
    summary = write_reports(args.out, results, context)
    metrics = summary["metrics"]
    shown = [
        "accuracy",
        "hits_at_5",
        "mrr_at_10",
        "citation_precision",
        "refusal_precision",
        "refusal_recall",
        "answerable_refused",
        "latency_p50_s",
        "ttft_p50_s",
        "prompt_tokens_p50",
    ]
    print("  ".join(f"{k}={metrics[k]}" for k in shown if metrics.get(k) is not None))
    print(f"wrote {args.out}/results.jsonl, summary.json, report.md, report.png")
    return 1 if metrics["errors"] else 0


def _rescore(set_path: Path, out: Path) -> int:
    items = {item.id: item for item in load_set(set_path)}
    context = json.loads((out / "summary.json").read_text())
    context.pop("metrics", None)
    context.pop("by_group", None)
    results = load_results(out / "results.jsonl")
    if context.get("mode") != "retrieval-only":
        choices = context.get("mode") == "multiple-choice"
        for result in results:
            item = items.get(result["id"])
            if item is not None and not result.get("error"):
                result["correct"] = is_correct(
                    result["answer"],
                    result["refused"],
                    item.answer,
                    item.answerable,
                    item.choices if choices else (),
                )
                if "judged" in result:  # keep the judge's verdict, not its stale sum
                    result["judged"] = bool(result["correct"]) or (
                        result.get("judge_p", 0.0) >= ACCEPT and not result["refused"]
                    )
    write_results(out / "results.jsonl", results)
    metrics = write_reports(out, results, context)["metrics"]
    print(f"accuracy={metrics['accuracy']}  (rescored {len(results)} results in {out})")
    return 0


def _judge(set_path: Path, out: Path) -> int:
    items = {item.id: item for item in load_set(set_path)}
    context = json.loads((out / "summary.json").read_text())
    context.pop("metrics", None)
    context.pop("by_group", None)
    if context.get("mode") != "open":
        raise SetError(f"{out} is a {context.get('mode')} run; the judge reads open answers")
    results = load_results(out / "results.jsonl")
    settings = get_settings()
    from assistant.models import get_chat_model

    asked = judge_results(get_chat_model(settings), items, results)
    context["judge"] = settings.llm
    write_results(out / "results.jsonl", results)
    metrics = write_reports(out, results, context)["metrics"]
    print(
        f"accuracy={metrics['accuracy']}  accuracy_judged={metrics['accuracy_judged']}  "
        f"({asked} answers judged by {settings.llm}; the accepted ones are listed in "
        f"{out}/report.md)"
    )
    return 0
