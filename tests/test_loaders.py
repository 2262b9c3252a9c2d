import json
import tracemalloc
from pathlib import Path

import pytest

from index.articles import Article
from index.loaders import LoadError, SourceFile, find_files, load_file
from tests.conftest import story, write_jsonl


def _load(path: Path, max_bytes: int = 10_000) -> list[Article | LoadError]:
    (source,) = find_files([path])
    assert isinstance(source, SourceFile)
    return list(load_file(source, max_bytes))


def _errors(items: list[Article | LoadError]) -> list[tuple[int | None, str]]:
    return [(e.line, e.error) for e in items if isinstance(e, LoadError)]


def test_each_kind_of_bad_input_is_named_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    (tmp_path / "empty.md").write_text("  \n\n")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 news\nline two".encode("latin-1"))
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "huge.txt").write_text("Big story. " * 2000)
    write_jsonl(tmp_path / "feed.jsonl", [{"id": "ok", "text": story(1)}, {"id": "no-text"}])
    with open(tmp_path / "feed.jsonl", "a") as handle:
        handle.write('{"id": "broken", "text": \n')

    errors: dict[str, LoadError] = {}
    articles = []
    for name in sorted(p.name for p in tmp_path.iterdir()):
        for item in _load(tmp_path / name):
            if isinstance(item, LoadError):
                errors[f"{Path(item.path).name}:{item.line or ''}"] = item
            else:
                articles.append(item)
    assert [a.id for a in articles] == ["ok"]
    messages = {key: error.error for key, error in errors.items()}
    assert messages["binary.txt:"].startswith("binary file")
    assert messages["empty.md:"] == "empty file"
    assert messages["latin1.txt:"] == "invalid UTF-8 at byte 3 (line 1)"
    assert messages["notes.pdf:"].startswith("unsupported file type '.pdf'")
    assert messages["huge.txt:"].startswith("file is over the size limit")
    assert messages["feed.jsonl:2"] == "field 'text' is missing or empty"
    assert messages["feed.jsonl:3"].startswith("invalid JSON")
    assert str(errors["feed.jsonl:3"]).startswith(str(tmp_path / "feed.jsonl") + ":3: ")


def test_oversized_jsonl_record_is_skipped_alone(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "f.jsonl", [{"id": "big", "text": "x " * 6000}, {"id": "s", "text": "y"}]
    )
    items = _load(tmp_path / "f.jsonl")
    assert isinstance(items[0], LoadError) and items[0].line == 1
    assert "over the size limit" in items[0].error
    assert isinstance(items[1], Article)


def test_directories_are_read_recursively_with_stable_ids(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "2022" / "06").mkdir(parents=True)
    (corpus / "2022" / "06" / "a.txt").write_text(story(1))
    (corpus / "b.md").write_text("# B\n\n" + story(2))
    (corpus / ".hidden.txt").write_text(story(3))
    found = list(find_files([corpus, tmp_path / "missing"]))
    labels = [f.label for f in found if isinstance(f, SourceFile)]
    assert labels == [str(corpus.resolve() / "2022/06/a.txt"), str(corpus.resolve() / "b.md")]
    assert isinstance(found[-1], LoadError) and found[-1].error == "no such file or directory"


def test_two_files_never_share_an_id_and_one_file_keeps_its_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in ("a", "b", "x/data", "y/data"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "story.txt").write_text(f"{folder}: {story(1)}")
    monkeypatch.chdir(tmp_path)
    given = [Path("a/story.txt"), Path("b/story.txt"), Path("x/data"), tmp_path / "y" / "data"]
    ids = [a.id for path in given for a in _load(path) if isinstance(a, Article)]
    assert len(set(ids)) == 4
    assert ids[0] == str(tmp_path.resolve() / "a" / "story.txt")
    # The same file named another way (a folder, an absolute path, ..) keeps its id.
    monkeypatch.chdir(tmp_path / "x")
    again = [Path("data"), Path("../a/story.txt"), tmp_path / "b" / "story.txt"]
    assert [a.id for path in again for a in _load(path) if isinstance(a, Article)] == [
        ids[2],
        ids[0],
        ids[1],
    ]


def test_jsonl_record_without_id_is_named_by_its_file_and_line(tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [{"id": "k", "text": story(1)}, {"text": story(2)}])
    items = _load(feed)
    assert [a.id for a in items if isinstance(a, Article)] == ["k", f"{feed.resolve()}#2"]


def test_jsonl_lines_are_checked_one_by_one(tmp_path: Path) -> None:
    good = json.dumps({"id": "ok", "text": story(1)}).encode()
    latin = b'{"id": "latin", "text": "Caf' + "é".encode("latin-1") + b'"}'
    huge = json.dumps({"id": "huge", "text": "x" * 30_000}).encode()
    last = json.dumps({"id": "last", "text": story(2)}).encode()
    feed = tmp_path / "feed.jsonl"
    # A byte-order mark, a Windows line end, a blank line, and no newline at the end.
    feed.write_bytes(b"\xef\xbb\xbf" + good + b"\r\n\n" + latin + b"\n" + huge + b"\n" + last)
    items = _load(feed)
    assert [a.id for a in items if isinstance(a, Article)] == ["ok", "last"]
    bad_byte = 3 + len(good) + 3 + latin.index(b"\xe9")
    assert _errors(items) == [
        (3, f"invalid UTF-8 at byte {bad_byte}"),
        (4, f"line is over the size limit ({len(huge):,} > 10,000 bytes)"),
    ]


def test_jsonl_that_is_empty_or_binary_is_refused_whole(tmp_path: Path) -> None:
    (tmp_path / "blank.jsonl").write_text("\n  \n\n")
    (tmp_path / "binary.jsonl").write_bytes(b'{"text": "a"}\n\x00\x01\x02')
    assert _errors(_load(tmp_path / "blank.jsonl")) == [(None, "empty file")]
    assert _errors(_load(tmp_path / "binary.jsonl")) == [
        (None, "binary file (contains NUL bytes), not text")
    ]


def test_jsonl_is_read_line_by_line_in_bounded_memory(tmp_path: Path) -> None:
    """A 40 MB feed is loaded holding about one line at a time: reading the file whole
    (as the loader once did) would take 40 MB and more."""
    feed = tmp_path / "big.jsonl"
    with feed.open("w") as sink:
        for n in range(5_000):  # few, long words: tracemalloc is slow on many small strings
            text = f"Story {n}. " + " ".join(f"{w}{n}" * 200 for w in "abcdefghij")
            sink.write(json.dumps({"id": f"a{n}", "text": text}) + "\n")
    assert feed.stat().st_size > 40_000_000
    tracemalloc.start()
    try:
        items = load_file(SourceFile(feed, str(feed)), 2_000_000)
        loaded = sum(isinstance(item, Article) for item in items)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded == 5_000
    assert peak < 4_000_000, f"peak {peak:,} bytes"


def test_one_giant_jsonl_line_is_skipped_without_holding_it(tmp_path: Path) -> None:
    feed = tmp_path / "giant.jsonl"
    giant = json.dumps({"id": "giant", "text": "word " * 6_000_000})
    feed.write_text(giant + "\n" + json.dumps({"id": "after", "text": story(3)}) + "\n")
    del giant
    tracemalloc.start()
    try:
        items = list(load_file(SourceFile(feed, str(feed)), 100_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [a.id for a in items if isinstance(a, Article)] == ["after"]
    assert _errors(items) == [(1, "line is over the size limit (30,000,027 > 100,000 bytes)")]
    assert peak < 3_000_000, f"peak {peak:,} bytes"
