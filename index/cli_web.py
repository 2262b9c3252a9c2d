"""``python -m index fetch|feeds|watch``: the web commands of the index CLI.

``fetch URL...`` indexes article pages; ``feeds add|list|remove`` manages the
collection's feeds; ``watch`` polls them, ``--once`` (for cron) or ``--every 15m``
until Ctrl-C or SIGTERM. Only parsing and printing live here: the work is in
``polling.py`` and ``watch.py``. ``cli.py`` hands these commands over.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from index.collection import NewsCollection
from index.errors import NewsqaError
from index.feed_store import FeedStore
from index.fetching import Fetcher, check_url
from index.ingest import IngestReport, writing
from index.polling import fetch_pages
from index.watch import PollReport, parse_every, poll_once, stop_on_signals, watch
from settings import get_settings

COMMANDS = ("fetch", "feeds", "watch")


def add_commands(commands: Any) -> None:
    """Add the web commands to ``python -m index``'s subparsers."""
    fetch = commands.add_parser("fetch", help="fetch and index article pages by URL")
    fetch.add_argument("urls", nargs="+", metavar="URL")
    fetch.add_argument("--collection")
    fetch.add_argument("--json", action="store_true", help="print one JSON object")
    feeds = commands.add_parser("feeds", help="add, list or remove the collection's feeds")
    actions = feeds.add_subparsers(dest="action", required=True)
    for name, text in (("add", "add an RSS or Atom feed"), ("remove", "forget a feed")):
        action = actions.add_parser(name, help=text)
        action.add_argument("url", metavar="URL")
        action.add_argument("--collection")
    listing = actions.add_parser("list", help="the feeds, last poll, new articles, last error")
    listing.add_argument("--collection")
    listing.add_argument("--json", action="store_true")
    run = commands.add_parser("watch", help="poll the feeds on a schedule (or --once)")
    run.add_argument("--collection")
    when = run.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="poll every feed once and exit")
    when.add_argument("--every", default="15m", help="interval: 90s, 15m, 1h (default 15m)")
    run.add_argument("--json", action="store_true", help="print one JSON object per poll")


def main(args: argparse.Namespace) -> int:
    try:
        settings = get_settings()
        if args.collection:
            settings = settings.model_copy(update={"collection": args.collection})
        create = args.command == "fetch" or getattr(args, "action", "") == "add"
        collection = NewsCollection(settings, create=create)
        if args.command == "feeds":
            return _feeds(collection, args)
        if args.command == "fetch":
            return _fetch(collection, args.urls, args.json)
        if args.once:
            return _once(collection, args.json)
        return _watch(collection, parse_every(args.every), args.json)
    except NewsqaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _feeds(collection: NewsCollection, args: argparse.Namespace) -> int:
    store = FeedStore(collection.catalog)
    if args.action == "add":
        check_url(args.url, allow_private=collection.settings.fetch_allow_private)
        if store.add(args.url):
            print(f"added {args.url} to {collection.name!r}; the next poll reads it")
        else:
            print(f"{args.url} is already a feed of {collection.name!r}")
        return 0
    if args.action == "remove":
        store.remove(args.url)
        print(f"removed {args.url}; the articles it brought stay indexed")
        return 0
    feeds = store.feeds()
    if args.json:
        print(json.dumps([vars(f) for f in feeds]))
        return 0
    if not feeds:
        print(f"{collection.name!r} has no feeds: python -m index feeds add URL")
    for feed in feeds:
        state = f"error: {feed.last_error}" if feed.last_error else "ok"
        print(
            f"{feed.url}  {feed.title or '(untitled)'}\n  last poll {feed.last_poll or 'never'}, "
            f"{feed.new_articles} new, {feed.failures} failures, {state}"
        )
    return 0


def _fetch(collection: NewsCollection, urls: list[str], as_json: bool) -> int:
    started, report = time.perf_counter(), IngestReport()
    fetcher = Fetcher(collection.settings)
    try:
        with writing(collection, report) as run:
            fetch_pages(run, fetcher, urls)
    finally:
        fetcher.close()
    report.seconds = time.perf_counter() - started
    if as_json:
        print(json.dumps(report.to_json()))
    else:
        _print(PollReport(report), collection)
    return 1 if report.failed else 0


def _once(collection: NewsCollection, as_json: bool) -> int:
    fetcher = Fetcher(collection.settings)
    try:
        with stop_on_signals() as stop:
            result = poll_once(collection, fetcher, stop)
    finally:
        fetcher.close()
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        _print(result, collection)
    return 1 if result.report.failed else 0


def _watch(collection: NewsCollection, every: float, as_json: bool) -> int:
    def show(result: PollReport | NewsqaError) -> None:
        if isinstance(result, NewsqaError):
            print(f"error: {result}", file=sys.stderr, flush=True)
        elif as_json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            _print(result, collection)

    with stop_on_signals() as stop:
        watch(collection, every, stop, show)
    return 0


def _print(result: PollReport, collection: NewsCollection) -> None:
    for failure in result.report.failed:
        print(f"failed: {failure}", file=sys.stderr)
    for feed in result.feeds:
        for problem in feed.problems:
            print(f"note: {problem}", file=sys.stderr)
    when = time.strftime("%H:%M:%S")
    head = result.summary() if result.feeds else _pages(result.report)
    print(f"[{when}] {head}; {result.report.chunks} chunks in {collection.name!r}", flush=True)


def _pages(report: IngestReport) -> str:
    return (
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.duplicates} duplicates, {len(report.failed)} failed ({report.seconds:.1f} s)"
    )
