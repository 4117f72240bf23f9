"""Edited transcripts: the Transcribe tab's table read from a published transcript, and the visitor's
edits published again as TXT, SRT and WebVTT (pipelines/transcript_edits.py checks the rows).

Each edited file is signed like the originals (a sidecar manifest bound to its bytes) with the SRT
the table was read from as its `parentOf` ingredient, so the manifest records the edit
(`c2pa.edited`) of a transcript whose own credentials say how it was made. Torch-free: the web app
calls it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.errors import InputError
from pipelines.media import InputFile
from pipelines.transcript_edits import changed_rows, edited_artifacts, rows_of, segments_from_rows, segments_from_srt
from studio.gallery import GalleryItem, now
from studio.service import Studio, caption

TASK = "transcribe"


def source_item(studio: Studio, session_id: str, item_id: str = "") -> GalleryItem | None:
    """The visitor's transcript to edit: the SRT `item_id` names (of their own transcripts), else their
    newest transcript SRT; None when they have none."""
    if item_id:
        item = studio.gallery.get(session_id, item_id)
        return item if item is not None and item.task == TASK and item.path.endswith(".srt") else None
    return next((i for i in studio.gallery.newest(session_id, TASK) if i.path.endswith(".srt")), None)


def sibling_srt(studio: Studio, session_id: str, item: GalleryItem) -> GalleryItem | None:
    """The SRT published with `item` (a transcript's TXT or WebVTT: same job, same parameters but the
    format), or `item` itself when it is the SRT."""
    if item.path.endswith(".srt"):
        return item
    same = {k: v for k, v in item.params.items() if k != "format"}
    return next((i for i in studio.gallery.newest(session_id, TASK, pages=4) if i.path.endswith(".srt")
                 and {k: v for k, v in i.params.items() if k != "format"} == same), None)


def table_of(item: GalleryItem | None) -> list[list[Any]]:
    """The table's rows (start, end, text) of a published transcript SRT; [] for none."""
    if item is None:
        return []
    return rows_of(segments_from_srt(Path(item.path).read_text(encoding="utf-8")))


def export_edits(studio: Studio, session_id: str, source_id: str, table: Any) -> tuple[list[GalleryItem], str]:
    """Check the edited rows and publish them as TXT, SRT and WebVTT, each signed with the source SRT
    as its parent; the new items (also in the visitor's gallery) and a line saying what was done."""
    source = source_item(studio, session_id, source_id) if source_id else None
    if source is None:
        raise InputError("There is no transcript to edit: transcribe a recording first (its segments fill "
                         "the table), then export your edits.")
    before = segments_from_srt(Path(source.path).read_text(encoding="utf-8"))
    segments, dropped = segments_from_rows(table, float(source.params.get("duration_s") or 0.0))
    params = {k: v for k, v in source.params.items() if k != "format"}
    params.update(edited=True, edited_from=source.id, edited_rows=changed_rows(before, segments),
                  segments=len(segments), words=0, word_timestamps=False)
    parent = [InputFile(source.path, "parentOf", "transcript as transcribed (SRT)")]
    items = []
    for artifact in edited_artifacts(segments, params):
        for published in studio.publisher.publish(artifact, task=TASK, session_id=session_id, inputs=parent):
            item = GalleryItem(id=published.id, session_id=session_id, task=TASK, path=str(published.path),
                               mime=published.mime, caption=caption(published.params), params=published.params,
                               created=now())
            studio.gallery.add(item)
            studio.library.add(item, published.verdict)
            items.append(item)
    removed = f"; {dropped} row(s) with no text left out" if dropped else ""
    return items, (f"Exported the edited transcript ({params['edited_rows']} row(s) changed{removed}) as TXT, SRT "
                   "and WebVTT, signed with the original as their parent.")


def with_sidecars(items: list[GalleryItem]) -> list[str]:
    """The files to download: each followed by its .c2pa sidecar manifest (a text file's credentials)."""
    paths = []
    for item in items:
        sidecar = Path(item.path).with_name(Path(item.path).name + ".c2pa")
        paths += [item.path, *([str(sidecar)] if sidecar.is_file() else [])]
    return paths
