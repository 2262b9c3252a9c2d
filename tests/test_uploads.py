"""Uploads in the Articles tab: a different file with a taken name is kept beside it,
and the report says so; the same file uploaded again changes nothing; only files the
upload route received are read, and never beyond the size limit."""

import os
import threading
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from index.collection import NewsCollection
from settings import Settings
from tests.conftest import story
from ui.uploads import Received, _copy_in, ingest_uploads, report_html, upload_dir

RECEIVED: set[str] = set()  # what the fake upload route below wrote, per test


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    RECEIVED.clear()


def _upload(folder: Path, name: str, text: str) -> str:
    """A file as Gradio's upload route would leave it: in its folder, recorded."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    RECEIVED.add(str(folder / name))
    return str(folder / name)


def _received(tmp_path: Path) -> Received:
    return Received(tmp_path, RECEIVED)


def test_a_different_file_with_a_taken_name_is_kept_beside_it(
    tmp_path: Path, collection: NewsCollection
) -> None:
    received = _received(tmp_path)
    first = ingest_uploads(
        collection,
        [_upload(tmp_path / "1", "story.txt", story(1))],
        received=received,
        progress=False,
    )
    assert (first.added, first.renamed) == (1, [])
    # Two more different files called story.txt, in one upload.
    other = _upload(tmp_path / "2", "story.txt", story(2))
    third = _upload(tmp_path / "3", "story.txt", story(3))
    second = ingest_uploads(collection, [other, third], received=received, progress=False)
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
    again = ingest_uploads(
        collection, [other, str(tmp_path / "1" / "story.txt")], received=received, progress=False
    )
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert len(list(upload_dir(collection).iterdir())) == 3
    assert collection.catalog.counts()[0] == 3 and collection.problems() == []


def test_a_refused_upload_under_a_taken_name_is_not_kept(
    tmp_path: Path, collection: NewsCollection
) -> None:
    received = _received(tmp_path)
    first = _upload(tmp_path / "1", "story.txt", story(1))
    ingest_uploads(collection, [first], received=received, progress=False)
    binary = tmp_path / "2" / "story.txt"
    binary.parent.mkdir()
    binary.write_bytes(b"\x00\xff\x00 not text")
    RECEIVED.add(str(binary))
    report = ingest_uploads(collection, [str(binary)], received=received, progress=False)
    assert [(e.path, e.error) for e in report.failed] == [
        ("story.txt", "binary file (contains NUL bytes), not text")
    ]
    assert report.renamed == []
    assert [p.name for p in upload_dir(collection).iterdir()] == ["story.txt"]
    assert "kept beside it" not in report_html(report, 1)


def test_only_files_the_upload_route_received_are_read(
    tmp_path: Path, collection: NewsCollection
) -> None:
    """The paths a client can write into the upload event itself: a server file, a
    device, a file in the upload folder nobody uploaded, a link out of it. Each is
    refused by name; nothing is copied into the collection's folder or indexed."""
    folder = tmp_path / "gradio"
    received = Received(folder, RECEIVED)
    secret = tmp_path / "server-secret.txt"
    secret.write_text(story(7))
    planted = folder / "planted" / "story.txt"  # in the folder, but not received
    planted.parent.mkdir(parents=True)
    planted.write_text(story(8))
    link = folder / "link" / "story.txt"
    link.parent.mkdir()
    link.symlink_to(secret)
    RECEIVED.add(str(link))  # even a recorded name may not lead out of the folder
    names = [str(secret), "/dev/zero", str(planted), str(link), str(folder / "../x.txt")]
    report = ingest_uploads(collection, names, received=received, progress=False)
    assert [(e.path, e.error) for e in report.failed] == [
        ("server-secret.txt", "not a file uploaded to this server: refused"),
        ("zero", "not a file uploaded to this server: refused"),
        ("story.txt", "not a file uploaded to this server: refused"),
        ("story.txt", "not a file uploaded to this server: refused"),
        ("x.txt", "no such uploaded file"),
    ]
    assert report.added == 0 and collection.catalog.counts()[0] == 0
    assert list(upload_dir(collection).iterdir()) == []
    # The same names as received uploads are taken.
    good = _upload(folder / "real", "story.txt", story(9))
    assert ingest_uploads(collection, [good], received=received, progress=False).added == 1


def test_the_size_limit_is_kept_on_the_bytes_read(
    tmp_path: Path, settings: Settings, embeddings: Embeddings
) -> None:
    target = tmp_path / "kept"
    target.mkdir()
    # /proc files say they are empty (st_size 0) and are not.
    proc = Path("/proc/self/maps")
    assert proc.stat().st_size == 0
    assert _copy_in(proc, target, 100) == "the file is over the size limit (100 bytes)"
    assert list(target.iterdir()) == []  # the partial copy is gone
    copied = _copy_in(proc, target, 10_000_000)
    assert isinstance(copied, Path) and copied.stat().st_size > 100
    # A pipe is no file: refused at once instead of waiting for a writer.
    pipe = tmp_path / "pipe.txt"
    os.mkfifo(pipe)
    result: list[object] = []

    def read_pipe() -> None:
        result.append(_copy_in(pipe, target, 100))

    worker = threading.Thread(target=read_pipe, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a pipe blocked"
    assert result == ["not a regular file: refused"]
    # Through ingest_uploads: over the limit is reported by name and nothing is kept.
    small = settings.model_copy(update={"upload_max_bytes": 200})
    limited = NewsCollection(small, embeddings=embeddings, create=True)
    try:
        big = _upload(tmp_path / "up", "big.txt", "word " * 100)
        report = ingest_uploads(limited, [big], received=_received(tmp_path), progress=False)
        assert [(e.path, e.error) for e in report.failed] == [
            ("big.txt", "the file is over the size limit (200 bytes)")
        ]
        assert list(upload_dir(limited).iterdir()) == []
    finally:
        limited.close()
