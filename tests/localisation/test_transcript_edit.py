"""The Transcribe tab's editable transcript: a studio voice take transcribed by the tiny Whisper through
the live server (gradio_client), its segments read into the table, a row's text edited and exported:
the downloaded SRT parses, holds the edit, and verifies with its downloaded sidecar, whose manifest
names the original transcript as the parent. Bad rows are refused naming the row."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import srt
import webvtt

from pipelines.errors import InputError
from pipelines.transcript_edits import HEADERS, changed_rows, segments_from_rows, segments_from_srt

EDIT = "The lamp is lit, keeper."


@pytest.fixture(scope="module")
def voice_take(studio) -> Path:
    """A voice take made by the studio (tiny VITS), as the visitor downloads it."""
    from pipelines.speech import Request as SpeechRequest

    outcome = studio.produce("speech", SpeechRequest(text="Hello there, keeper. The lamp is lit tonight.",
                                                     model="tiny-vits", seed=3), session_id="transcript-edit-test")
    return next(Path(i.path) for i in outcome.items if i.mime == "audio/wav")


@pytest.fixture(scope="module")
def transcribed(live_url, voice_take):
    """A visitor's client after a transcription, and the table the tab fills from it."""
    from gradio_client import Client, handle_file

    client = Client(live_url, verbose=False)
    client.predict(handle_file(str(voice_take)), True, "tiny-whisper", "", False, True,
                   api_name="/generate_transcribe")
    table, note = client.predict(api_name="/transcript_table")
    return client, table


def by_suffix(paths) -> dict[str, Path]:
    return {"".join(Path(p).suffixes[-2:]) if p.endswith(".c2pa") else Path(p).suffix: Path(p) for p in paths}


def test_an_edited_row_is_exported_as_signed_files_with_the_original_as_parent(transcribed, studio, tmp_path):
    client, table = transcribed
    rows = table["data"]
    assert rows and table["headers"] == HEADERS
    assert all(0 <= start < end for start, end, _ in rows)
    rows[0][2] = EDIT
    files, new_table, note = client.predict({"headers": HEADERS, "data": rows}, api_name="/export_transcript_edits")
    assert "1 row(s) changed" in note and "signed with the original as their parent" in note
    got = by_suffix(files)
    assert sorted(got) == [".srt", ".srt.c2pa", ".txt", ".txt.c2pa", ".vtt", ".vtt.c2pa"]
    cues = list(srt.parse(got[".srt"].read_text(encoding="utf-8")))
    assert [c.content for c in cues] == [r[2] for r in rows]
    assert [(round(c.start.total_seconds(), 3), round(c.end.total_seconds(), 3)) for c in cues] == [
        (r[0], r[1]) for r in rows]
    assert webvtt.read(str(got[".vtt"])).captions[0].text == EDIT
    assert got[".txt"].read_text(encoding="utf-8").splitlines()[0] == EDIT
    assert new_table["data"][0][2] == EDIT
    # Downloaded side by side, the SRT and its sidecar verify, and the manifest records the edit.
    folder = tmp_path / "download"
    folder.mkdir()
    copy = Path(shutil.copyfile(got[".srt"], folder / "edited.srt"))
    shutil.copyfile(got[".srt.c2pa"], folder / "edited.srt.c2pa")
    report = studio.publisher.verify(copy)
    assert report.state in ("Valid", "Trusted") and report.manifest_source == "sidecar"
    [parent] = report.to_dict()["ingredients"]
    assert parent["relationship"] == "parentOf" and parent["title"] == "transcript as transcribed (SRT)"
    assert "c2pa.edited" in json.dumps(report.manifest)


def test_a_bad_row_is_refused_with_its_number(transcribed):
    from gradio_client.exceptions import AppError

    client, table = transcribed
    rows = [list(r) for r in table["data"]]
    rows.append([rows[-1][1], rows[-1][1] - 0.1 if rows[-1][1] > 0.1 else 0.0, "backwards"])
    with pytest.raises(AppError, match=f"Row {len(rows)}: the start .* must come before the end"):
        client.predict({"headers": HEADERS, "data": rows}, api_name="/export_transcript_edits")


@pytest.mark.parametrize("rows, message", [
    ([[0.5, 1.0, "a"], [2.0, 1.5, "b"]], r"Row 2: the start \(2.000 s\) must come before the end \(1.500 s\)"),
    ([[0.5, 1.0, "a"], [0.8, 1.5, "b"]], r"Row 2 starts at 0.800 s, before the row above it ends \(1.000 s\)"),
    ([[0.5, 4.5, "a"]], r"Row 1: the end \(4.500 s\) is past the end of the recording \(4.000 s\)"),
    ([[-1, 1.0, "a"]], r"Row 1: the start \(-1 s\) is before the recording begins"),
    ([[0.5, 1.0, "a"], ["soon", 2.0, "b"]], r"Row 2: the start 'soon' is not a time"),
    ([[0.5, 1.0, ""]], r"has no rows with text"),
])
def test_rows_are_checked(rows, message):
    with pytest.raises(InputError, match=message):
        segments_from_rows(rows, 4.0)


def test_timestamps_are_read_and_empty_rows_are_left_out():
    segments, dropped = segments_from_rows({"headers": HEADERS, "data": [
        ["00:00:00,500", "0:00:01.250", "Hello."], [1.25, 2, ""], ["1.5", 3.9995, "There."]]}, 4.0)
    assert [(s.start, s.end, s.text) for s in segments] == [(0.5, 1.25, "Hello."), (1.5, 3.9995, "There.")]
    assert dropped == 1
    before = segments_from_srt("1\n00:00:00,500 --> 00:00:01,250\nHello.\n\n")
    assert changed_rows(before, segments) == 1 and segments_from_srt("") == []
