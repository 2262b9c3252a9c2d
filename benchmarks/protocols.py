"""What the protocols add: a question through the OpenAI-compatible API (plain and
streamed) and through MCP (HTTP and stdio), against calling the chain in-process.

    python benchmarks/protocols.py [--rounds 5]

The sample articles, the fake model (``NEWSQA_LLM=fake``: it echoes its first source,
so only the protocol is timed, not generation), the seed questions
(``eval/sets/seed.jsonl``, with their history). The servers are what an integrating
app talks to: ``python -m assistant serve`` and ``python -m assistant mcp`` in their
own processes, each over its own copy of the same index; the in-process chain is this
process's own. Each round asks every question every way, in turn, so drift hits all
ways alike. What a way adds is timed inside each call, free of the retrieval time's
noise: the call's wall time minus the chain's own ``timings.total_s`` (reported in every
answer, whichever way it came), minus the same for an in-process ``ainvoke`` (the path
the server takes) of the same question in the same round; the plain difference of wall
times is printed beside it. Clients keep their connection (and MCP its session) open
across calls, as an integrating app would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx
import openai
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from assistant.fake import RecordingChatModel
from assistant.types import Question, Turn
from index.embeddings import load_embeddings
from tests.conftest import free_port
from tests.served import sample_chain, sample_settings

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "eval" / "sets" / "seed.jsonl"


def seed_questions() -> list[Question]:
    items = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    return [
        Question(
            question=item["question"],
            history=[Turn(**turn) for turn in item.get("history", [])],
        )
        for item in items
    ]


def messages(question: Question) -> list[dict[str, str]]:
    turns = [{"role": t.role, "content": t.content} for t in question.history]
    return [*turns, {"role": "user", "content": question.question}]


def server_env(data_dir: Path) -> dict[str, str]:
    """A served copy of the sample index: its own data dir, the fake model."""
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir), "NEWSQA_LLM": "fake"}
    env |= {"NEWSQA_COLLECTION": "news", "HF_HUB_OFFLINE": "1"}
    for name in ("NEWSQA_CHROMA_URL", "NEWSQA_API_KEY", "NEWSQA_UI_USER", "NEWSQA_UI_PASSWORD"):
        env.pop(name, None)
    command = [sys.executable, "-m", "index", "ingest", str(ROOT / "data"), "--json"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return env


@contextmanager
def api_server(data_dir: Path) -> Iterator[str]:
    """``python -m assistant serve`` on a free loopback port, until the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "assistant", "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, env=server_env(data_dir))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("python -m assistant serve did not start")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


async def timed(call: Callable[[], Awaitable[float]]) -> tuple[float, float]:
    """Milliseconds: the call's wall time, and the part of it outside the chain's own
    ``timings.total_s`` (which the answer reports, whichever way it came)."""
    started = time.perf_counter()
    chain_s = await call()
    wall = (time.perf_counter() - started) * 1000
    return wall, wall - chain_s * 1000


async def measure(
    url: str, stdio: StdioServerParameters, chain: Any, questions: list[Question], rounds: int
) -> dict[str, list[tuple[float, float]]]:
    api = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    async with (
        Client(f"{url}/mcp") as mcp_http,
        Client(stdio, read_timeout_seconds=120) as mcp_stdio,
    ):

        async def invoke(q: Question) -> float:
            return float(chain.invoke(q).timings.total_s)

        async def ainvoke(q: Question) -> float:
            return float((await chain.ainvoke(q)).timings.total_s)

        async def plain(q: Question) -> float:
            reply = await api.chat.completions.create(model="newsqa", messages=messages(q))
            return float((reply.model_extra or {})["newsqa"]["timings"]["total_s"])

        async def streamed(q: Question) -> float:
            stream = await api.chat.completions.create(
                model="newsqa", messages=messages(q), stream=True
            )
            chunks = [chunk async for chunk in stream]
            final = [c for c in chunks if c.choices and c.choices[0].finish_reason][-1]
            return float((final.model_extra or {})["newsqa"]["timings"]["total_s"])

        # MCP's tool takes one question: no history (the in-process call has it).
        async def over_http(q: Question) -> float:
            result = await mcp_http.call_tool("answer_question", {"question": q.question})
            return float((result.structured_content or {})["timings"]["total_s"])

        async def over_stdio(q: Question) -> float:
            result = await mcp_stdio.call_tool("answer_question", {"question": q.question})
            return float((result.structured_content or {})["timings"]["total_s"])

        calls = {
            "invoke": invoke,
            "ainvoke": ainvoke,
            "api": plain,
            "api-stream": streamed,
            "mcp-http": over_http,
            "mcp-stdio": over_stdio,
        }
        for q in questions[:3]:  # warm-up: connections, caches, the first embeddings
            for call in calls.values():
                await call(q)
        ways: dict[str, list[tuple[float, float]]] = {way: [] for way in calls}
        for _ in range(rounds):
            for q in questions:
                for way, call in calls.items():
                    ways[way].append(await timed(lambda c=call, q=q: c(q)))  # type: ignore[misc]
    await api.close()
    return ways


def report(ways: dict[str, list[tuple[float, float]]]) -> None:
    """p50s in ms. "outside": wall time minus the chain's own total; "added": a way's
    outside minus ainvoke's, paired by question and round (the protocol's cost, free of
    the retrieval time's noise); "added wall": the same on wall times."""
    print(
        f"{'way':<11}{'calls':>6}{'wall':>8}{'p95':>8}{'outside':>9}{'added':>8}{'added wall':>12}"
    )
    base = ways["ainvoke"]
    for way, times in ways.items():
        wall = [w for w, _ in times]
        added = statistics.median(o - b for (_, o), (_, b) in zip(times, base, strict=True))
        added_wall = statistics.median(w - b for (w, _), (b, _) in zip(times, base, strict=True))
        print(
            f"{way:<11}{len(times):>6}{statistics.median(wall):>8.1f}"
            f"{statistics.quantiles(wall, n=20)[-1]:>8.1f}"
            f"{statistics.median(o for _, o in times):>9.1f}{added:>8.1f}{added_wall:>12.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = sample_settings(Path(tmp) / "in-process")
        chain = sample_chain(settings, load_embeddings(), RecordingChatModel(echo=True))
        questions = seed_questions()
        stdio = StdioServerParameters(
            command=sys.executable,
            args=["-m", "assistant", "mcp"],
            env=server_env(Path(tmp) / "stdio"),
            cwd=ROOT,
        )
        with api_server(Path(tmp) / "served") as url:
            ways = asyncio.run(measure(url, stdio, chain, questions, args.rounds))
    print(f"{len(questions)} seed questions x {args.rounds} rounds, fake model")
    report(ways)


if __name__ == "__main__":
    main()
