"""End to end: ``python app.py`` with the real model, driven by Debian's chromium through
Playwright, and by four concurrent ``gradio_client`` sessions.

Screenshots land in ``artifacts/`` (``NEWSQA_ARTIFACTS`` to move them).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from eval.scoring import is_correct
from tests.conftest import ROOT
from tests.served import app_process

pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("NEWSQA_ARTIFACTS", ROOT / "artifacts"))
AMBUSH = str(ROOT / "data" / "000_529f16d631959521.txt")


@contextmanager
def _app(state: Path, **env: str) -> Iterator[str]:
    """``python app.py`` with its own data dir; yields its URL (with the slash)."""
    with app_process(state, **env) as app:
        yield f"{app.url}/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _app(tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.goto(server)
    yield opened
    context.close()


def _ask(page: Page, question: str) -> None:
    page.locator("#newsqa-question textarea").fill(question)
    page.locator("#newsqa-ask").click()
    expect(page.locator("#newsqa-chat [data-testid=user]").last).to_contain_text(question)
    # The final bubble carries the timings line; streaming ones do not.
    last = page.locator("#newsqa-chat [data-testid=bot]").last
    expect(last.locator(".newsqa-timings")).to_be_visible(timeout=240_000)


def _last_answer(page: Page) -> str:
    return page.locator("#newsqa-chat [data-testid=bot]").last.inner_text()


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_answer_citation_opens_the_source_with_the_quote_highlighted(
    page: Page, browser: Browser, server: str
) -> None:
    _ask(page, "How many officers died in the Coatepec Harinas ambush?")
    answer = _last_answer(page)
    assert "13" in answer or "thirteen" in answer.lower(), answer

    page.locator("#newsqa-chat a.newsqa-cite").first.click()
    card = page.locator("#newsqa-sources details.src-card[open]")
    expect(card).to_have_count(1)
    expect(card.locator(".src-title")).to_contain_text("Mexico ambush")
    mark = card.locator(".src-text mark")
    expect(mark).to_be_visible()
    quote = mark.inner_text().strip()
    assert len(quote) > 20
    assert quote in card.locator(".src-text").inner_text()
    _screenshot(page, "chat-citation.png")

    # Another browser session starts with its own, empty conversation.
    other = browser.new_page()
    other.goto(server)
    expect(other.locator("#newsqa-question textarea")).to_be_visible()
    assert other.locator("#newsqa-chat [data-testid=bot]").count() == 0
    other.close()


def test_upload_reports_the_bad_file_and_article_markup_stays_text(
    page: Page, tmp_path: Path
) -> None:
    festival = tmp_path / "festival.jsonl"
    festival.write_text(
        json.dumps(
            {
                "id": "zorblat-1",
                "title": 'Zorblat lantern festival <img src=x onerror="window.__pwned=1">',
                "published": "2021-03-20",
                "source": "Pinewood Herald",
                "text": (
                    "The Zorblat lantern festival in Pinewood drew 4,000 visitors on Saturday, "
                    "organisers said. <script>window.__pwned = 2</script> "
                    "The festival has been held every spring since 1998."
                ),
            }
        )
        + "\n",
        encoding="utf-8",
    )
    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"\xff\xfe\x00binary\x00junk")
    page.get_by_role("tab", name="Articles").click()
    page.locator("#newsqa-files input[type=file]").set_input_files([str(festival), str(broken)])
    page.locator("#newsqa-ingest").click()
    report = page.locator("#newsqa-report")
    expect(report).to_contain_text("1 new", timeout=120_000)
    expect(report.locator("li")).to_have_count(1)
    expect(report.locator("li")).to_contain_text("broken.txt")
    expect(page.locator("#newsqa-stats")).to_contain_text("3")  # 2 samples + 1 upload
    _screenshot(page, "articles-upload.png")

    page.get_by_role("tab", name="Chat").click()
    _ask(page, "How many visitors did the Zorblat lantern festival in Pinewood draw?")
    assert "4,000" in _last_answer(page) or "4000" in _last_answer(page)
    page.locator("#newsqa-chat a.newsqa-cite").first.click()
    card = page.locator("#newsqa-sources details.src-card[open]")
    expect(card.locator(".src-title")).to_contain_text('<img src=x onerror="window.__pwned=1">')
    expect(card.locator(".src-text")).to_contain_text("<script>window.__pwned = 2</script>")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#newsqa-sources img, #newsqa-sources script").count() == 0
    _screenshot(page, "chat-xss-article.png")


def test_stop_then_refusal(page: Page) -> None:
    page.locator("#newsqa-question textarea").fill(
        "Describe everything the articles say about violence against candidates in Mexico."
    )
    page.locator("#newsqa-ask").click()
    streaming = page.locator("#newsqa-chat .newsqa-streaming")
    expect(streaming).to_be_visible(timeout=240_000)
    page.locator("#newsqa-stop").click()
    page.wait_for_timeout(3000)
    assert page.locator("#newsqa-chat .newsqa-timings").count() == 0
    stopped = streaming.inner_text()

    # The model is free again after the stop, and a question the articles can't answer
    # gets the refusal, styled as one, without citations.
    _ask(page, "Who won the 2031 Mars chess championship?")
    first, last = page.locator("#newsqa-chat [data-testid=bot]").all()
    expect(first).to_contain_text("Stopped.")  # the stopped answer stays, marked
    expect(first).to_contain_text(stopped[:20])
    expect(last.locator(".newsqa-refusal")).to_be_visible()
    assert last.locator("a.newsqa-cite").count() == 0
    _screenshot(page, "chat-refusal.png")


def test_four_concurrent_api_sessions_get_their_own_answers(server: str) -> None:
    from gradio_client import Client

    questions = {
        "How many officers died in the Coatepec Harinas ambush?": "13",
        "How many police officers were killed in Mexico in 2020, according to Causa en "
        "Común?": "524",
        "In which town was Ivonne Gallegos Carreño planning to run for mayor?": (
            "Ocotlán de Morelos"
        ),
        "Which would-be mayoral candidate was shot dead in her car in Oaxaca?": (
            "Ivonne Gallegos Carreño"
        ),
    }

    # Four sessions at once: one generation runs, the others wait with a queue position.
    jobs = [Client(server, verbose=False).submit(q, "", "", api_name="/ask") for q in questions]
    ranks: set[int] = set()
    while not all(job.done() for job in jobs):
        ranks.update(r for job in jobs if (r := job.status().rank) is not None)
        time.sleep(0.2)
    answers = {q: job.result() for q, job in zip(questions, jobs, strict=True)}
    assert max(ranks, default=0) >= 1, ranks
    for question, expected in questions.items():
        answer = answers[question]
        print(f"\nQ: {question}\nA: {answer['answer']}")
        assert not answer["refused"], question
        assert is_correct(str(answer["answer"]), False, expected, True), (question, answer)
        assert answer["citations"], question


def test_login_from_settings_guards_the_page_and_the_api(tmp_path: Path) -> None:
    from gradio_client import Client

    with _app(tmp_path, NEWSQA_UI_USER="editor", NEWSQA_UI_PASSWORD="s3cret") as url:
        assert httpx.get(url + "config").status_code == 401
        with pytest.raises(ValueError, match="credentials were not provided"):
            Client(url, verbose=False)
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, auth=("editor", "wrong"), verbose=False)
        endpoints = Client(url, auth=("editor", "s3cret"), verbose=False).view_api(
            print_info=False, return_format="dict"
        )
        assert "/ask" in endpoints["named_endpoints"]
