"""The Detect tab as visitors use it: through gradio_client (the API) and in headless Chromium."""
from __future__ import annotations

import pytest

from provenance.detect_verdict import CREDENTIALS, WATERMARK


@pytest.fixture(scope="module")
def client(detect_live_url):
    from gradio_client import Client

    return Client(detect_live_url, verbose=False)


def detect(client, path, image="tiny-vit-detector", audio="tiny-wav2vec2-detector"):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), image, audio, api_name="/detect")


def test_api_gives_the_verdict_card_and_its_evidence(client, media):
    card, verdict, history = detect(client, media["studio_png"])
    assert CREDENTIALS in card and "Tiny ViT detector" in card and "0.35–0.80 unsure" in card
    assert verdict["verdict"] == CREDENTIALS and verdict["evidence"]["credentials"]["intact"]
    card, verdict, _ = detect(client, media["stripped_jpg"])
    assert verdict["verdict"] == WATERMARK and "Studio watermark:** found" in card
    card, verdict, _ = detect(client, media["voice_wav"])
    assert verdict["kind"] == "audio" and "Tiny wav2vec2 detector" in card and verdict["score"] is not None


def test_api_says_cannot_judge_for_what_no_model_can_read(client, media):
    for key, reason in (("notes_txt", "not an image, audio or video format"), ("silent_wav", "silent"),
                        ("one_frame_mp4", "single frame")):
        card, verdict, _ = detect(client, media[key])
        assert verdict["verdict"].startswith("cannot judge") and reason in verdict["verdict"], key
        assert "cannot judge" in card


def test_api_reports_a_model_that_is_not_downloaded_in_the_verdict(client, media):
    _, verdict, _ = detect(client, media["photo_png"], image="sdxl-detector")
    assert verdict["verdict"].startswith("cannot judge: the detector model could not run")


def test_api_without_a_file_is_a_clear_error(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Choose a file to check first"):
        client.predict(None, "tiny-vit-detector", "tiny-wav2vec2-detector", api_name="/detect")


@pytest.mark.browser
def test_detect_tab_in_the_browser(detect_live_url, browser, media, artifacts_dir):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(detect_live_url)
    page.get_by_role("tab", name="Detect").click()
    page.locator("#detect-upload input[type=file]").set_input_files(str(media["studio_png"]))
    page.wait_for_timeout(500)
    page.locator("#detect-run").click()
    page.locator("#detect-verdict").get_by_text(CREDENTIALS).wait_for(timeout=60000)
    assert "Tiny ViT detector" in page.locator("#detect-verdict").inner_text()
    page.wait_for_function("document.querySelector('#detect-history').innerText.includes('signed credentials')",
                           timeout=10000)
    page.screenshot(path=str(artifacts_dir / "detect_tab.png"), full_page=True)
    page.close()
