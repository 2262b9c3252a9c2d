"""Feeds end to end: fetch, extract, embed, index, against a plain JSONL ingest.

    python benchmarks/feeds.py [--data ../shared/data/realtimeqa-dev] [--entries 1000]

A local server on 127.0.0.1 serves 20 RSS feeds whose entries link to article pages
built from the dev pages (noise.jsonl, then articles.jsonl). Prints:
- the time and articles/s of one poll that indexes every entry (fetch, trafilatura,
  embed, index) into a fresh collection, next to ``ingest`` of the same articles as a
  JSONL file into another fresh collection, and their ratio (the goal: under 1.5x);
- the median time, over 5 new entries, from an entry appearing in a feed to the next
  poll having made it answerable (retrieval finds it first): the poll's own cost, to
  which a watch adds up to its ``--every`` interval.
Every feed is on the one local host, so the per-host delay is set to 0 (polite
fetching of a real site adds ``fetch_host_delay`` per page).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant import build_chain
from assistant.fake import RecordingChatModel
from index.collection import NewsCollection
from index.embeddings import load_embeddings
from index.feed_store import FeedStore
from index.fetching import Fetcher
from index.ingest import ingest
from index.watch import poll_once
from settings import Settings
from tests.web_server import WebServer, article_page, rss

FEEDS = 20


def _records(data: Path, count: int) -> list[dict[str, object]]:
    found = []
    for name in ("noise.jsonl", "articles.jsonl"):
        for line in (data / name).open(encoding="utf-8"):
            record = json.loads(line)
            # News-article sized: trafilatura reads it as an article, and a 30,000-word
            # page dump does not dominate the timing.
            if 80 <= len(str(record["text"]).split()) <= 1000:
                found.append(record)
    unique: dict[str, dict[str, object]] = {}
    for record in found:
        unique.setdefault(str(record["text"]), record)  # the same page once
    return list(unique.values())[:count]


def _serve(web: WebServer, records: list[dict[str, object]]) -> list[str]:
    feeds: list[list[dict[str, str]]] = [[] for _ in range(FEEDS)]
    for n, record in enumerate(records):
        title = str(record.get("title") or f"Story {n}")
        page = web.route(
            f"/p/{n}", article_page(title, str(record["text"]), str(record["published"]))
        )
        record["url"] = record["id"] = page
        feeds[n % FEEDS].append({"title": title, "link": page, "guid": page})
    return [
        web.route(
            f"/feed/{i}.xml",
            rss(f"Feed {i}", items),
            content_type="application/rss+xml",
            etag=f'"{i}-0"',
        )
        for i, items in enumerate(feeds)
    ]


def _settings(root: Path, name: str) -> Settings:
    return Settings(data_dir=root / name, fetch_allow_private=True, fetch_host_delay=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data/realtimeqa-dev"))
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    records = _records(args.data, args.entries)
    embeddings = load_embeddings()
    embeddings.embed_documents(["warm up the model"] * 64)  # not in either timing
    with tempfile.TemporaryDirectory() as tmp, WebServer() as web:
        root = Path(tmp)
        feed_urls = _serve(web, records)
        jsonl = root / "same.jsonl"
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

        plain = NewsCollection(_settings(root, "plain"), embeddings=embeddings, create=True)
        started = time.perf_counter()
        base = ingest(plain, [jsonl], progress=False)
        plain_s = time.perf_counter() - started

        settings = _settings(root, "feeds")
        polled = NewsCollection(settings, embeddings=embeddings, create=True)
        for url in feed_urls:
            FeedStore(polled.catalog).add(url)
        fetcher = Fetcher(settings)
        started = time.perf_counter()
        first = poll_once(polled, fetcher)
        feeds_s = time.perf_counter() - started

        print(f"articles: {len(records)} in {FEEDS} feeds")
        print(
            f"ingest JSONL: {plain_s:.1f} s, {base.added / plain_s:.2f} articles/s, "
            f"{base.chunks} chunks"
        )
        print(
            f"feeds poll:   {feeds_s:.1f} s, {first.report.added / feeds_s:.2f} articles/s, "
            f"{first.report.chunks} chunks, {len(first.report.failed)} failed, "
            f"{first.report.duplicates} duplicates"
        )
        print(f"ratio feeds/ingest: {feeds_s / plain_s:.2f}x")

        chain = build_chain(settings, llm=RecordingChatModel(), embeddings=embeddings)
        waits = []
        for k, name in enumerate(("Zorblatt", "Quimbly", "Fennoway", "Traxholm", "Wuzzleby")):
            words = f"The {name} festival drew crowds to the quay."
            text = f"{words}\n\n" + str(records[k]["text"])
            page = web.route(f"/new/{k}", article_page(f"{name} festival", text, "2026-11-30"))
            feed = k % FEEDS
            items = [{"title": f"{name} festival", "link": page, "guid": page}]
            items += [
                {"title": str(r.get("title") or ""), "link": str(r["url"]), "guid": str(r["url"])}
                for r in records[feed::FEEDS]
            ]
            web.route(
                f"/feed/{feed}.xml",
                rss(f"Feed {feed}", items),
                content_type="application/rss+xml",
                etag=f'"{feed}-{k + 1}"',
            )
            appeared = time.perf_counter()
            poll_once(polled, fetcher)
            found = chain.retrieve(f"Where did the {name} festival draw crowds?")
            assert found[0].metadata["article_id"] == page, found[0].metadata
            waits.append(time.perf_counter() - appeared)
        print(
            "entry appears -> answerable after the next poll: "
            f"median {statistics.median(waits):.2f} s "
            f"(min {min(waits):.2f}, max {max(waits):.2f}; 19 feeds answer 304)"
        )
        fetcher.close()


if __name__ == "__main__":
    main()
