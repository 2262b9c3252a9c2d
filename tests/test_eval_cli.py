"""The eval command end to end: real index and retrieval, the scripted 'fake' model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow
SEED = ROOT / "eval" / "sets" / "seed.jsonl"


def _eval(*args: str, llm: str = "fake") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSQA_LLM": llm}
    return subprocess.run(
        [sys.executable, "-m", "eval", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_retrieval_only_run_writes_results_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _eval(
        "run", str(SEED), "--corpus", str(SAMPLES), "--out", str(out), "--retrieval-only", "--quiet"
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == sum(1 for _ in SEED.open())
    first = results[0]
    assert first["retrieved"][0] == str(SAMPLES / "000_529f16d631959521.txt")
    assert first["correct"] is None and first["latency_s"] < 5
    assert first["answer_rank"] == 1  # "13" is in the ambush article's retrieved text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["hits_at_5"] == 1.0 and summary["mode"] == "retrieval-only"
    # Every answerable seed answer is in the retrieved text of the top 5.
    assert summary["metrics"]["answer_hits_at_5"] == 1.0
    # ... and in the passages the model would read.
    assert first["answer_shown"] is True
    assert summary["metrics"]["passage_recall"] == 1.0
    assert summary["corpus"]["articles"] == 2
    assert (out / "report.png").stat().st_size > 5000
    assert "| hits_at_5 | 1.000 |" in (out / "report.md").read_text()


def test_open_run_resumes_and_compare_shows_flips(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    first = _eval(
        "run", str(SEED), "--corpus", str(SAMPLES), "--out", str(a), "--limit", "3", "--quiet"
    )
    assert first.returncode == 0, first.stderr
    assert len((a / "results.jsonl").read_text().splitlines()) == 3
    resumed = _eval(
        "run", str(SEED), "--corpus", str(SAMPLES), "--out", str(a), "--limit", "5", "--quiet"
    )
    rows = [json.loads(x) for x in (a / "results.jsonl").read_text().splitlines()]
    assert resumed.returncode == 0 and [r["id"] for r in rows] == [
        "seed-01",
        "seed-02",
        "seed-03",
        "seed-04",
        "seed-05",
    ]
    # The fake model cites its first source: citations and refusal fields are filled in.
    assert all(r["citations"] for r in rows if not r["refused"])
    # The model's draft before the checks and each citation's quote, for replaying the
    # checks (benchmarks/reverify.py).
    assert all(
        r["draft"] and len(r["quotes"]) == len(r["citations"]) for r in rows if not r["refused"]
    )
    assert (
        _eval(
            "run",
            str(SEED),
            "--corpus",
            str(SAMPLES),
            "--out",
            str(b),
            "--limit",
            "5",
            "--ids",
            "seed-01,seed-16",
            "--quiet",
        ).returncode
        == 0
    )
    rescored = _eval("rescore", str(SEED), str(a))
    assert rescored.returncode == 0 and "rescored 5 results" in rescored.stdout
    summary = json.loads((a / "summary.json").read_text())
    assert summary["metrics"]["questions"] == 5
    assert summary["settings"]["refusal_threshold"] == 0.8  # the one used, not "unset"
    compared = _eval("compare", str(a), str(b))
    assert compared.returncode == 0 and "accuracy" in compared.stdout
    assert "questions flipped" in compared.stdout


def test_bad_set_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q?", "answer": "A"}\n{oops}\n')
    done = _eval("run", str(bad), "--corpus", str(SAMPLES), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and done.stderr.startswith(f"error: {bad}:2: invalid JSON")
