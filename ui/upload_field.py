"""The Articles tab's file field: Gradio's ``gr.File`` made to take only the files this
server's upload route received.

Before an event's function runs, Gradio copies (and hashes) every file path its inputs
name into its cache, so the path a client writes into the upload event itself is read
before ``upload()`` can refuse it: ``/dev/zero`` would be hashed forever in the event
loop. Gradio skips its own check of those paths unless the app was started with its
``launch()`` (``mount_gradio_app`` never marks it so). ``received_only`` makes the field
refuse any path that is not a received upload (``uploads.Received``) before Gradio
touches it, whatever Gradio's launch state; ``ingest_uploads`` checks again. (A
subclass of ``gr.File`` would do the same, but Gradio writes a ``.pyi`` stub beside
every component class it meets.)
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from ui.uploads import Received


def received_uploads(page: gr.Blocks) -> Received:
    """What the page's upload route has received so far (a live view)."""
    return Received(Path(get_upload_folder()), page.upload_file_set)


def received_only(field: gr.File, received: Received) -> gr.File:
    """``field``, refusing (``gr.Error``) every value that is not a ``received`` upload
    before Gradio copies it into its cache."""
    move, amove = field.move_resource_to_block_cache, field.async_move_resource_to_block_cache

    def check(path: str | Path | None) -> None:
        problem = None if path is None else received.refusal(str(path))
        if problem:
            raise gr.Error(f"{Path(str(path)).name}: {problem}")

    def checked(path: str | Path | None) -> str | None:
        check(path)
        return move(path)

    async def achecked(path: str | Path | None) -> str | None:
        check(path)
        return await amove(path)

    field.move_resource_to_block_cache = checked  # type: ignore[method-assign,assignment]
    field.async_move_resource_to_block_cache = achecked  # type: ignore[method-assign,assignment]
    return field
