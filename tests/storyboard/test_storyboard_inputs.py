"""Bad input gets a clear message, a failed or cancelled panel loses nothing else, seeds lock, and
the reference image is checked and recorded as an ingredient of every panel."""
from __future__ import annotations

import numpy as np
import pytest
from story_helpers import SMALL, finish
from PIL import Image

from pipelines.errors import InputError
from studio.service import NeedsConfirmation

OWNER = "storyboard-inputs-session-0004"
THREE = "- a red door\n- a blue window\n- a green garden"


def escape(message: str) -> str:
    return message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("storyboard-inputs")
    rng = np.random.default_rng(3)
    paths = {"image": d / "anna.png", "text": d / "notes.png", "tiny": d / "dot.png", "cut": d / "cut.png",
             "wav": d / "voice.wav"}
    Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(paths["image"])
    paths["text"].write_text("a shopping list, not a picture\n" * 20)
    Image.new("RGB", (10, 10), "red").save(paths["tiny"])
    paths["cut"].write_bytes(paths["image"].read_bytes()[:300])
    paths["wav"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(40))
    return paths


@pytest.mark.parametrize("script, kwargs, message", [
    ("", {}, "The script is empty: paste one shot per line"),
    ("\n".join(f"- shot {i}" for i in range(500)), {}, "The script has 500 shots; a board holds at most 200"),
    (THREE, dict(style="watercolour"), "Unknown style 'watercolour'; choose one of: none, cinematic"),
    (THREE, dict(model="sdxxl"), "Unknown model preset 'sdxxl' for text to image"),
    (THREE, dict(width=130), "Width 130 is not a multiple of 8; try 128"),
    (THREE, dict(seed_policy="chaos"), "The seed policy 'chaos' is not one of: same, sequential, random"),
    (THREE, dict(fps=7), "The frame rate 7 is not one of: 12, 24, 25, 30"),
])
def test_bad_boards_get_a_clear_message(boards, script, kwargs, message):
    with pytest.raises(Exception, match=escape(message)) as info:
        boards.create(OWNER, script, **{**SMALL, **kwargs})
    assert hasattr(info.value, "args") and "Traceback" not in str(info.value)


@pytest.mark.parametrize("name, message", [
    ("text", "The reference is not an image this studio can read: upload a PNG, JPEG or WebP picture"),
    ("wav", "The reference is not an image this studio can read"),
    ("tiny", "The reference image is 10×10; it needs at least 64 px on each side"),
    ("cut", "The reference image is damaged or cut short"),
])
def test_a_reference_that_is_not_a_usable_image_is_refused(boards, files, name, message):
    before = len(boards.list(OWNER))
    with pytest.raises(InputError, match=escape(message)):
        boards.create(OWNER, THREE, reference=str(files[name]), **SMALL)
    assert len(boards.list(OWNER)) == before


def test_the_reference_is_checked_and_recorded_on_every_panel(boards, studio, files, monkeypatch):
    monkeypatch.setattr(studio, "check_upload", lambda path: {"verdict": "likely AI-generated", "flagged": True})
    with pytest.raises(NeedsConfirmation, match="tick the confirmation box"):
        boards.create(OWNER, THREE, reference=str(files["image"]), **SMALL)
    board = boards.create(OWNER, "- a red door", reference=str(files["image"]), confirmed=True, **SMALL)
    assert board.reference_verdict["flagged"] and board.reference_verdict["confirmed"]
    assert open(board.reference_path, "rb").read() == files["image"].read_bytes()   # the uploaded bytes, kept
    done, _ = finish(boards.generate_panels(OWNER, board.id))
    assert any("IP-Adapter" in n for n in done.notices)
    report = studio.publisher.verify(boards.get(OWNER, board.id).shots[0].panel_path).to_dict()
    assert [(i["title"], i["relationship"]) for i in report["ingredients"]] == [("reference: anna.png", "inputTo")]
    panel_job = [r for r in studio.jobs.history(OWNER) if r.task == "text_to_image"][-1]
    assert panel_job.inputs_checked and panel_job.inputs_checked[0]["relationship"] == "inputTo"


def test_a_failed_panel_does_not_lose_the_others(boards, monkeypatch):
    from pipelines import text_to_image

    real = text_to_image.run

    def flaky(pipe, request, progress):
        if "blue window" in request.prompt:
            raise RuntimeError("simulated crash in the pipeline")
        return real(pipe, request, progress)

    board = boards.create(OWNER, THREE, **SMALL)
    monkeypatch.setattr(text_to_image, "run", flaky)
    done, steps = finish(boards.generate_panels(OWNER, board.id))
    assert [s.status for s in done.board.shots] == ["done", "failed", "done"]
    assert "Made 2 of 3 panel(s)" in done.message and "shot 2: Something went wrong inside the studio" in done.message
    assert "Failed (the others are kept" in done.message and "Traceback" not in done.message
    assert any(s.board is not None and s.board.shots[1].status == "failed" for s in steps)
    monkeypatch.setattr(text_to_image, "run", real)
    done, _ = finish(boards.generate_panels(OWNER, board.id, only_missing=True))
    assert done.message == "Made 1 of 1 panel(s)." and [s.status for s in done.board.shots] == ["done"] * 3


def test_cancelling_keeps_the_panels_already_made(boards):
    board = boards.create(OWNER, THREE, **SMALL)
    events = boards.generate_panels(OWNER, board.id)
    for event in events:
        if getattr(event, "board", None) is not None and event.board.shots[0].status == "done":
            assert boards.cancel(OWNER) >= 1
            break
    done, _ = finish(events)
    assert done.message.startswith("Cancelled after 1 of 3 panel(s)")
    assert [s.status for s in boards.get(OWNER, board.id).shots] == ["done", "empty", "empty"]


def test_regenerating_keeps_a_locked_seed_and_takes_a_new_one_otherwise(boards):
    board = boards.create(OWNER, "- a red door\n- a blue window", **{**SMALL, "seed_policy": "same"})
    finish(boards.generate_panels(OWNER, board.id))
    board = boards.get(OWNER, board.id)
    assert [s.seed for s in board.shots] == [7, 7]
    boards.edit_shot(OWNER, board.id, 1, seed=1234, seed_locked=True)
    first = boards.get(OWNER, board.id).shots[0].panel_path
    done, _ = finish(boards.generate_panels(OWNER, board.id, [1], new_take=True))
    assert done.board.shots[0].seed == 1234 and done.board.shots[0].panel_path != first
    done, _ = finish(boards.generate_panels(OWNER, board.id, [2], new_take=True))
    assert done.board.shots[1].seed != 7 and done.board.shots[0].seed == 1234


def test_what_is_not_made_yet_is_said_clearly(boards):
    board = boards.create(OWNER, "- a red door\n- a blue window", **SMALL)
    with pytest.raises(InputError, match="No shot has dialogue yet"):
        finish(boards.generate_voices(OWNER, board.id))
    with pytest.raises(InputError, match="Describe the music bed first"):
        finish(boards.generate_music(OWNER, board.id, prompt=" "))
    with pytest.raises(InputError, match=escape("Shot(s) 1, 2 have no panel yet")):
        finish(boards.export(OWNER, board.id, "animatic"))
    with pytest.raises(InputError, match="No shot has a panel yet"):
        finish(boards.export(OWNER, board.id, "zip"))
    with pytest.raises(InputError, match="There is no shot 5: this board has 2 shot"):
        finish(boards.generate_panels(OWNER, board.id, [5]))


def test_a_board_takes_its_models_sizes_in_16_to_9(boards):
    board = boards.create(OWNER, "- a red door", model="tiny-sd3")
    assert (board.model, board.width, board.height, board.steps) == ("tiny-sd3", 256, 144, 4)
    assert board.voice_model == "tiny-vits" and board.music_model == "tiny-musicgen"
