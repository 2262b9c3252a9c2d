"""The Articles tab's ingest: uploaded files are kept under the data dir (so uploading
a changed file again updates its article) and ingested like files given to the CLI.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from index import IngestReport, LoadError, NewsCollection, ingest
from ui import render


def upload_dir(collection: NewsCollection) -> Path:
    return collection.settings.data_dir / "uploads" / collection.name


def ingest_uploads(
    collection: NewsCollection, files: list[str], *, progress: bool = True
) -> IngestReport:
    """Copy the uploads into the collection's upload folder and ingest them; files over
    the size limit or that fail to load are reported by name and not kept."""
    limit = collection.settings.upload_max_bytes
    target = upload_dir(collection)
    target.mkdir(parents=True, exist_ok=True)
    kept: list[Path] = []
    too_big: list[LoadError] = []
    for name in files:
        upload = Path(name)
        size = upload.stat().st_size
        if size > limit:
            too_big.append(
                LoadError(upload.name, f"the file has {size:,} bytes; the limit is {limit:,}")
            )
            continue
        copy = target / upload.name
        shutil.copyfile(upload, copy)
        kept.append(copy)
    report = ingest(collection, kept, progress=progress) if kept else IngestReport()
    for error in report.failed:
        if error.line is None:  # the whole file was refused: don't keep it
            (target / Path(error.path).name).unlink(missing_ok=True)
    report.failed[:0] = too_big
    return report


def report_html(report: IngestReport, files: int) -> str:
    counts = (
        f"{files} file(s): {report.added} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.duplicates} duplicate article(s); "
        f"{len(report.failed)} problem(s); {report.seconds:.1f} s"
    )
    problems = "".join(
        f"<li>{render.text(_where(error))}: {render.text(error.error)}</li>"
        for error in report.failed
    )
    listing = f'<ul class="newsqa-failed">{problems}</ul>' if problems else ""
    return f'<div class="newsqa-report">{render.text(counts)}{listing}</div>'


def _where(error: LoadError) -> str:
    name = Path(error.path).name
    return f"{name}, line {error.line}" if error.line else name
