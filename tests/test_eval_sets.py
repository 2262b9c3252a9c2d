"""Gold sources that name files match the ids articles from files get: absolute paths."""

from pathlib import Path

import pytest

from eval.sets import load_set


def test_gold_sources_naming_files_become_their_article_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "story.txt").write_text("A story.")
    (tmp_path / "feed.jsonl").write_text('{"text": "A story."}\n')
    questions = tmp_path / "set.jsonl"
    questions.write_text(
        '{"question": "q?", "answer": "a", "gold_sources": '
        '["data/story.txt", "feed.jsonl#1", "data/missing.txt", "u1", "https://e.com/x"]}\n'
    )
    monkeypatch.chdir(tmp_path)
    (item,) = load_set(questions)
    root = tmp_path.resolve()
    assert item.gold_sources == [
        str(root / "data" / "story.txt"),
        f"{root / 'feed.jsonl'}#1",
        "data/missing.txt",
        "u1",
        "https://e.com/x",
    ]
