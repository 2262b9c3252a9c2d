"""``python -m index``: ingest articles and show what a collection holds.

Only argument parsing and printing live here; the work is in ``ingest.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from index import cli_web
from index.collection import NewsCollection
from index.errors import NewsqaError
from index.ingest import ingest
from settings import Settings, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m index", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "ingest", help="add or update articles (.txt .md .html .jsonl .warc .warc.gz)"
    )
    run.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="files or folders (read recursively)"
    )
    run.add_argument("--collection", help="collection name (default: NEWSQA_COLLECTION)")
    run.add_argument(
        "--prune",
        action="store_true",
        help="drop indexed articles whose source file or record is gone",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    stats = commands.add_parser("stats", help="articles, chunks, model and store location")
    stats.add_argument("--collection")
    stats.add_argument("--json", action="store_true")
    cli_web.add_commands(commands)  # fetch, feeds, watch
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in cli_web.COMMANDS:
        return cli_web.main(args)
    try:
        settings: Settings = get_settings()
        if args.collection:
            settings = settings.model_copy(update={"collection": args.collection})
        # Only an ingest makes a collection; stats on a mistyped name is an error.
        collection = NewsCollection(settings, create=args.command == "ingest")
        if args.command == "stats":
            return _stats(collection, args.json)
        report = ingest(collection, args.paths, prune=args.prune, progress=not args.json)
    except NewsqaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        for failure in report.failed:
            print(f"failed: {failure}", file=sys.stderr)
        print(
            f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.duplicates} duplicates, {report.removed} removed, "
            f"{len(report.failed)} failed; {report.chunks} chunks in {collection.name!r} "
            f"({report.seconds:.1f} s)"
        )
    return 1 if report.failed else 0


def _stats(collection: NewsCollection, as_json: bool) -> int:
    stats = collection.stats()
    if as_json:
        print(json.dumps(stats))
    else:
        width = max(map(len, stats))
        for key, value in stats.items():
            print(f"{key:<{width}}  {value}")
    return 0
