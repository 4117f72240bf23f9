"""The Video tab end to end: gradio_client against a live server on a loopback port, and the page
itself in headless Chromium."""
from __future__ import annotations

from fractions import Fraction

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from video_helpers import picture, read_mp4

from pipelines.errors import InputError
from studio.sessions import Session
from studio.tabs.video import resolve_still

ARGS = dict(mode="text", prompt="a paper boat drifting down a rainy street", negative_prompt="", upload=None,
            still_id=None, confirmed=False, model="tiny-ltx", seed_mode="fixed", seed=7, steps=2, guidance=3.0,
            width=256, height=256, length_by="frames", frames=9, duration=1.0, fps=8, motion=127)


def call(client, **kw):
    a = {**ARGS, **kw}
    return client.predict(*a.values(), api_name="/generate_video")


@pytest.fixture(scope="module")
def client(live_url):
    return Client(live_url, verbose=False)


def test_a_clip_from_text_comes_back_signed_playable_and_in_the_gallery(client, studio):
    clip, gallery, status, params = call(client, length_by="seconds", duration=1.0, fps=12)
    path = clip["video"] if isinstance(clip, dict) else clip
    assert "1 file(s) made" in status and "25 frames" not in status
    mp4 = read_mp4(path)
    assert (mp4["codec"], mp4["pix_fmt"], mp4["width"], mp4["height"]) == ("h264", "yuv420p", 256, 256)
    assert (mp4["frames"], mp4["fps"]) == (9, Fraction(12)) == (params["frames"], params["fps"])
    assert studio.publisher.verify(path).state in ("Valid", "Trusted")   # the very bytes handed out
    assert gallery[0]["caption"].startswith("Tiny LTX-Video") and "seed 7" in gallery[0]["caption"]
    assert params["duration_asked_s"] == 1.0 and params["model"] == "tiny-ltx"


def test_the_first_frame_is_previewed_in_the_gallery_while_the_clip_is_made(client):
    job = client.submit(*{**ARGS, "steps": 4}.values(), api_name="/generate_video")
    job.result()
    captions = [[t.get("caption") for t in gallery] for _, gallery, _, _ in job.outputs() if isinstance(gallery, list)]
    previews = [c[0] for c in captions if c and c[0].startswith("preview")]
    assert previews == ["preview · first frame · step 2/4"], captions
    assert not any(c.startswith("preview") for c in captions[-1])   # the finished clip replaces it


def test_a_clip_from_an_uploaded_still_records_the_still_as_an_ingredient(client, studio, still):
    clip, gallery, status, params = call(client, mode="image", upload=handle_file(still), prompt="")
    path = clip["video"] if isinstance(clip, dict) else clip
    report = studio.publisher.verify(path)
    assert report.state in ("Valid", "Trusted") and report.watermark_id
    assert [i.get("relationship") for i in report.ingredients] == ["inputTo"]
    assert params["mode"] == "image" and params["pipeline"] == "LTXImageToVideoPipeline"
    assert read_mp4(path)["frames"] == 9


@pytest.mark.parametrize("kw, message", [
    (dict(fps=0), "Frames per second must be between 1 and 60, not 0"),
    (dict(frames=30), r"makes 8k\+1 frames .* Use 25 or 33"),
    (dict(length_by="seconds", duration=30.0), "over this model's limit of 65 frames"),
    (dict(model="tiny-svd"), "makes video from a still only"),
    (dict(mode="image", prompt=""), "Choose a still to animate"),
    (dict(mode="image", upload="SMALL"), "use one at least 128 px"),
    (dict(mode="image", upload="TEXT"), "could not be read as an image: it is not in a format this studio takes"),
    (dict(model="ltx-video"), "studio models pull ltx-video"),
])
def test_bad_input_is_an_api_error_with_the_message_and_the_studio_keeps_serving(client, tmp_path, kw, message):
    if kw.get("upload") == "SMALL":
        picture(120, 90).save(tmp_path / "small.png")
        kw["upload"] = handle_file(str(tmp_path / "small.png"))
    elif kw.get("upload") == "TEXT":
        (tmp_path / "notes.png").write_text("meeting notes, not a picture")
        kw["upload"] = handle_file(str(tmp_path / "notes.png"))
    with pytest.raises(AppError, match=message):
        call(client, **kw)
    if "ltx-video" == kw.get("model"):
        clip, _, status, _ = call(client)
        assert "1 file(s) made" in status


def test_a_still_from_the_gallery_must_be_one_of_my_images(studio):
    from pipelines.text_to_image import Request as ImageRequest

    mine = Session(id="video-still-owner")
    item = studio.produce("text_to_image", ImageRequest(prompt="a harbour", model="tiny-sd15", steps=2, width=256,
                                                        height=256), mine.id).items[0]
    assert resolve_still(studio, mine, "image", None, item.id) == item.path
    assert resolve_still(studio, mine, "text", None, item.id) == ""
    with pytest.raises(InputError, match="not among your images"):
        resolve_still(studio, Session(id="someone-else"), "image", None, item.id)


def test_api_endpoints_are_named(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/generate_video" in names and "/cancel_video" in names


@pytest.mark.browser
def test_the_tab_offers_only_the_models_modes_and_says_what_it_will_make(live_url, browser, artifacts_dir):
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    page.goto(live_url)
    page.get_by_role("tab", name="Video").click()
    page.locator("#video-generate").wait_for(timeout=60_000)
    page.wait_for_function("document.querySelector('#video-plan').innerText.includes('9 frames')", timeout=30_000)
    assert page.locator("#video-mode label").all_inner_texts() == ["From text", "From a still"]
    model = page.locator("input[aria-label='Model preset']").last
    model.click()
    model.fill("Tiny Stable")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.get_by_text("Motion (Stable Video Diffusion").wait_for(timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#video-mode label').length == 1", timeout=30_000)
    assert page.locator("#video-mode label").all_inner_texts() == ["From a still"]
    assert page.locator("#video-still-file").is_visible()
    page.wait_for_function("document.querySelector('#video-plan').innerText.includes('4 frames')", timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "video_tab_svd.png"), full_page=True)
    page.close()
