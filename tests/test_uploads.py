"""Uploads in the Articles tab: a different file with a taken name is kept beside it,
and the report says so; the same file uploaded again changes nothing."""

from pathlib import Path

from index.collection import NewsCollection
from tests.conftest import story
from ui.uploads import ingest_uploads, report_html, upload_dir


def _upload(folder: Path, name: str, text: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return str(folder / name)


def test_a_different_file_with_a_taken_name_is_kept_beside_it(
    tmp_path: Path, collection: NewsCollection
) -> None:
    first = ingest_uploads(
        collection, [_upload(tmp_path / "1", "story.txt", story(1))], progress=False
    )
    assert (first.added, first.renamed) == (1, [])
    # Two more different files called story.txt, in one upload.
    other = _upload(tmp_path / "2", "story.txt", story(2))
    third = _upload(tmp_path / "3", "story.txt", story(3))
    second = ingest_uploads(collection, [other, third], progress=False)
    assert second.added == 2 and second.failed == []
    assert second.renamed == [("story.txt", "story (2).txt"), ("story.txt", "story (3).txt")]
    html = report_html(second, 2)
    assert "story.txt: a different file of that name was uploaded before" in html
    assert "kept beside it as story (2).txt" in html
    assert sorted(p.name for p in upload_dir(collection).iterdir()) == [
        "story (2).txt",
        "story (3).txt",
        "story.txt",
    ]
    assert collection.catalog.counts()[0] == 3
    # The very same bytes again: found where they were kept, nothing new.
    again = ingest_uploads(collection, [other, str(tmp_path / "1" / "story.txt")], progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert len(list(upload_dir(collection).iterdir())) == 3
    assert collection.catalog.counts()[0] == 3 and collection.problems() == []


def test_a_refused_upload_under_a_taken_name_is_not_kept(
    tmp_path: Path, collection: NewsCollection
) -> None:
    ingest_uploads(collection, [_upload(tmp_path / "1", "story.txt", story(1))], progress=False)
    binary = tmp_path / "2" / "story.txt"
    binary.parent.mkdir()
    binary.write_bytes(b"\x00\xff\x00 not text")
    report = ingest_uploads(collection, [str(binary)], progress=False)
    assert [(e.path, e.error) for e in report.failed] == [
        ("story.txt", "binary file (contains NUL bytes), not text")
    ]
    assert report.renamed == []
    assert [p.name for p in upload_dir(collection).iterdir()] == ["story.txt"]
    assert "kept beside it" not in report_html(report, 1)
