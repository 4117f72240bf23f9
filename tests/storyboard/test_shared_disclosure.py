"""Prompt disclosure off (the operator's `disclose_prompt`, STUDIO_DISCLOSE_PROMPT=0) and a shared
board: a visitor who opens the link sees every word the board's owner wrote as its SHA-256 and is
offered only exports whose content holds none of them, while the owner keeps reading and editing
their own words. Through the live studio with gradio_client (two visitors), searching everything
the viewer receives: the summary, the panels' captions and bytes, the shot table, each offered
file's bytes and its manifest JSON as c2pa's own Reader reports it."""
from __future__ import annotations

import json
from pathlib import Path

import c2pa
import pytest

from provenance.manifest import sha256_text
from provenance.signing import c2pa_mime

# Made-up words that appear nowhere else: one for each kind of text the owner writes on a board.
TITLE, SCENE, CAMERA, SHOT, SPEAKER, DIALOGUE, LOOK = ("brindlequast", "morrowfenk", "skelliwag", "glumbertine",
                                                     "OXTRAVIL", "plonderhaze", "quibbleroot")
WORDS = [w.lower() for w in (TITLE, SCENE, CAMERA, SHOT, SPEAKER, DIALOGUE, LOOK)]
SCRIPT = f"## {SCENE}\n- [{CAMERA}, 1s] a {SHOT} on a pier\n{SPEAKER}: {DIALOGUE} tonight.\n"
FORM = dict(title=f"The {TITLE} board", style="storyboard-sketch", look=f"{LOOK} coat", model="tiny-sd15",
            seed_policy="same", seed=5, width=128, height=72, steps=2, fps=12, duration=3.0, motion="none",
            reference=None, confirm=False, strength=0.6)


@pytest.fixture
def undisclosed(studio):
    """The live studio with prompt disclosure off for one test (the operator's setting)."""
    before = studio.publisher.cfg.disclose_prompt
    studio.publisher.cfg.disclose_prompt = False
    yield studio
    studio.publisher.cfg.disclose_prompt = before


def manifest_json(path: str) -> str:
    suffix = Path(path).suffix.lstrip(".")
    mime = {"mp4": "video/mp4", "png": "image/png", "pdf": "application/pdf", "zip": "application/zip"}[suffix]
    with open(path, "rb") as stream, c2pa.Reader(c2pa_mime(mime), stream) as reader:
        return reader.json()


def found_words(blob: str) -> list[str]:
    return [w for w in WORDS if w in blob.lower()]


def test_a_shared_board_shows_a_visitor_hashes_and_its_owner_words(undisclosed, live_url):
    from gradio_client import Client

    alice, bob = Client(live_url, verbose=False), Client(live_url, verbose=False)
    board_id = alice.predict(SCRIPT, *FORM.values(), api_name="/create_board")[0]["value"]
    alice.predict(board_id, False, False, api_name="/generate_panels")
    alice.predict(board_id, api_name="/generate_next_panel")
    alice.predict(board_id, api_name="/export_pdf")
    silent = alice.predict(board_id, api_name="/export_animatic")[0]
    alice.predict(board_id, "tiny-vits", "", api_name="/make_voiceover")   # speaks (and subtitles) the dialogue
    alice.predict(board_id, api_name="/export_animatic")
    link, _ = alice.predict(board_id, api_name="/share_board")

    summary, panels, table, files = bob.predict(link, api_name="/open_shared_board")
    assert not found_words(json.dumps([summary, panels, table["data"]]))
    assert f"sha256:{sha256_text(FORM['title'])}" in summary and "SHA-256" in summary
    row = table["data"][0]
    assert row[1:5] == [f"sha256:{sha256_text(SCENE)}", f"sha256:{sha256_text(CAMERA)}",
                        f"sha256:{sha256_text(f'a {SHOT} on a pier')}",
                        f"sha256:{sha256_text(SPEAKER)}: sha256:{sha256_text(f'{DIALOGUE} tonight.')} 🔊"]
    # Every file the viewer gets: the panel, and of the exports only the animatic without voice-over
    # (the contact sheet prints the script; a voice-over speaks the dialogue), each without a word in
    # its bytes or its credentials.
    assert [Path(f).read_bytes() for f in files] == [Path(silent).read_bytes()]
    assert "4 export(s) that carry them" in summary   # the voiced animatic's SRT and WebVTT among them
    received = [*files, *(p["image"] for p in panels)]
    assert len(received) == 2
    for path in received:
        assert not found_words(Path(path).read_bytes().decode("latin-1")), path
        assert not found_words(manifest_json(path)), path

    # The owner opening her own link sees her words and every export, and keeps editing them.
    summary, _, table, files = alice.predict(link, api_name="/open_shared_board")
    # (the PDF, both animatics, and the voiced one's SRT and WebVTT)
    assert FORM["title"] in summary and len(files) == 5 and table["data"][0][3] == f"a {SHOT} on a pier"
    *_, table, status = alice.predict(board_id, 1, f"a {SHOT} at dusk", CAMERA, 1.0, "none",
                                      f"{SPEAKER}: {DIALOGUE} again", 5, False, api_name="/save_shot")
    assert table["data"][0][3] == f"a {SHOT} at dusk" and "Saved shot 1" in status

    # With disclosure on, anyone with the link reads the board as it is.
    undisclosed.publisher.cfg.disclose_prompt = True
    summary, _, table, files = bob.predict(link, api_name="/open_shared_board")
    assert FORM["title"] in summary and table["data"][0][3] == f"a {SHOT} at dusk" and len(files) == 5
