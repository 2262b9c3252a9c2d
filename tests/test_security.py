"""Attacks on a real ``python app.py`` (login set, the scripted model), every request to
127.0.0.1, each crafted as a client would, not as the browser page sends it: the upload
event naming server files, a device, foreign Host and Origin headers, oversized and
malformed input, login guessing. The server must refuse each clearly and keep serving.
"""

from __future__ import annotations

import html
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client as GradioClient

from assistant.guard import FREE_FAILURES
from tests.conftest import ROOT
from tests.served import app_process

pytestmark = pytest.mark.slow
USER, PASSWORD = "ann", "pw-for-tests"
SECRET = "The vault code of the Zanzibar lighthouse is 42-17-93."
AMBUSH = "How many officers died in the Coatepec Harinas ambush?"
KEY = {"Authorization": f"Bearer {PASSWORD}"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("secured")
    secret = state / "server-secret.txt"
    secret.write_text(f"Lighthouse secrets\n\n{SECRET}\n")
    settings = {"NEWSQA_LLM": "fake", "NEWSQA_UI_USER": USER, "NEWSQA_UI_PASSWORD": PASSWORD}
    with app_process(state, GRADIO_TEMP_DIR=str(state / "gradio"), **settings) as running:
        yield {"url": running.url, "state": state, "secret": secret, "process": running.process}


@pytest.fixture(scope="module")
def session(app: dict[str, Any]) -> Iterator[httpx.Client]:
    """A logged-in page session (Gradio's cookie), logged in before any guessing."""
    with httpx.Client(base_url=app["url"], timeout=60) as client:
        assert client.post("/login", data={"username": USER, "password": PASSWORD}).is_success
        yield client


def _run_event(client: httpx.Client, api_name: str, data: list[Any]) -> dict[str, Any]:
    """One event sent the way Gradio's queue takes it, by the id ``/config`` gives it;
    its ``process_completed`` message."""
    config = client.get("/config").json()
    fn = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    session_hash = uuid.uuid4().hex[:11]
    body = {"data": data, "fn_index": fn, "session_hash": session_hash, "event_data": None}
    joined = client.post(  # ASCII JSON: a lone surrogate goes as its escape
        "/gradio_api/queue/join",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    assert joined.status_code == 200, joined.text
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session_hash}") as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return dict(message)
    raise AssertionError("the event never completed")


def _upload_event(client: httpx.Client, path: str) -> dict[str, Any]:
    return _run_event(
        client, "upload", [[{"path": path, "meta": {"_type": "gradio.FileData"}}], "news"]
    )


def _search(url: str, query: str) -> list[dict[str, Any]]:
    """The citations ``/v1`` answers a query with: what any API user could read back."""
    reply = httpx.post(
        f"{url}/v1/chat/completions",
        headers=KEY,
        json={"model": "newsqa", "messages": [{"role": "user", "content": query}]},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["newsqa"]["citations"])


def _healthy(url: str) -> bool:
    return httpx.get(f"{url}/healthz", timeout=5).status_code == 200


def test_the_upload_event_reads_no_server_file(app: dict[str, Any], session: httpx.Client) -> None:
    secret = str(app["secret"])
    for path in (secret, "/etc/passwd", f"{app['state']}/gradio/../server-secret.txt"):
        done = _upload_event(session, path)
        assert done["success"] is False, done
    assert not (app["state"] / "data" / "uploads" / "news").exists()
    assert all("Zanzibar" not in c["quote"] for c in _search(app["url"], "Zanzibar vault code"))
    # A file the page really uploaded is still taken.
    with Path(secret).open("rb") as handle:
        sent = session.post("/gradio_api/upload", files=[("files", ("mine.txt", handle))])
    done = _upload_event(session, sent.json()[0])
    assert done["success"] is True, done
    assert "1 new" in done["output"]["data"][0]
    assert [p.name for p in (app["state"] / "data" / "uploads" / "news").iterdir()] == ["mine.txt"]
    # What every user sees tells nothing of the server's folders.
    stats = html.unescape(done["output"]["data"][1])
    assert "NEWSQA_DATA_DIR/chroma" in stats and str(app["state"]) not in stats
    cited = _search(app["url"], "Zanzibar lighthouse vault code")
    assert [c["article_id"] for c in cited] == ["uploads/news/mine.txt"]
    for citation in _search(app["url"], AMBUSH):
        assert citation["article_id"].endswith("/000_529f16d631959521.txt")
        assert str(ROOT) not in citation["article_id"]


def test_an_upload_event_naming_a_device_does_not_hang_the_server(
    app: dict[str, Any], session: httpx.Client
) -> None:
    started = time.monotonic()
    done = _upload_event(session, "/dev/zero")
    assert done["success"] is False
    # Any other input may carry a file too: the question of /ask, here.
    device = {"path": "/dev/zero", "meta": {"_type": "gradio.FileData"}}
    assert _run_event(session, "ask", [device, "", ""])["success"] is False
    assert time.monotonic() - started < 30
    assert _healthy(app["url"])
    assert app["process"].poll() is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/config"),
        ("GET", "/healthz"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/gradio_api/queue/join"),
        ("POST", "/mcp"),
    ],
)
def test_a_foreign_host_or_origin_is_refused_on_every_route(
    app: dict[str, Any], method: str, path: str
) -> None:
    url = app["url"] + path
    body = {"model": "newsqa", "messages": [{"role": "user", "content": AMBUSH}]}
    for headers in ({"Host": "evil.example"}, {"Origin": "http://evil.example"}):
        refused = httpx.request(method, url, headers={**KEY, **headers}, json=body, timeout=30)
        assert refused.status_code == 400, (headers, refused.text)
        assert refused.json()["error"]["code"] == "invalid_host"
    port = url.split(":")[2].split("/")[0]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert httpx.get(app["url"] + "/healthz", headers={"Host": host}).status_code == 200


def _chat(url: str, messages: list[dict[str, str]], **newsqa: str) -> httpx.Response:
    body: dict[str, Any] = {"model": "newsqa", "messages": messages}
    if newsqa:
        body["newsqa"] = newsqa
    return httpx.post(f"{url}/v1/chat/completions", headers=KEY, json=body, timeout=60)


def test_bad_input_gets_a_clear_400_and_the_server_keeps_serving(app: dict[str, Any]) -> None:
    url = app["url"]
    follow_up = [
        {"role": "user", "content": "x" * 3_500_000},
        {"role": "assistant", "content": "13 officers died [1]."},
        {"role": "user", "content": "And how many were injured?"},
    ]
    long_turn = _chat(url, follow_up)
    assert long_turn.status_code == 400
    assert long_turn.json()["error"]["param"] == "messages[0].content"
    assert "history turn 1 (user) has 3,500,000 characters" in long_turn.text
    for day in ("0001-01-01", "9999-12-31"):
        dated = _chat(url, [{"role": "user", "content": "What happened this year?"}], as_of=day)
        assert dated.status_code == 400, dated.text
        assert dated.json()["error"]["param"] == "newsqa.as_of"
    surrogate = '{"model": "newsqa", "messages": [{"role": "user", "content": "ambush \\ud800?"}]}'
    lone = httpx.post(
        f"{url}/v1/chat/completions",
        content=surrogate,
        headers={**KEY, "Content-Type": "application/json"},
    )
    assert lone.status_code == 400 and "lone surrogate" in lone.text
    deep = "[" * 10_000 + "]" * 10_000
    json_headers = {
        **KEY,
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    for path in ("/v1/chat/completions", "/mcp", "/gradio_api/queue/join"):
        nested = httpx.post(url + path, content=deep, headers=json_headers, timeout=30)
        assert nested.status_code == 400, (path, nested.text)
    form = httpx.post(
        f"{url}/v1/chat/completions",
        content=json.dumps({"model": "newsqa", "messages": [{"role": "user", "content": AMBUSH}]}),
        headers={**KEY, "Content-Type": "text/plain"},
    )
    assert form.status_code == 415
    assert _chat(url, [{"role": "user", "content": AMBUSH}]).status_code == 200


def test_ask_refuses_bad_input_with_a_message(app: dict[str, Any], session: httpx.Client) -> None:
    for args, said in (
        (["What happened this year?", "0001-01-01", ""], "as_of 0001-01-01 is out of range"),
        (["ambush \ud800?", "", ""], "the question is not valid text: a lone surrogate"),
    ):
        done = _run_event(session, "ask", args)
        assert done["success"] is False and said in done["output"]["error"], done
    client = GradioClient(app["url"] + "/", auth=(USER, PASSWORD), verbose=False)
    assert client.predict(AMBUSH, "", "", api_name="/ask")["citations"]


def test_the_api_description_follows_the_login(app: dict[str, Any], session: httpx.Client) -> None:
    url = app["url"]
    assert httpx.get(f"{url}/openapi.json").status_code == 401
    assert "/v1/chat/completions" in httpx.get(f"{url}/openapi.json", headers=KEY).json()["paths"]
    login_page = httpx.get(f"{url}/").text
    assert '"auth_required":true' in login_page
    assert "/ask" not in login_page and 'named_endpoints": {}' in login_page
    assert '"/ask"' in session.get("/").text  # once logged in, the page has it all


def test_login_guessing_slows_down_and_other_clients_are_not_locked_out(
    app: dict[str, Any],
) -> None:
    url = app["url"]
    # A guesser of its own loopback address: the throttle counts per address.
    guesser = httpx.Client(
        base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30
    )
    with guesser:
        codes = [
            guesser.post("/login", data={"username": USER, "password": f"guess{n}"}).status_code
            for n in range(20)
        ]
        assert codes[:FREE_FAILURES] == [400] * FREE_FAILURES
        assert set(codes[FREE_FAILURES:]) == {429}, codes
        waited = guesser.post("/login", data={"username": USER, "password": PASSWORD})
        assert waited.status_code == 429 and int(waited.headers["retry-after"]) >= 1
        # The API's key is guessed the same way, from the same count.
        wrong_key = guesser.get("/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong_key.status_code == 429
    # Everyone else logs in as before.
    with httpx.Client(base_url=url, timeout=30) as other:
        assert other.post("/login", data={"username": USER, "password": PASSWORD}).is_success
        assert other.get("/v1/models", headers=KEY).status_code == 200
