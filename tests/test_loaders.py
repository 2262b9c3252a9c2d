from pathlib import Path

from index.articles import Article
from index.loaders import LoadError, SourceFile, find_files, load_file
from tests.conftest import story, write_jsonl


def _load(path: Path, max_bytes: int = 10_000) -> list[Article | LoadError]:
    return list(load_file(SourceFile(path, path.name), max_bytes))


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
    assert labels == ["corpus/2022/06/a.txt", "corpus/b.md"]
    assert isinstance(found[-1], LoadError) and found[-1].error == "no such file or directory"
