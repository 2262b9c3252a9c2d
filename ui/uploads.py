"""The Articles tab's ingest: uploaded files are kept under the data dir and ingested
like files given to the CLI.

Only files the page's own upload route received are taken (``Received``): a regular
file, its resolved path inside Gradio's upload folder, among the paths Gradio wrote
there while this server runs. A client can send the upload event itself with any path
in it (``/etc/passwd``, ``/dev/zero``); such a path is refused by name, and nothing is
read, copied or indexed. The size limit is kept on the bytes actually read: a file is
copied a piece at a time into a hidden file beside the kept ones and given up at the
first byte over the limit, never judged by ``stat`` alone.

An upload never replaces a different file that has its name: it is kept beside it as
``name (2).ext`` and the report says so. Uploading the very same bytes again finds the
file it was kept as, so nothing is duplicated.
"""

from __future__ import annotations

import filecmp
import os
import stat
import tempfile
from collections.abc import Set
from dataclasses import dataclass, field, fields
from pathlib import Path

from index import IngestReport, LoadError, NewsCollection, ingest
from ui import render

_PIECE = 1 << 16


@dataclass
class UploadReport(IngestReport):
    # (uploaded name, name it is kept under) for each upload whose name a different
    # file already had
    renamed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Received:
    """The files an upload may name: ``paths`` (Gradio's own record of what its upload
    route wrote, a live set), each inside ``folder`` (its upload folder)."""

    folder: Path
    paths: Set[str]

    def refusal(self, name: str) -> str | None:
        """Why the path ``name`` is not an upload this server received (None: it is)."""
        given = Path(name)
        try:
            resolved = given.resolve(strict=True)
        except (OSError, RuntimeError):
            return "no such uploaded file"
        if not resolved.is_relative_to(self.folder.resolve()):
            return "not a file uploaded to this server: refused"
        known = {str(Path(p).resolve()) for p in list(self.paths)}
        if str(resolved) not in known:
            return "not a file uploaded to this server: refused"
        return None


def upload_dir(collection: NewsCollection) -> Path:
    return collection.settings.data_dir / "uploads" / collection.name


def ingest_uploads(
    collection: NewsCollection,
    files: list[str],
    *,
    received: Received,
    progress: bool = True,
) -> UploadReport:
    """Copy the uploads into the collection's upload folder and ingest them; files not
    ``received``, over the size limit or that fail to load are reported by their
    uploaded name and not kept."""
    limit = collection.settings.upload_max_bytes
    target = upload_dir(collection)
    target.mkdir(parents=True, exist_ok=True)
    uploaded: dict[Path, str] = {}  # each copy kept, and the name it was uploaded as
    created: set[Path] = set()
    refused: list[LoadError] = []
    for name in files:
        upload = Path(name)
        problem = received.refusal(name)
        incoming = problem or _copy_in(upload.resolve(), target, limit)
        if isinstance(incoming, str):
            refused.append(LoadError(upload.name, incoming))
            continue
        copy = _place(incoming, upload, target).resolve()
        if copy.exists():
            incoming.unlink()  # the same bytes are kept there already
        else:
            incoming.rename(copy)
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
    report.failed[:0] = refused
    return report


def _copy_in(upload: Path, target: Path, limit: int) -> Path | str:
    """A copy of a regular file in ``target`` under a hidden name, or why there is none.
    Opened without following a link or waiting on a pipe; read at most ``limit`` + 1
    bytes."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        handle = os.open(upload, flags)
    except OSError as error:
        return f"cannot read: {error.strerror}"
    with open(handle, "rb") as source:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            return "not a regular file: refused"
        with tempfile.NamedTemporaryFile(dir=target, prefix=".incoming-", delete=False) as out:
            copied = Path(out.name)
            size = 0
            while piece := source.read(_PIECE):
                size += len(piece)
                if size > limit:
                    break
                out.write(piece)
    if size > limit:
        copied.unlink()
        return f"the file is over the size limit ({limit:,} bytes)"
    return copied


def _place(incoming: Path, upload: Path, target: Path) -> Path:
    """Where an upload (copied in as ``incoming``) is kept: under its own name unless a
    different file has it, then the first "name (n).ext" that is free or holds the same
    bytes."""
    candidate, n = target / upload.name, 1
    while candidate.exists() and not filecmp.cmp(incoming, candidate, shallow=False):
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
