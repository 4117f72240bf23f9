"""A three-shot board made with the tiny models through Studio.produce, and its signed exports:
the PDF contact sheet rendered and looked at, the animatic's length and sound, the ZIP's contents."""
from __future__ import annotations

import json
import subprocess
import zipfile

import av
import numpy as np
import pytest
from story_helpers import SESSION, finish
from PIL import Image

from studio.storyboard import exports as ex


def verified(studio, path) -> dict:
    report = studio.publisher.verify(path)
    assert report.state in ("Valid", "Trusted"), report.to_dict()
    return report.to_dict()


def test_a_three_shot_board_is_made_with_tiny_models(made_board, studio):
    board = made_board
    assert [s.status for s in board.shots] == ["done"] * 3
    assert [s.seed for s in board.shots] == [8, 9, 10]            # sequential policy from seed 7
    assert [s.duration_s for s in board.shots] == [1.0, 1.2, 1.3] and board.shots[2].motion == "pan_right"
    for shot in board.shots:
        assert Image.open(shot.panel_path).size == (128, 72)
        params = studio.gallery.get(SESSION, shot.panel_id).params
        assert params["style"] == "storyboard-sketch" and params["seed"] == shot.seed and params["steps"] == 2
        assert params["prompt"] == shot.prompt_text(board.look)
        verified(studio, shot.panel_path)
    takes = [ln for s in board.shots for ln in s.dialogue]
    assert [(ln.speaker, ln.text) for ln in takes] == [("NARRATOR", "The fog came early that year."),
                                                       ("ANNA", "Who's there?"), ("BEN", "Only me.")]
    assert len({ln.voice for ln in takes}) == 3 and all(ln.duration_s > 0 for ln in takes)  # a voice per speaker
    for line in takes:
        assert verified(studio, line.audio_path)["mime"] == "audio/wav"
    verified(studio, board.music_path)
    panel_jobs = [r for r in studio.jobs.history(SESSION) if r.task == "text_to_image"]
    assert len(panel_jobs) >= 3 and all(r.state == "done" for r in panel_jobs)   # one queued job per panel


def ingredients(report: dict) -> list[tuple[str, str]]:
    return sorted((i["title"], i["relationship"]) for i in report["ingredients"])


def test_the_pdf_contact_sheet_renders_panels_numbers_and_text(made_board, boards, studio, tmp_path):
    done, _ = finish(boards.export(SESSION, made_board.id, "pdf"))
    [item] = done.items
    report = verified(studio, item.path)
    assert item.mime == "application/pdf" and item.task == "storyboard" and item.params["export"] == "contact sheet"
    assert ingredients(report) == sorted((f"panel {n}: {s.prompt[:60]}", "componentOf")
                                         for n, s in enumerate(made_board.shots, 1))
    dpi = 50
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", item.path, str(tmp_path / "sheet")], check=True)
    page = np.asarray(Image.open(tmp_path / "sheet.png").convert("RGB")).astype(int)
    assert abs(page.shape[0] - 210 / 25.4 * dpi) <= 1 and abs(page.shape[1] - 297 / 25.4 * dpi) <= 1  # A4 landscape
    for shot, cell in zip(made_board.shots, ex.layout(made_board)):
        x, y, w, h = (round(v / 25.4 * dpi) for v in cell.image)
        shown = Image.fromarray(page[y + 1:y + h - 1, x + 1:x + w - 1].astype(np.uint8)).resize((32, 18))
        expected = Image.open(shot.panel_path).convert("RGB").resize((32, 18))
        # the panel is where the layout put it
        assert np.abs(np.asarray(shown).astype(int) - np.asarray(expected)).mean() < 30
    assert page[-40:, :, :].min() > 240                                  # below the grid the page is blank
    text = subprocess.run(["pdftotext", "-layout", item.path, "-"], capture_output=True, text=True, check=True).stdout
    for needle in ("Pier at dawn", "#1", "#2", "#3", "wide", "1.2 s", "a lighthouse on a pier in fog",
                   "Narrator: The fog came early that year.", "ANNA: Who's there?", "BEN: Only me."):
        assert needle in text, needle


def test_the_animatic_lasts_the_sum_of_the_shots_with_sound(made_board, boards, studio):
    done, steps = finish(boards.export(SESSION, made_board.id, "animatic"))
    item, *_ = done.items   # then its SRT and WebVTT files (test_animatic_subtitles_export.py)
    report = verified(studio, item.path)
    assert item.mime == "video/mp4" and any("rendering" in s.label for s in steps)
    takes = [ln for s in made_board.shots for ln in s.dialogue]
    assert len(report["ingredients"]) == 3 + len(takes) + 1 and \
        {i["relationship"] for i in report["ingredients"]} == {"componentOf"}
    assert ("music bed", "componentOf") in ingredients(report)
    fps, total = 12, sum(s.duration_s for s in made_board.shots)
    with av.open(item.path) as box:
        video, audio = box.streams.video[0], box.streams.audio[0]
        frames = sum(1 for _ in box.decode(video))
    assert abs(frames / fps - total) <= 1 / fps and (video.width, video.height) == (128, 72)
    with av.open(item.path) as box:
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in box.decode(box.streams.audio[0])])
    rate = audio.rate
    assert abs(sound.size / audio.channels / rate - total) <= 1 / fps
    assert np.sqrt(np.mean(sound ** 2)) > 0.01                            # the voices and music are in it
    assert item.params["shot_frames"] == [12, 14, 16] and item.params["music"] is True


def test_the_zip_holds_the_signed_panels_and_the_shot_list(made_board, boards, studio, tmp_path):
    done, _ = finish(boards.export(SESSION, made_board.id, "zip"))
    [item] = done.items
    verified(studio, item.path)
    with zipfile.ZipFile(item.path) as box:
        signed = [n for n in box.namelist() if n.startswith("META-INF/")]
        names = [n for n in box.namelist() if n not in signed]
        assert "META-INF/content_credential.c2pa" in signed           # where C2PA puts a ZIP's manifest
        assert names == ["panels/001-a-lighthouse-on-a-pier-in-fog.png",
                         "panels/002-a-woman-in-a-yellow-raincoat-looks-up.png",
                         "panels/003-an-old-fisherman-mends-a-net.png", "shots.json"]
        for name, shot in zip(names, made_board.shots):
            data = box.read(name)
            assert data == open(shot.panel_path, "rb").read()        # byte for byte: its own credentials intact
            (tmp_path / "p.png").write_bytes(data)
            verified(studio, tmp_path / "p.png")
        listing = json.loads(box.read("shots.json"))
    assert [s["dialogue"] for s in listing["shots"]][1] == [{"speaker": "ANNA", "text": "Who's there?"}]
    assert [s["duration_s"] for s in listing["shots"]] == [1.0, 1.2, 1.3]


def test_boards_survive_a_restart(made_board, studio):
    from studio.service import Studio
    from studio.storyboard.service import BoardService

    again = BoardService(Studio(studio.settings))
    board = again.get(SESSION, made_board.id)
    assert [s.to_dict() for s in board.shots] == [s.to_dict() for s in made_board.shots]
    assert board.settings() == made_board.settings()
    assert (made_board.id in [b for _, b in again.list(SESSION)]) and len(again.exports(board)) >= 1


def test_visitors_see_only_their_own_boards(made_board, boards):
    from pipelines.errors import InputError

    other = "another-visitor-session-0002"
    assert boards.list(other) == []
    for call in (lambda: boards.get(other, made_board.id),
                 lambda: boards.edit_shot(other, made_board.id, 1, prompt="mine now"),
                 lambda: boards.delete_shot(other, made_board.id, 1),
                 lambda: boards.share(other, made_board.id),
                 lambda: finish(boards.generate_panels(other, made_board.id)),
                 lambda: finish(boards.export(other, made_board.id, "pdf"))):
        with pytest.raises(InputError, match="not among your boards"):
            call()
    assert boards.get(SESSION, made_board.id).shots[0].prompt == made_board.shots[0].prompt


def test_a_share_link_opens_the_board_read_only(made_board, boards):
    from pipelines.errors import InputError

    token = boards.share(SESSION, made_board.id)
    assert len(token) >= 32 and boards.share(SESSION, made_board.id) == token
    for link in (token, f"http://127.0.0.1:7860/?board={token}", f"https://studio.example/?x=1&board={token}"):
        board = boards.shared(link)
        assert board.id == made_board.id and [s.prompt for s in board.shots] == [s.prompt for s in made_board.shots]
    with pytest.raises(InputError, match="not among your boards"):
        boards.edit_shot("visitor-with-the-link-0003", token, 1, prompt="x")       # a token is not a board id
    with pytest.raises(InputError, match="not among your boards"):
        boards.edit_shot("visitor-with-the-link-0003", made_board.id, 1, prompt="x")
    with pytest.raises(InputError, match="does not open a board"):
        boards.shared(token[:-2] + "xx")
    boards.unshare(SESSION, made_board.id)
    with pytest.raises(InputError, match="does not open a board"):
        boards.shared(token)
