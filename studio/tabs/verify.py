"""The Verify tab: upload any image, video or audio file and see its Content Credentials.

All the examining happens in `provenance`; this module only wires widgets to
`studio.publisher.verify` and turns studio errors into messages for the visitor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import gradio as gr

from pipelines.errors import StudioError


def build(studio) -> None:
    """Add the Verify tab; call inside an open `gr.Tabs()` context."""
    with gr.Tab("Verify"):
        upload = gr.File(label="File to examine (image, video or audio)", type="filepath")
        button = gr.Button("Verify", variant="primary")
        card = gr.Markdown()
        details = gr.JSON(label="Full report")
        button.click(make_handler(studio.publisher), inputs=upload, outputs=[card, details], api_name="verify")


def make_handler(publisher) -> Callable[[str | None], tuple[str, dict]]:
    """The click handler: path of the upload in, (Markdown card, report dict) out."""

    def verify(path: str | None) -> tuple[str, dict]:
        if not path:
            raise gr.Error("Choose a file to verify first.")
        try:
            report = publisher.verify(Path(path))
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return report.card_markdown(), report.to_dict()

    return verify
