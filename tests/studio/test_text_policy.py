"""One text policy for every free-text field, and the studio's own words on the page: control
characters removed (newline and tab kept), each field's limit said in its message, the voice reads
"/", a small still is "too small", and decoders' error texts stay in the server log."""
from __future__ import annotations

import wave

import pytest
from PIL import Image

from pipelines import checks
from pipelines.errors import InputError

CONTROLS = "\x00\x07\x1b[31m\x7f\x85"
GEN = ("a lighthouse", "", "none", "tiny-sd15", "fixed", 5, 2, 5.0, 64, 64, 1, "default")


def no_controls(text: str) -> bool:
    return not any(ch in text for ch in "\x00\x07\x1b\x7f\x85\r")


def test_control_characters_go_newline_and_tab_stay():
    assert checks.strip_controls(f"a{CONTROLS}b\tc\r\nd\re") == "a[31mb\tc\nd\ne"
    assert checks.text("The title", f"  Pier{CONTROLS} at dawn \n", 120) == "Pier[31m at dawn"
    assert checks.text("The title", None, 120) == ""
    with pytest.raises(InputError, match=r"^The title is 121 characters long; the limit is 120\. Shorten it\.$"):
        checks.text("The title", "x" * 121, 120)
    with pytest.raises(InputError, match="must be text"):
        checks.text("The title", 12, 120)


def test_a_prompt_with_control_characters_is_stored_clean(studio):
    """Through Studio.produce, the path the CLI takes (the web tabs and the API reach it through jobs)."""
    from pipelines.text_to_image import Request

    request = Request(prompt=f"a light{CONTROLS}house\nat dusk", negative_prompt=f"blur{CONTROLS}", model="tiny-sd15",
                      seed=1, steps=1, width=64, height=64)
    outcome = studio.produce("text_to_image", request, session_id="text-policy")
    params = outcome.items[0].params
    assert params["prompt"] == "a light[31mhouse\nat dusk" and params["negative_prompt"] == "blur[31m"


def test_board_title_script_and_look_follow_the_policy_through_the_api(live_url):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(live_url, verbose=False)
    form = dict(title="", style="storyboard-sketch", look="", model="tiny-sd15", seed_policy="same", seed=5,
                width=128, height=72, steps=2, fps=12, duration=3.0, motion="none", reference=None, confirm=False,
                strength=0.6)
    with pytest.raises(AppError, match=r"The board title is 120,000 characters long; the limit is 120\."):
        client.predict("- a red door", *{**form, "title": "x" * 120_000}.values(), api_name="/create_board")
    with pytest.raises(AppError, match=r"The look is 501 characters long; the limit is 500\."):
        client.predict("- a red door", *{**form, "look": "y" * 501}.values(), api_name="/create_board")
    script = f"- a red{CONTROLS} door\nANNA: Who{CONTROLS}?"
    out = client.predict(script, *{**form, "title": f"Door{CONTROLS}s"}.values(), api_name="/create_board")
    summary, table = out[1], out[3]
    assert "Door[31ms" in summary and no_controls(summary) and no_controls(str(table))
    assert "a red[31m door" in str(table)


def test_the_voice_reads_a_slash_instead_of_refusing_it(studio):
    from pipelines.runner import execute
    from pipelines.speech import Request, unsupported_characters

    pipe = studio.models.get("speech", "tiny-vits").pipe
    assert "/" in unsupported_characters(pipe, "tea and/or coffee", "en")   # the twin's alphabet lacks it, too
    result = execute(studio.models, "speech", Request(text="Tea and/or coffee.", model="tiny-vits", seed=3))
    assert result.artifacts[0].duration_s > 0 and result.artifacts[0].params["text"] == "Tea and/or coffee."


def test_a_small_still_is_called_too_small_not_damaged(tmp_path):
    from pipelines import video

    small = tmp_path / "small.png"
    Image.new("RGB", (64, 64), "gray").save(small)
    with pytest.raises(InputError) as info:
        video.load_still(str(small))
    assert "too small" in str(info.value) and "damaged" not in str(info.value)
    cut = tmp_path / "cut.png"
    Image.new("RGB", (320, 240), "gray").save(cut)
    cut.write_bytes(cut.read_bytes()[:60])
    with pytest.raises(InputError, match=r"^The still cut.png is damaged or truncated; export it again\.$"):
        video.load_still(str(cut))


def test_decoders_error_texts_stay_in_the_log_with_a_reference(live_url, tmp_path, caplog):
    """A WAV without its data chunk (libsndfile: "No 'data' chunk marker") and an MP4 of noise (PyAV:
    "[Errno 1094995529] Invalid data found"): Verify and Detect say it in the studio's words."""
    import os

    from gradio_client import Client, handle_file

    nodata = tmp_path / "nodata.wav"
    with wave.open(str(nodata), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    nodata.write_bytes(nodata.read_bytes()[:36])                        # header only, no data chunk
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(3000))
    client = Client(live_url, verbose=False)
    for path in (nodata, noise):
        card, *_ = client.predict(handle_file(str(path)), "tiny-vit-detector", "tiny-wav2vec2-detector",
                                  api_name="/detect")
        assert "cannot judge" in card and "reference" in card, card
        for text in ("Errno", "Invalid data", "chunk marker", "Error opening"):
            assert text not in card
        verify_card, _ = client.predict(handle_file(str(path)), api_name="/verify")
        for text in ("Errno", "Invalid data", "chunk marker", "Error opening"):
            assert text not in verify_card
