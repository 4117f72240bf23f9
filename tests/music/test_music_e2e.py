"""The Music and Sound effects tabs as visitors use them: gradio_client against the live studio,
and the Music tab in headless Chromium."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def client(live_url):
    from gradio_client import Client

    return Client(live_url, verbose=False)


def compose(client, melody=None, confirm=False, model="tiny-musicgen-melody", duration=2.5,
            prompt="warm lo-fi, 80 bpm"):
    from gradio_client import handle_file

    return client.predict(prompt, model, handle_file(str(melody)) if melody else None, confirm, "fixed", 3, duration,
                          3.0, 1.0, 250, -14, api_name="/generate_music")


def test_compose_with_a_melody_through_the_api(client, studio, audio_files):
    player, preview, files, gallery, status = compose(client, audio_files["melody"])
    assert player.endswith(".wav") and sorted(f.rsplit(".", 1)[1] for f in files) == ["mp3", "wav"]
    assert preview and preview.rsplit(".", 1)[1] in ("png", "webp", "jpeg")
    for path in [player, *files]:
        assert studio.publisher.verify(path).state in ("Valid", "Trusted"), path
    assert "2 file(s) made, signed and checked" in status and "2 windows" in status
    assert gallery["headers"][:4] == ["Made", "Prompt", "Model", "Seed"]
    label = "Tiny MusicGen Melody (random weights, test)"
    assert {tuple(row[1:5]) for row in gallery["data"]} == {("warm lo-fi, 80 bpm", label, 3, 2.5)}


def test_sound_effect_through_the_api(client, studio):
    player, preview, files, gallery, status = client.predict(
        "glass shatters on a tiled floor", "music", "tiny-audioldm2", "fixed", 8, 1.5, 3, 3.5, -16,
        api_name="/generate_sound_effect")
    assert studio.publisher.verify(player).state in ("Valid", "Trusted")
    assert len(files) == 2 and "file(s) made" in status
    assert gallery["data"][0][1] == "glass shatters on a tiled floor"


def test_bad_sound_effect_input_is_a_clear_api_error(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"Duration 8 s is out of range: use 0.5 to 5.5 seconds with this model"):
        client.predict("rain on a tin roof", "", "tiny-stable-audio", "fixed", 1, 8, 3, 7, -16,
                       api_name="/generate_sound_effect")
    with pytest.raises(AppError, match="The prompt is empty: describe the sound"):
        client.predict("  ", "", "tiny-stable-audio", "fixed", 1, 2, 3, 7, -16, api_name="/generate_sound_effect")


@pytest.mark.parametrize("kwargs, message", [
    (dict(duration=0), "Duration 0 s is out of range: use 0.5 to 30 seconds with this model."),
    (dict(duration=-2), "Duration -2 s is out of range"),
    (dict(duration=45), "Duration 45 s is out of range"),
    (dict(prompt="", model="tiny-musicgen"), "The prompt is empty: describe the music"),
    (dict(model="tiny-musicgen", melody="melody"), "does not take a melody"),
    (dict(melody="text"), "could not be read as audio"),
    (dict(melody="silent"), "is silent"),
])
def test_bad_music_input_is_a_clear_api_error(client, audio_files, kwargs, message):
    from gradio_client.exceptions import AppError

    if "melody" in kwargs:
        kwargs["melody"] = audio_files[kwargs["melody"]]
    with pytest.raises(AppError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        compose(client, **kwargs)


def test_a_flagged_melody_needs_the_confirmation_box(client, studio, audio_files, monkeypatch):
    from gradio_client.exceptions import AppError

    monkeypatch.setattr(studio, "check_upload", lambda path: {"verdict": "likely AI-generated", "flagged": True})
    with pytest.raises(AppError, match="tick the confirmation box"):
        compose(client, audio_files["melody"], duration=1.0)
    player, _, files, _, _ = compose(client, audio_files["melody"], confirm=True, duration=1.0)
    assert studio.publisher.verify(player).state in ("Valid", "Trusted")


@pytest.mark.browser
def test_music_tab_in_the_browser(live_url, browser, artifacts_dir):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(live_url)
    page.get_by_role("tab", name="Music").click()
    page.locator("#music-prompt textarea").fill("cinematic strings, slow build, 70 bpm")
    page.locator("#music-duration input").fill("2.5")
    page.locator("#music-generate").click()
    page.locator("#music-status").get_by_text("file(s) made").wait_for(timeout=90000)
    page.wait_for_timeout(1000)
    body = page.locator("body").inner_text()
    assert "License:" in body and "2 file(s) made, signed and checked" in body
    assert "cinematic strings" in page.locator("#music-gallery").inner_text()
    page.screenshot(path=str(artifacts_dir / "music_tab.png"), full_page=True)
    page.close()
