"""File ids as the servers show them: no server folder in them, unique, stable, and
turned back into the stored id for the article resource."""

from __future__ import annotations

from pathlib import Path

from assistant.public_ids import shown_id, stored_id
from index.collection import NewsCollection
from index.ingest import ingest
from settings import Settings
from tests.conftest import SAMPLES, story, write_jsonl


def test_a_files_id_shows_no_server_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    upload = str(data / "uploads" / "news" / "story.txt")
    assert shown_id(upload, data) == "uploads/news/story.txt"
    assert shown_id(upload + "#3", data) == "uploads/news/story.txt#3"
    elsewhere = shown_id("/srv/corpus/2021/story.txt", data)
    assert elsewhere.startswith("2021-") and elsewhere.endswith("/story.txt")
    assert "srv" not in elsewhere and "corpus" not in elsewhere
    assert shown_id("/srv/corpus/2021/story.txt", data) == elsewhere  # stable
    assert shown_id("/other/2021/story.txt", data) != elsewhere  # folders of one name differ
    for kept in ("https://example.org/news/1", "g1", "data/000_529f16d631959521.txt"):
        assert shown_id(kept, data) == kept


def test_every_shown_id_leads_back_to_its_article(
    indexed: NewsCollection, settings: Settings, tmp_path: Path
) -> None:
    upload = settings.data_dir / "uploads" / "news" / "story.txt"
    upload.parent.mkdir(parents=True)
    upload.write_text(story(1))
    feed = write_jsonl(tmp_path / "feed.jsonl", [{"text": story(2)}, {"id": "k", "text": story(3)}])
    ingest(indexed, [upload, feed], progress=False)
    catalog, data = indexed.catalog, settings.data_dir
    stored = sorted(catalog.content_hashes())
    assert len(stored) == 5
    for article_id in stored:
        shown = shown_id(article_id, data)
        assert str(tmp_path) not in shown and str(SAMPLES) not in shown
        assert stored_id(shown, catalog, data) == article_id
    assert shown_id(str(upload.resolve()), data) == "uploads/news/story.txt"
    for unknown in ("uploads/news/none.txt", "data-00000000/x.txt", "../x.txt", "/etc/passwd"):
        assert stored_id(unknown, catalog, data) is None
