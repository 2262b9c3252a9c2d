"""What the shared-server guards cost and how fast each attack is turned away.

    python benchmarks/security.py [--rounds 2000]

1. The guard in front of every route (``assistant/guard.py``: Host/Origin check, login
   throttle), in-process: a trivial ASGI app called directly vs through ``Guard``,
   median per request, with a plain request and with a keyed ``/v1`` request (which
   the throttle watches).
2. A real ``python app.py`` (login set, the scripted model, its own data dir) on
   127.0.0.1, sent each attack of issue #24: the seconds until each is refused and
   until ``/healthz`` answers after it, and 20 wrong passwords (status codes, wall time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.guard import Guard  # noqa: E402
from settings import Settings  # noqa: E402
from tests.served import app_process  # noqa: E402

USER, PASSWORD = "ann", "bench-pw"


async def _plain(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def guard_cost(rounds: int) -> None:
    guarded = Guard(_plain, Settings(host="127.0.0.1", allowed_hosts=""))

    async def sink(message: Any) -> None:
        return None

    async def nothing() -> Any:
        return {"type": "http.request", "body": b""}

    def scope(path: str, keyed: bool) -> dict[str, Any]:
        headers = [(b"host", b"127.0.0.1:7860")]
        if keyed:
            headers.append((b"authorization", b"Bearer k"))
        return {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": headers,
            "client": ("127.0.0.1", 5000),
        }

    async def timed(app: Any, path: str, keyed: bool) -> float:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            await app(scope(path, keyed), nothing, sink)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1e6

    async def main() -> None:
        for path, keyed in (("/", False), ("/v1/models", True)):
            bare = await timed(_plain, path, keyed)
            through = await timed(guarded, path, keyed)
            print(
                f"guard, {path:12} keyed={keyed!s:5}: {bare:6.1f} us bare, "
                f"{through:6.1f} us guarded (+{through - bare:.1f} us, x{through / bare:.1f})"
            )

    anyio.run(main)


def _event(client: httpx.Client, api_name: str, data: list[Any]) -> dict[str, Any]:
    config = client.get("/config").json()
    fn = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    session = uuid.uuid4().hex[:11]
    body = {"data": data, "fn_index": fn, "session_hash": session, "event_data": None}
    client.post(
        "/gradio_api/queue/join",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as events:
        for line in events.iter_lines():
            if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_completed":
                return dict(json.loads(line[5:]))
    raise RuntimeError("no completion")


def attacks(state: Path) -> None:
    logged = {"NEWSQA_LLM": "fake", "NEWSQA_UI_USER": USER, "NEWSQA_UI_PASSWORD": PASSWORD}
    with app_process(state, GRADIO_TEMP_DIR=str(state / "gradio"), **logged) as app:
        _attack(app.url, state)


def _attack(url: str, state: Path) -> None:
    client = httpx.Client(base_url=url, timeout=120)
    client.post("/login", data={"username": USER, "password": PASSWORD})
    key = {"Authorization": f"Bearer {PASSWORD}", "Content-Type": "application/json"}
    secret = state / "secret.txt"
    secret.write_text("Lighthouse\n\nThe vault code is 42.\n")
    history = {
        "model": "newsqa",
        "messages": [
            {"role": "user", "content": "x" * 3_500_000},
            {"role": "assistant", "content": "13 [1]."},
            {"role": "user", "content": "And how many were injured?"},
        ],
    }
    cases = {
        "upload event naming /dev/zero": lambda: _event(
            client,
            "upload",
            [[{"path": "/dev/zero", "meta": {"_type": "gradio.FileData"}}], "news"],
        )["success"],
        "upload event naming a server file": lambda: _event(
            client,
            "upload",
            [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}], "news"],
        )["success"],
        "3.5 MB history turn (/v1)": lambda: (
            client.post("/v1/chat/completions", json=history, headers=key).status_code
        ),
        "JSON nested 10,000 deep (/v1)": lambda: (
            client.post(
                "/v1/chat/completions", content="[" * 10_000 + "]" * 10_000, headers=key
            ).status_code
        ),
        "Host: evil.example (/v1)": lambda: (
            client.post(
                "/v1/chat/completions", json=history, headers={**key, "Host": "evil.example"}
            ).status_code
        ),
    }
    for name, attack in cases.items():
        started = time.perf_counter()
        outcome = attack()
        refused = time.perf_counter() - started
        healthy = httpx.get(url + "/healthz", timeout=30).status_code
        print(f"{name:36}: {outcome!s:5} in {refused * 1000:7.1f} ms; /healthz then {healthy}")
    guesser = httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    started = time.perf_counter()
    codes = [
        guesser.post("/login", data={"username": USER, "password": f"g{n}"}).status_code
        for n in range(20)
    ]
    wall = time.perf_counter() - started
    print(
        f"20 wrong passwords from one address: {codes.count(400)} checked (400), "
        f"{codes.count(429)} refused unchecked (429), {wall:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    guard_cost(args.rounds)
    with tempfile.TemporaryDirectory() as state:
        attacks(Path(state))


if __name__ == "__main__":
    main()
