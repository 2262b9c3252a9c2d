"""Peak memory of reading a big WARC file: it is streamed a record at a time.

    python benchmarks/warc_memory.py [--mb 1000] [--pages 300]

Writes an uncompressed WARC into a temporary folder (deleted afterwards): ``--pages``
HTML news pages, one 50 MB HTML page (over ``NEWSQA_MAX_ARTICLE_BYTES``), and 4 MB
binary responses (images, PDFs: skipped) up to ``--mb`` in all, interleaved as a crawl
would store them. A fresh child process then loads every article from it with the
loader ``python -m index ingest`` uses (warcio + trafilatura, no embedding), and prints
its peak RSS (``ru_maxrss``), the time, and what it read.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from index.articles import Article
from index.loaders import SourceFile, load_file

BINARY = 4_000_000


def _response(writer: WARCWriter, url: str, body: bytes, kind: str) -> None:
    headers = StatusAndHeaders("200 OK", [("Content-Type", kind)], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(url, "response", payload=BytesIO(body), http_headers=headers)
    )


def _page(n: int) -> bytes:
    paragraphs = "".join(
        f"<p>Officials in district {n} said on day {k} that the harbour works would go on, "
        f"and that {n * k} workers had signed up for the second phase of the project.</p>"
        for k in range(12)
    )
    return (
        f"<html><head><title>Harbour works {n}</title></head><body><nav>Home</nav>"
        f"<article><h1>Harbour works {n}</h1>{paragraphs}</article></body></html>"
    ).encode()


def write_warc(path: Path, megabytes: float, pages: int) -> None:
    blob = os.urandom(BINARY)
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=False)
        _response(writer, "https://example.org/huge", b"<p>" + b"y" * 50_000_000, "text/html")
        n = 0
        while handle.tell() < megabytes * 1e6:
            if n < pages:
                _response(writer, f"https://example.org/story/{n}", _page(n), "text/html")
            _response(writer, f"https://example.org/img/{n}.jpg", blob, "image/jpeg")
            n += 1
        for rest in range(n, pages):
            _response(writer, f"https://example.org/story/{rest}", _page(rest), "text/html")


def child(path: Path) -> dict[str, float]:
    started = time.perf_counter()
    articles = errors = 0
    for item in load_file(SourceFile(path, str(path)), 2_000_000):
        if isinstance(item, Article):
            articles += 1
        else:
            errors += 1
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"articles": articles, "errors": errors, "seconds": seconds, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=1000)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child))))
        return
    with tempfile.TemporaryDirectory(prefix="newsqa-warc-") as folder:
        path = Path(folder) / "crawl.warc"
        write_warc(path, args.mb, args.pages)
        size = path.stat().st_size / 1e6
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.splitlines()[-1])
        print(
            f"{size:,.0f} MB WARC: {result['articles']} articles, {result['errors']} skipped "
            f"with an error, peak RSS {result['peak_mb']:.0f} MB, {result['seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
