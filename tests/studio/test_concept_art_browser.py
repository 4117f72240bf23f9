"""A person's path through the concept-art tab in headless Chromium."""
import pytest

pytestmark = pytest.mark.browser


def test_type_prompt_generate_see_image_reuse_settings(browser, live_url, artifacts_dir):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(live_url)
    page.get_by_label("Prompt", exact=True).fill("a lighthouse on a cliff at dusk")
    page.locator("#t2i-generate").click()
    page.locator("#t2i-gallery img").first.wait_for(timeout=120_000)
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('made')", timeout=60_000)
    assert "signed" in page.locator("#t2i-status").inner_text()
    page.screenshot(path=str(artifacts_dir / "concept_art.png"), full_page=True)

    # select the image: its exact parameters appear; "reuse" puts its seed back into the form
    page.locator("#t2i-gallery img").first.click()
    page.get_by_text('"seed"').first.wait_for(timeout=10_000)
    page.get_by_role("button", name="Reuse these settings").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('input[type=radio]')].some(r => r.checked && r.value === 'fixed')",
        timeout=10_000)
    page.screenshot(path=str(artifacts_dir / "concept_art_selected.png"), full_page=True)

    # a bad size shows a readable message in the page, not a traceback
    page.get_by_label("Width (px)").fill("250")
    page.locator("#t2i-generate").click()
    page.get_by_text("not a multiple of 8").first.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()
    # the status line says the job stopped instead of keeping its last progress text
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('stopped before it finished')",
                           timeout=10_000)
    assert page.locator("#t2i-gallery img").count() >= 1   # what was made before is still there
    page.close()
