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
from studio.jobs import JobDone
from studio.sessions import ensure
from studio.widgets import client_address

TASK = "verify"


def build(studio, session_state: gr.State | None = None) -> None:
    """Add the Verify tab; call inside an open `gr.Tabs()` context. In the studio (with the visitor's
    `session_state`) each check is a job of the visitor: a turn on the device, the same limits."""
    with gr.Tab("Verify"):
        upload = gr.File(label="File to examine (image, video or audio)", type="filepath")
        button = gr.Button("Verify", variant="primary")
        card = gr.Markdown()
        details = gr.JSON(label="Full report")
        if session_state is None:  # the tab on its own (tests): no jobs, no session
            handler = make_handler(studio.publisher, getattr(studio, "probe_upload", None))
            button.click(handler, inputs=upload, outputs=[card, details], api_name="verify")
            return
        button.click(job_handler(studio), [session_state, upload], [card, details, session_state], api_name="verify",
                     concurrency_id="device", concurrency_limit=studio.settings.jobs_per_device)


def job_handler(studio):
    """The studio's click handler: each check runs as a job of the visitor's session, so it waits for a
    turn on the device and counts against the per-visitor and per-address limits like any other."""
    def examine(path: str) -> tuple[str, dict]:
        refuse_over_limits(studio.probe_upload, path)
        report = studio.publisher.verify(Path(path))
        return report.card_markdown(), report.to_dict()

    def verify(session, path: str | None, request: gr.Request):
        session = ensure(session, request, studio.login_session)
        if not path:
            raise gr.Error("Choose a file to verify first.")
        try:
            for event in studio.jobs.stream(session.id, TASK, Path(path).name, lambda record, progress: examine(path),
                                            client=client_address(studio, request)):
                if isinstance(event, JobDone):
                    yield (*event.value, session)
                else:
                    yield f"⏳ {event.stage.capitalize()}…", gr.update(), session
        except StudioError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return verify


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
