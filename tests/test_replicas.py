"""Two app replicas, one index: ``python app.py`` twice (two ports, two data dirs, as
on two machines) on one PostgreSQL database and one ``chroma run`` server. An article
uploaded in one replica's browser is answered by the other at once, no restart.

The model is ``fake`` (it answers with its first source, cited): what is checked here
is that the replicas share the index, not how well a model answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from gradio_client import Client
from playwright.sync_api import expect, sync_playwright

from index.collection import NewsCollection
from settings import Settings
from tests.conftest import ROOT, wait_until_up
from tests.services import free_port

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"


@contextmanager
def _replica(state: Path) -> Iterator[str]:
    """``python app.py`` with the shared settings in the environment; yields its URL."""
    port = free_port()
    state.mkdir()
    env = {**os.environ, "NEWSQA_DATA_DIR": str(state), "NEWSQA_PORT": str(port)}
    env["NEWSQA_LLM"] = "fake"
    with (state / "app.log").open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/", process, log, 300)
            yield f"http://127.0.0.1:{port}/"
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_an_upload_to_one_replica_is_answered_by_the_other(
    shared_settings: Settings, tmp_path: Path
) -> None:
    festival = tmp_path / "festival.jsonl"
    festival.write_text(
        json.dumps(
            {
                "id": "zorblat-1",
                "title": "Zorblat lantern festival draws crowds",
                "published": "2021-03-20",
                "text": "The Zorblat lantern festival in Pinewood drew 4,000 visitors on "
                "Saturday, organisers said. It has been held every spring since 1998.",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    question = "How many visitors did the Zorblat lantern festival in Pinewood draw?"
    with ExitStack() as stack:
        # Started together: both find the collection empty and index the samples.
        one = stack.enter_context(_replica(tmp_path / "one"))
        two = stack.enter_context(_replica(tmp_path / "two"))
        before = Client(two, verbose=False).predict(question, "", "", api_name="/ask")
        assert "zorblat-1" not in before["retrieved"]

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(one)
            page.get_by_role("tab", name="Articles").click()
            expect(page.locator("#newsqa-stats")).to_contain_text("postgresql")
            page.locator("#newsqa-files input[type=file]").set_input_files([str(festival)])
            page.locator("#newsqa-ingest").click()
            expect(page.locator("#newsqa-report")).to_contain_text("1 new", timeout=120_000)
            browser.close()

        after = Client(two, verbose=False).predict(question, "", "", api_name="/ask")
        assert after["retrieved"][0] == "zorblat-1"
        assert "4,000" in after["answer"] and after["citations"][0]["article_id"] == "zorblat-1"

    collection = NewsCollection(shared_settings)
    assert collection.catalog.counts()[0] == 3  # two samples, once, and the upload
    assert collection.problems() == []
    collection.close()
