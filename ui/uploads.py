"""The Articles tab's ingest: uploaded files are kept under the data dir and ingested
like files given to the CLI.

An upload never replaces a different file that has its name: it is kept beside it as
``name (2).ext`` and the report says so. Uploading the very same bytes again finds the
file it was kept as, so nothing is duplicated.
"""

from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

from index import IngestReport, LoadError, NewsCollection, ingest
from ui import render


@dataclass
class UploadReport(IngestReport):
    # (uploaded name, name it is kept under) for each upload whose name a different
    # file already had
    renamed: list[tuple[str, str]] = field(default_factory=list)


def upload_dir(collection: NewsCollection) -> Path:
    return collection.settings.data_dir / "uploads" / collection.name


def ingest_uploads(
    collection: NewsCollection, files: list[str], *, progress: bool = True
) -> UploadReport:
    """Copy the uploads into the collection's upload folder and ingest them; files over
    the size limit or that fail to load are reported by their uploaded name and not kept."""
    limit = collection.settings.upload_max_bytes
    target = upload_dir(collection)
    target.mkdir(parents=True, exist_ok=True)
    uploaded: dict[Path, str] = {}  # each copy kept, and the name it was uploaded as
    created: set[Path] = set()
    too_big: list[LoadError] = []
    for name in files:
        upload = Path(name)
        size = upload.stat().st_size
        if size > limit:
            too_big.append(
                LoadError(upload.name, f"the file has {size:,} bytes; the limit is {limit:,}")
            )
            continue
        copy = _place(upload, target).resolve()
        if not copy.exists():
            shutil.copyfile(upload, copy)
            created.add(copy)
        uploaded[copy] = upload.name
    try:
        ingested = ingest(collection, list(uploaded), progress=progress) if uploaded else None
    except BaseException:  # the upload failed as a whole (store down, another model):
        # keep no copy the user would take for an ingested file
        for copy in created:
            copy.unlink(missing_ok=True)
        raise
    report = _report(ingested or IngestReport(), uploaded, created)
    report.failed[:0] = too_big
    return report


def _place(upload: Path, target: Path) -> Path:
    """Where an upload is kept: under its own name unless a different file has it, then
    the first "name (n).ext" that is free or holds the same bytes."""
    candidate, n = target / upload.name, 1
    while candidate.exists() and not filecmp.cmp(upload, candidate, shallow=False):
        n += 1
        candidate = target / f"{upload.stem} ({n}){upload.suffix}"
    return candidate


def _report(ingested: IngestReport, uploaded: dict[Path, str], created: set[Path]) -> UploadReport:
    """The ingest report in the names the user uploaded; a new copy whose whole file was
    refused is deleted, so only what was ingested stays in the upload folder."""
    report = UploadReport(**{f.name: getattr(ingested, f.name) for f in fields(ingested)})
    report.failed = []
    refused: set[Path] = set()
    for error in ingested.failed:
        copy = Path(error.path)
        report.failed.append(LoadError(uploaded.get(copy, error.path), error.error, error.line))
        if error.line is None and copy in created:
            copy.unlink(missing_ok=True)
            refused.add(copy)
    report.renamed = [
        (name, copy.name)
        for copy, name in uploaded.items()
        if copy.name != name and copy not in refused
    ]
    return report


def report_html(report: UploadReport, files: int) -> str:
    counts = (
        f"{files} file(s): {report.added} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.duplicates} duplicate article(s); "
        f"{len(report.failed)} problem(s); {report.seconds:.1f} s"
    )
    renamed = "".join(
        f"<li>{render.text(name)}: a different file of that name was uploaded before; "
        f"kept beside it as {render.text(kept)}</li>"
        for name, kept in report.renamed
    )
    problems = "".join(
        f"<li>{render.text(_where(error))}: {render.text(error.error)}</li>"
        for error in report.failed
    )
    return (
        f'<div class="newsqa-report">{render.text(counts)}'
        + (f'<ul class="newsqa-renamed">{renamed}</ul>' if renamed else "")
        + (f'<ul class="newsqa-failed">{problems}</ul>' if problems else "")
        + "</div>"
    )


def _where(error: LoadError) -> str:
    name = Path(error.path).name
    return f"{name}, line {error.line}" if error.line else name
