"""A person's path through the Voice tab in headless Chromium."""
import pytest

pytestmark = pytest.mark.browser


def test_pick_voice_speak_hear_and_select_a_take(browser, live_url, artifacts_dir):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(live_url)
    page.get_by_role("tab", name="Voice").click()
    # the voices are read from the model once the tab opens
    page.locator("#voice-speaker input").click()
    page.get_by_role("option", name="tiny-ben").click()
    page.locator("#voice-text textarea").fill("Hello there, keeper. The lamp is lit tonight.")
    page.wait_for_function("document.querySelector('#voice-count').innerText.includes('45 /')", timeout=10_000)
    page.locator("#voice-speak").click()
    page.wait_for_function("document.querySelector('#voice-status').innerText.includes('made')", timeout=120_000)
    assert "signed" in page.locator("#voice-status").inner_text()
    page.locator("#voice-player audio, #voice-player [data-testid='waveform-Result (signed WAV)']").first.wait_for(
        state="attached", timeout=20_000)
    assert page.locator("#voice-files a").count() >= 2  # WAV and MP3 downloads
    page.screenshot(path=str(artifacts_dir / "voice.png"), full_page=True)

    # a second take with another voice; selecting the first one in the table shows its exact parameters
    page.locator("#voice-speaker input").click()
    page.get_by_role("option", name="tiny-cleo").click()
    page.locator("#voice-speak").click()
    page.get_by_text('"tiny-cleo"').first.wait_for(timeout=120_000)
    page.locator("#voice-gallery [role=gridcell]", has_text="tiny-ben").first.click()  # the older take
    page.get_by_text('"tiny-ben"').first.wait_for(timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "voice_selected.png"), full_page=True)

    # a bad input is a readable message in the page, not a traceback
    page.locator("#voice-text textarea").fill("   ")
    page.locator("#voice-speak").click()
    page.get_by_text("The text is empty").first.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()
    page.screenshot(path=str(artifacts_dir / "voice_error.png"), full_page=True)
    page.close()
