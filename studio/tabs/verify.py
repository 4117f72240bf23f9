"""The Verify tab: upload any image, video or audio file and see its Content Credentials.

All the examining happens in `provenance`; this module only wires widgets to
`studio.publisher.verify` and turns studio errors into messages for the visitor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import gradio as gr

from pipelines.errors import InputError, StudioError
from pipelines.uploads import UploadTooLong


def build(studio) -> None:
    """Add the Verify tab; call inside an open `gr.Tabs()` context."""
    with gr.Tab("Verify"):
        upload = gr.File(label="File to examine (image, video or audio)", type="filepath")
        button = gr.Button("Verify", variant="primary")
        card = gr.Markdown()
        details = gr.JSON(label="Full report")
        handler = make_handler(studio.publisher, getattr(studio, "probe_upload", None))
        button.click(handler, inputs=upload, outputs=[card, details], api_name="verify")


def make_handler(publisher, probe: Callable[[str], object] | None = None) -> Callable[[str | None], tuple[str, dict]]:
    """The click handler: path of the upload in, (Markdown card, report dict) out. `probe` (the
    studio's upload probe) refuses a file over the pixel or duration limits before it is decoded."""

    def verify(path: str | None) -> tuple[str, dict]:
        if not path:
            raise gr.Error("Choose a file to verify first.")
        try:
            refuse_over_limits(probe, path)
            report = publisher.verify(Path(path))
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return report.card_markdown(), report.to_dict()

    return verify


def refuse_over_limits(probe: Callable[[str], object] | None, path: str) -> None:
    """Raise `UploadTooLong` for a file over the studio's limits. A damaged or unknown file is let
    through: Verify and Detect report on those themselves ("Unreadable", "cannot judge")."""
    if probe is None:
        return
    try:
        probe(path)
    except UploadTooLong:
        raise
    except InputError:
        pass
