"""The protocol servers behind a login: a wrong key refused in OpenAI's shape, and
``python app.py`` serving the page, ``/ask``, ``/v1`` and ``/mcp`` on one port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import openai
import pytest
from gradio_client import Client as GradioClient
from langchain_core.embeddings import Embeddings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from assistant.fake import RecordingChatModel
from assistant.server import api_app
from tests.conftest import ROOT, wait_until_up
from tests.served import sample_chain, sample_settings, serving
from tests.services import free_port

AMBUSH = "How many officers died in the Coatepec Harinas ambush?"


def test_a_wrong_key_is_refused_in_openais_shape(
    tmp_path: Path, real_embeddings: Embeddings
) -> None:
    settings = sample_settings(tmp_path / "data", api_key="sekret")
    chain = sample_chain(settings, real_embeddings, RecordingChatModel(echo=True))
    with serving(api_app(chain)) as url:
        wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            wrong.chat.completions.create(
                model="newsqa", messages=[{"role": "user", "content": AMBUSH}]
            )
        assert refused.value.status_code == 401
        assert refused.value.code == "invalid_api_key"
        bare = httpx.get(f"{url}/v1/models")
        assert bare.status_code == 401 and bare.json()["error"]["type"] == "authentication_error"
        right = openai.OpenAI(base_url=f"{url}/v1", api_key="sekret", max_retries=0)
        assert "[1]" in (
            right.chat.completions.create(
                model="newsqa", messages=[{"role": "user", "content": AMBUSH}]
            )
            .choices[0]
            .message.content
            or ""
        )


@pytest.mark.slow
def test_the_chat_server_speaks_openai_and_mcp_behind_its_login(tmp_path: Path) -> None:
    """``python app.py``: the page, ``/ask``, ``/v1`` and ``/mcp`` on one port, one login."""
    port = free_port()
    env = {
        **os.environ,
        "NEWSQA_DATA_DIR": str(tmp_path / "data"),
        "NEWSQA_PORT": str(port),
        "NEWSQA_COLLECTION": "news",
        "NEWSQA_LLM": "fake",
        "NEWSQA_UI_USER": "ann",
        "NEWSQA_UI_PASSWORD": "pw",
    }
    env.pop("NEWSQA_CHROMA_URL", None)
    env.pop("NEWSQA_API_KEY", None)
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "app.log").open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"{url}/", process, log, 240)
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="pw", max_retries=0)
            reply = client.chat.completions.create(
                model="newsqa", messages=[{"role": "user", "content": AMBUSH}]
            )
            assert "[1]" in (reply.choices[0].message.content or "")
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=f"{url}/v1", api_key="nope").models.list()
            asked = GradioClient(f"{url}/", auth=("ann", "pw"), verbose=False).predict(
                AMBUSH, "", "", api_name="/ask"
            )
            assert asked["answer"] == reply.choices[0].message.content
            assert _mcp_search(f"{url}/mcp", "pw")["articles"]
        finally:
            process.terminate()
            process.wait(timeout=30)


def _mcp_search(url: str, key: str) -> Any:
    async def main() -> Any:
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            found = await client.call_tool("search_articles", {"query": "ambush"})
            return found.structured_content

    return anyio.run(main)
