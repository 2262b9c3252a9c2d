"""Keep a collection current: poll its feeds once (cron) or on a schedule until stopped.

:func:`poll_once` takes the collection's ingest lock, polls every feed
(``polling.py``) and returns the same report as an ingest plus one result per feed.
:func:`watch` repeats it every ``every`` seconds until its ``stop`` event is set;
:func:`stop_on_signals` sets that event on Ctrl-C or SIGTERM, so the article in hand
is indexed and the loop ends between articles, never inside a write. A round that
cannot run (another ingest holds the collection, the store is down) is reported and
tried again next round. ``app.py`` runs the same loop in a background thread.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from index.collection import NewsCollection
from index.errors import InvalidInput, NewsqaError
from index.fetching import Fetcher
from index.ingest import IngestReport, StepHook, writing
from index.polling import FeedResult, poll_feeds

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MIN_EVERY = 10.0  # seconds: polling more often than this is not polite to anyone


@dataclass
class PollReport:
    report: IngestReport
    feeds: list[FeedResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.report.to_json(), "feeds": [f.to_json() for f in self.feeds]}

    def summary(self) -> str:
        r = self.report
        failing = sum(f.status in ("failed", "backing off") for f in self.feeds)
        return (
            f"{len(self.feeds)} feeds ({failing} failing): {r.added} added, "
            f"{r.updated} updated, {r.unchanged} unchanged, {r.duplicates} duplicates, "
            f"{len(r.failed)} failed ({r.seconds:.1f} s)"
        )


def parse_every(text: str) -> float:
    """Seconds in "90s", "15m", "1h", "1d" or a plain number of seconds."""
    match = _EVERY.match(text)
    if match is None:
        raise InvalidInput(f"cannot read {text!r} as an interval: use e.g. 90s, 15m, 1h")
    seconds = float(match.group(1)) * _UNIT[(match.group(2) or "s").lower()]
    if seconds < _MIN_EVERY:
        raise InvalidInput(f"interval {text!r} is under {_MIN_EVERY:g} s")
    return seconds


def poll_once(
    collection: NewsCollection,
    fetcher: Fetcher,
    stop: threading.Event | None = None,
    on_step: StepHook | None = None,
    fresh_for: float = 0.0,
) -> PollReport:
    """One poll of every feed; ``fresh_for``: see ``poll_feeds`` (0, a manual poll:
    every feed is polled now)."""
    started = time.perf_counter()
    result = PollReport(IngestReport())
    with writing(collection, result.report, on_step) as run:
        result.feeds = poll_feeds(run, fetcher, stop, fresh_for)
    result.report.seconds = time.perf_counter() - started
    return result


def watch(
    collection: NewsCollection,
    every: float,
    stop: threading.Event,
    on_poll: Callable[[PollReport | NewsqaError], None],
) -> None:
    """Poll, wait ``every`` seconds, poll again, until ``stop`` is set. A feed that
    another watcher of the same catalog polled less than half an interval ago is left
    to it this round."""
    fetcher = Fetcher(collection.settings)
    try:
        while not stop.is_set():
            try:
                on_poll(poll_once(collection, fetcher, stop, fresh_for=every / 2))
            except NewsqaError as error:  # busy, store down: the next round tries again
                on_poll(error)
            stop.wait(every)
    finally:
        fetcher.close()


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that Ctrl-C or SIGTERM sets (instead of raising mid-write)."""
    stop = threading.Event()

    def handle(number: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class BackgroundWatch:
    """The watch loop in a daemon thread, for ``app.py``: started with the server,
    stopped (between two articles) when it exits. Each round is logged to stderr."""

    def __init__(self, collection: NewsCollection, every: float) -> None:
        self.collection = collection
        self.every = every
        self.stop_event = threading.Event()
        self.rounds: list[PollReport | NewsqaError] = []
        self._thread = threading.Thread(target=self._run, name="newsqa-watch", daemon=True)

    def start(self) -> BackgroundWatch:
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self.stop_event.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.collection.close()

    def _run(self) -> None:
        watch(self.collection, self.every, self.stop_event, self._log)

    def _log(self, result: PollReport | NewsqaError) -> None:
        self.rounds.append(result)
        line = f"error: {result}" if isinstance(result, NewsqaError) else result.summary()
        print(f"watch {self.collection.name!r}: {line}", file=sys.stderr, flush=True)


def background_watch(collection: NewsCollection) -> BackgroundWatch | None:
    """The loop ``NEWSQA_WATCH_EVERY`` asks for, started; None when it is not set."""
    every = collection.settings.watch_every.strip()
    if not every:
        return None
    # Its own catalog connection; the same vector store client and model as the chat,
    # so what a poll adds is answerable at once.
    own = NewsCollection(
        collection.settings, embeddings=collection.embeddings, client=collection.client
    )
    return BackgroundWatch(own, parse_every(every)).start()
