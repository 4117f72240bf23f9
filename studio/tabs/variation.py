"""The Variations tab: the generic tab of the variation task (studio/task_tab.py), with the source
taken from the visitor's own pictures too ("Or one of your pictures": anything they made, in any tab),
and the prompt filled in from a studio output's recorded parameters: when a picture is picked there,
or when a file uploaded is one of the visitor's own outputs (a download brought back, recognised by
its bytes in the ledger). Only the visitor's own items are read; another visitor's file fills nothing.
"""
from __future__ import annotations

from dataclasses import replace

import gradio as gr

from pipelines import registry
from pipelines.variation import prompt_from_params
from provenance.verify import file_sha256
from studio.gallery import GalleryItem
from studio.service import Studio
from studio.sessions import Session
from studio.tabs.fill import source_choices
from studio.task_tab import TabParts, TabSpec

TASK = "variation"
FILLED = ("prompt", "negative_prompt")


def spec(studio: Studio) -> TabSpec:
    """The generic Variations tab with the visitor's own pictures as sources."""
    return replace(TabSpec.derive(registry.contract(TASK)), parts=lambda parts: source_part(studio, parts))


def own_output(studio: Studio, session: Session | None, path: str | None) -> GalleryItem | None:
    """The visitor's own studio output with exactly these bytes (a download uploaded again), else None."""
    if session is None or not path:
        return None
    record = studio.publisher.ledger.by_sha256(file_sha256(path))
    return studio.gallery.get(session.id, record.id) if record is not None else None


def filled(item: GalleryItem | None) -> list:
    """Updates of the prompt fields from the item's recorded parameters, and a note saying so."""
    fields = prompt_from_params(item.params) if item is not None else {}
    updates = [gr.update(value=fields[name]) if name in fields else gr.update() for name in FILLED]
    if item is None:
        return [*updates, ""]
    said = "its prompt is filled in" if "prompt" in fields else "its prompt was not recorded (disclosure off)"
    return [*updates, f"Your {item.task.replace('_', ' ')} output ({item.caption}): {said}."]


def picked(studio: Studio, session: Session | None, item_id: str | None) -> list:
    """One of the visitor's pictures as the source, with its prompt."""
    item = studio.gallery.get(session.id, item_id) if session is not None and item_id else None
    if item is None:
        return [gr.update(), *filled(None)]
    return [item.path, *filled(item)]


def source_part(studio: Studio, parts: TabParts) -> None:
    """The picker of the visitor's pictures, and the prompt filled in for a studio output."""
    widgets = parts.form.widgets
    with gr.Row():
        pick = gr.Dropdown([], label="Or one of your pictures", value=None, elem_id="variation-pick")
        note = gr.Markdown(elem_id="variation-source-note")
    prompts = [widgets[name] for name in FILLED]

    def choices(session: Session | None):
        return gr.update(choices=source_choices(studio, session) if session is not None else [])

    pick.focus(choices, [parts.session_state], [pick], api_name=False, queue=False)
    pick.input(lambda session, item_id: picked(studio, session, item_id), [parts.session_state, pick],
               [widgets["image"], *prompts, note], api_name=False, queue=False)
    widgets["image"].upload(lambda session, path: filled(own_output(studio, session, path)),
                            [parts.session_state, widgets["image"]], [*prompts, note], api_name=False, queue=False)
