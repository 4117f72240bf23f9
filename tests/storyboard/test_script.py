"""Script parsing: one shot per line and the markdown form, camera notes, durations, dialogue with
and without a speaker, blank lines, long scripts, and the clear limits."""
from __future__ import annotations

import time

import pytest

from pipelines.errors import InputError
from studio.storyboard.script import (NARRATOR, estimate_duration, motion_for, parse_dialogue_block,
                                      parse_script)


def test_one_shot_per_line_with_blank_lines_and_camera_notes():
    parsed = parse_script("\n\n  a lighthouse at dusk  \n\n\nCU: the keeper's hands (2.5s)\n"
                          "WIDE - waves hit the rocks [slow push in]\n\n", max_shots=200)
    assert parsed.form == "lines" and parsed.speakers == [] and parsed.scenes == []
    assert [(s.text, s.camera, s.duration_s) for s in parsed.shots] == [
        ("a lighthouse at dusk", "", None),
        ("the keeper's hands", "CU", 2.5),
        ("waves hit the rocks", "WIDE, slow push in", None)]
    assert [s.line_no for s in parsed.shots] == [3, 6, 7]


def test_markdown_form_with_scenes_bullets_and_speakers():
    script = """# Scene 1: The pier
- [wide, 4s] a fishing harbour in fog
ANNA (V.O.): I came back after ten years.
1. [close-up] Anna's hands on a rope
**Ben:** You shouldn't be here.
> Anna: Where else would I go?

INT. CABIN - NIGHT
Shot 3: Ben unrolls a map (3 sec)
"""
    parsed = parse_script(script, max_shots=200)
    assert parsed.form == "markdown"
    assert parsed.scenes == ["Scene 1: The pier", "INT. CABIN - NIGHT"]
    assert [(s.text, s.camera, s.duration_s, s.scene) for s in parsed.shots] == [
        ("a fishing harbour in fog", "wide", 4.0, "Scene 1: The pier"),
        ("Anna's hands on a rope", "close-up", None, "Scene 1: The pier"),
        ("Ben unrolls a map", "", 3.0, "INT. CABIN - NIGHT")]
    assert parsed.shots[0].dialogue == [("ANNA", "I came back after ten years.")]
    assert parsed.shots[1].dialogue == [("BEN", "You shouldn't be here."), ("ANNA", "Where else would I go?")]
    assert parsed.speakers == ["ANNA", "BEN"]


def test_dialogue_without_a_speaker_is_the_narrators():
    parsed = parse_script('- the sea at night\n> The fog came early.\n"Nobody saw her leave."\n“Curly quotes too.”',
                          max_shots=10)
    assert parsed.shots[0].dialogue == [(NARRATOR, "The fog came early."), (NARRATOR, "Nobody saw her leave."),
                                        (NARRATOR, "Curly quotes too.")]
    assert parse_dialogue_block("ANNA: hi\nplain words\n\nBen: yes") == [
        ("ANNA", "hi"), (NARRATOR, "plain words"), ("BEN", "yes")]


def test_camera_terms_are_not_speakers():
    parsed = parse_script("CU: a door opens\nPOV: the corridor\nEXTREME CLOSE-UP: an eye\nANNA: hello", 10)
    assert [s.camera for s in parsed.shots] == ["CU", "POV", "EXTREME CLOSE-UP"]
    assert parsed.shots[-1].dialogue == [("ANNA", "hello")]


def test_durations_follow_dialogue_when_not_written():
    parsed = parse_script("- a kitchen\nANNA: " + "word " * 20 + "\n- a window (1.5s)\nBEN: " + "word " * 20, 10)
    assert estimate_duration(parsed.shots[0], 3.0) == pytest.approx(20 / 2.5 + 1.0)
    assert estimate_duration(parsed.shots[1], 3.0) == 1.5      # written durations win
    assert motion_for("slow push in", "none") == "zoom_in" and motion_for("pull back", "none") == "zoom_out"
    assert motion_for("pan left", "none") == "pan_left" and motion_for("static", "pan_right") == "pan_right"


def test_a_long_script_parses_quickly():
    script = "\n".join(f"- [medium, 2s] shot number {i} of the chase, rain, neon signs\nANNA: line {i}"
                       for i in range(200))
    start = time.perf_counter()
    parsed = parse_script(script, max_shots=200)
    assert len(parsed.shots) == 200 and all(len(s.dialogue) == 1 for s in parsed.shots)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("script, message", [
    ("", "The script is empty: paste one shot per line"),
    ("  \n\n \t\n", "The script is empty"),
    ("\n".join(f"shot {i}" for i in range(500)), "The script has 500 shots; a board holds at most 200"),
    ("## Only a heading", "no shot lines"),
    ("ANNA: hello\n- the pier", "Line 1 is dialogue (ANNA) before any shot"),
    ("- the pier (90s)", "The duration on line 1 is 90 s; a shot lasts 0.5 to 60 s"),
    ("- " + "x" * 1200, "The shot on line 1 is 1,200 characters; keep it under 1,000"),
    ("[close-up]", "has a camera note but no description"),
    ("x" * 200_001, "The script is 200,001 characters"),
])
def test_bad_scripts_get_a_clear_message(script, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_script(script, max_shots=200)
