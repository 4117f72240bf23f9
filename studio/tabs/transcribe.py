"""The Transcribe tab: the generic tab of the task (studio/task_tab.py), with Whisper's translation to
English named as such, and an editable transcript table below the results.

After a transcription (or when the visitor selects one of their transcripts) the table holds its
segments, one row each: start, end (seconds) and text. "Export edits" checks the rows and publishes
them again as TXT, SRT and WebVTT, signed with the original transcript as their parent
(studio/transcripts.py). API: `/transcript_table` (the newest transcript's rows, and the table's source
from then on) and `/export_transcript_edits` (the edited rows -> the signed files and their sidecars).
"""
from __future__ import annotations

import dataclasses

import gradio as gr

from pipelines import registry
from pipelines.transcript_edits import HEADERS
from studio import transcripts
from studio.sessions import Session, ensure
from studio.service import Studio
from studio.task_tab import Look, TabParts, TabSpec
from studio.widgets import pick_item, raise_for_user

TASK = "transcribe"
TABLE_HELP = ("Correct words or times, then **Export edits**: new TXT, SRT and WebVTT files, signed with this "
              "transcript as their parent. Times in seconds (or 00:00:12,500); empty a row's text to drop it.")


def spec(studio: Studio) -> TabSpec:
    """The generic Transcribe tab with its table of segments."""
    looks = {"translate": Look(label="Translate into English (Whisper's own quick path)",
                               info="Whisper writes English text of speech in any language it knows"),
             "language": Look(label="Language", placeholder="empty: detect it (or a code: en, fr, de…)"),
             "word_timestamps": Look(label="Word timestamps (in the WebVTT file)")}
    return dataclasses.replace(TabSpec.derive(registry.contract(TASK)), looks=looks, parts=transcript_table)


def transcript_table(parts: TabParts) -> None:
    """The editable table, its Export button and the edited files, wired to the run and the gallery."""
    studio = parts.studio
    with gr.Accordion("Edit the transcript", open=True):
        gr.Markdown(TABLE_HELP)
        table = gr.Dataframe(headers=HEADERS, datatype=["number", "number", "str"], type="array", value=[],
                             interactive=True, column_count=(3, "fixed"), wrap=True, max_height=360,
                             label="Transcript (one row per segment)", elem_id="transcribe-table")
        source = gr.State("")   # the id of the transcript SRT the table was read from
        export = gr.Button("Export edits", elem_id="transcribe-export-edits")
        files = gr.File(label="Edited transcript (TXT, SRT, WebVTT; each with its .c2pa credentials)",
                        file_count="multiple", interactive=False, elem_id="transcribe-edited-files")
        note = gr.Markdown(elem_id="transcribe-edit-status")

    def newest(session: Session | None):
        item = transcripts.source_item(studio, ensure(session).id)
        return transcripts.table_of(item), item.id if item else "", ""

    def selected(session: Session | None, evt: gr.SelectData):
        session = ensure(session)
        item = pick_item(studio, session, TASK, evt)
        item = transcripts.sibling_srt(studio, session.id, item) if item is not None else None
        if item is None:
            return gr.update(), gr.update(), gr.update()
        return transcripts.table_of(item), item.id, ""

    def export_edits(session: Session | None, source_id: str, rows):
        session = ensure(session)
        items, message = raise_for_user(transcripts.export_edits, studio, session.id, source_id, rows)
        srt = next(i for i in items if i.path.endswith(".srt"))
        # The table goes on from the edit: a next export is an edit of this one.
        return transcripts.with_sidecars(items), transcripts.table_of(srt), srt.id, message

    parts.run_event.success(newest, [parts.session_state], [table, source, note], api_name="transcript_table",
                            queue=False)
    parts.results.gallery.select(selected, [parts.session_state], [table, source, note], api_name=False, queue=False)
    export.click(export_edits, [parts.session_state, source, table], [files, table, source, note],
                 api_name="export_transcript_edits", queue=False)
