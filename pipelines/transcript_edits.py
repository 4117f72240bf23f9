"""A transcript as an editable table, and the table's rows back into a transcript.

The Transcribe tab fills a table (start, end, text: one row per segment) from the SRT a
transcription published; the visitor corrects words or times and exports again. The rows are
checked here (times that read as times, start before end, inside the recording, in order without
overlapping; an error names the row) and written by the transcription's own writers
(pipelines.transcribe: TXT, SRT, WebVTT). No model and no torch: the web app calls this.

An edit is written segment by segment: its WebVTT carries no word timings (the SRT the table is
read from holds none, and an edited row's words are no longer the ones Whisper timed).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from pipelines import subtitles
from pipelines.errors import InputError
from pipelines.media import TextArtifact
from pipelines.transcribe import Segment, to_srt, to_text, to_vtt

HEADERS = ["start (s)", "end (s)", "text"]
TOLERANCE_S = 0.001   # the files round times to milliseconds


def segments_from_srt(text: str) -> list[Segment]:
    """A published transcript's SRT as segments (an empty transcript: none)."""
    if not text.strip():
        return []
    return [Segment(c.start_s, c.end_s, c.text) for c in subtitles.parse(text, "transcript")]


def rows_of(segments: Sequence[Segment]) -> list[list[Any]]:
    """The table's rows: start and end in seconds (to the millisecond), and the text."""
    return [[round(s.start, 3), round(s.end, 3), s.text] for s in segments]


def table_rows(table: Any) -> list[list[Any]]:
    """A table's rows from what a Dataframe or an API caller sends: a list of rows, or a dict with
    "data" (Gradio's own shape)."""
    if isinstance(table, dict):
        table = table.get("data", [])
    if not isinstance(table, (list, tuple)):
        raise InputError("The transcript table did not arrive as rows of start, end and text.")
    return [list(row) if isinstance(row, (list, tuple)) else [row] for row in table]


def parse_time(value: Any, row: int, which: str) -> float:
    """Seconds from a cell: a number (12.5), or a timestamp (00:00:12,500 or 00:00:12.500)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value if value is not None else "").strip()
        try:
            seconds = float(text) if ":" not in text else subtitles_seconds(text)
        except ValueError:
            raise InputError(f"Row {row}: the {which} {text!r} is not a time; write seconds (12.5) or "
                             "a timestamp (00:00:12,500).") from None
    if not math.isfinite(seconds):
        raise InputError(f"Row {row}: the {which} is not a time; write seconds (12.5).")
    return seconds


def subtitles_seconds(stamp: str) -> float:
    """Seconds of an H:MM:SS,mmm / MM:SS.mmm timestamp; ValueError when it is not one."""
    parts = stamp.replace(",", ".").split(":")
    if not 2 <= len(parts) <= 3 or any(not p.strip() for p in parts):
        raise ValueError(stamp)
    values = [float(p) for p in parts]
    if any(v < 0 for v in values) or any(v >= 60 for v in values[1:]):
        raise ValueError(stamp)
    return sum(v * 60 ** k for k, v in enumerate(reversed(values)))


def segments_from_rows(table: Any, duration_s: float) -> tuple[list[Segment], int]:
    """The table's rows as segments, checked; returns them and how many rows were left out because
    their text is empty (emptying a row's text removes it). InputError names the first bad row."""
    segments, dropped = [], 0
    for n, row in enumerate(table_rows(table), start=1):
        cells = (row + [None, None, None])[:3]
        text = str(cells[2] if cells[2] is not None else "").strip()
        if not text:
            dropped += 1
            continue
        start, end = parse_time(cells[0], n, "start"), parse_time(cells[1], n, "end")
        if start < 0:
            raise InputError(f"Row {n}: the start ({start:g} s) is before the recording begins (0 s).")
        if not start < end:
            raise InputError(f"Row {n}: the start ({start:.3f} s) must come before the end ({end:.3f} s).")
        if end > duration_s + TOLERANCE_S:
            raise InputError(f"Row {n}: the end ({end:.3f} s) is past the end of the recording "
                             f"({duration_s:.3f} s).")
        if segments and start < segments[-1].end - TOLERANCE_S:
            raise InputError(f"Row {n} starts at {start:.3f} s, before the row above it ends "
                             f"({segments[-1].end:.3f} s): keep the rows in time order, without overlaps.")
        segments.append(Segment(start, min(end, duration_s), text))
    if not segments:
        raise InputError("The transcript table has no rows with text: transcribe a recording first, or "
                         "undo the deletions.")
    return segments, dropped


def changed_rows(before: Sequence[Segment], after: Sequence[Segment]) -> int:
    """How many rows of `after` differ from the row in the same place `before` (text or times),
    counting added and removed rows."""
    def key(s: Segment) -> tuple:
        return round(s.start, 3), round(s.end, 3), s.text

    same = sum(key(a) == key(b) for a, b in zip(before, after))
    return max(len(before), len(after)) - same


def edited_artifacts(segments: Sequence[Segment], params: dict[str, Any]) -> list[TextArtifact]:
    """The edited transcript as TXT, SRT and WebVTT, each with `params` and its format."""
    segments = list(segments)
    texts = ((".txt", to_text(segments)), (".srt", to_srt(segments)), (".vtt", to_vtt(segments)))
    return [TextArtifact(text, suffix, dict(params, format=suffix.lstrip("."))) for suffix, text in texts]

