"""A person's path through the toolbox tabs (More tools) in headless Chromium: a subtle variation of an
upload, a structure-control run after previewing its edge map, a scribble drawn on the page, and a 2x
upscale whose size is shown."""
import io

import pytest
from PIL import Image

from tests.studio.drawing import draw_stroke
from tests.studio.test_task_tab import assert_square_outline, square_picture

pytestmark = pytest.mark.browser


def open_tool(page, name: str) -> None:
    """The "More tools" tab (through Gradio's overflow menu when the tab bar has no room for it), then
    the tool's own tab inside it."""
    more = page.get_by_role("tab", name="More tools")
    if more.count() and more.first.is_visible():
        more.first.click()
    else:
        page.locator(".overflow-menu").first.click()
        page.locator(".overflow-dropdown button", has_text="More tools").first.click()
    page.get_by_role("tab", name=name, exact=True).first.click()


def upload(page, prefix: str, path) -> None:
    """A file into the tab's upload box, and the right-to-use box ticked (a drawing is not flagged, but
    the box is what a person would tick for a picture of their own)."""
    shown = page.locator(f"#{prefix}-field-image").get_by_text("square.png").first
    for attempt in range(2):   # a full run once saw the file box mount empty again under the first upload
        page.locator(f"#{prefix}-field-image input[type=file]").set_input_files(str(path))
        try:
            shown.wait_for(timeout=45_000)
            break
        except Exception:
            if attempt:
                raise
    page.locator(f"#{prefix}-confirm input[type=checkbox]").check()


def run_and_wait(page, prefix: str, artifacts_dir) -> None:
    page.locator(f"#{prefix}-generate").click()
    try:
        page.wait_for_function(f"document.querySelector('#{prefix}-status').innerText.includes('made')",
                               timeout=180_000)
    except Exception:
        page.screenshot(path=str(artifacts_dir / f"toolbox_{prefix}_failed.png"), full_page=True)
        raise
    assert "signed" in page.locator(f"#{prefix}-status").inner_text()
    page.locator(f"#{prefix}-gallery img").first.wait_for(timeout=30_000)


def test_variation_control_preview_and_upscale(browser, live_url, artifacts_dir, tmp_path):
    source = square_picture(tmp_path / "square.png")
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.goto(live_url)
    page.locator("#t2i-generate").wait_for(timeout=60_000)   # the page is built

    # Variations: upload, "subtle", run; the result appears in the tab's gallery
    open_tool(page, "Variations")
    upload(page, "variation", source)
    page.locator("#variation-field-amount input").click()
    page.get_by_role("option", name="subtle").click()
    run_and_wait(page, "variation", artifacts_dir)

    # Structure control: the upload draws the edge map before any run; then a run with a prompt
    open_tool(page, "Structure control")
    page.locator("#control-field-width input").fill("160")
    page.locator("#control-field-height input").fill("120")
    upload(page, "control", source)
    page.locator("#control-preview-run").click()
    page.locator("#control-preview-note").get_by_text("160×120: the control image the run will use").wait_for(
        timeout=60_000)
    shown = page.locator("#control-preview img").first
    shown.wait_for(timeout=30_000)
    png = page.request.get(shown.get_attribute("src")).body()
    with Image.open(io.BytesIO(png)) as edges:
        assert edges.size == (160, 120)
        assert_square_outline(edges)
    # the preview follows the form: another control type redraws it without the button
    page.locator("#control-field-control-type input").click()
    page.get_by_role("option", name="scribble").click()
    page.locator("#control-preview-note").get_by_text("The scribble, 160×120").wait_for(timeout=60_000)
    page.locator("#control-field-control-type input").click()
    page.get_by_role("option", name="canny").click()
    page.locator("#control-preview-note").get_by_text("Canny edges").wait_for(timeout=60_000)
    page.locator("#control-field-prompt textarea").fill("a stone tower")
    run_and_wait(page, "control", artifacts_dir)
    page.screenshot(path=str(artifacts_dir / "toolbox_control.png"), full_page=True)
    # a scribble drawn on the page's canvas becomes the control source and is previewed
    page.get_by_text("Draw a scribble").click()
    page.locator("#control-sketch button[aria-label='Brush']").first.click()
    draw_stroke(page, page.locator("#control-sketch canvas").first, (-60, -60), (60, 40), steps=12)
    page.locator("#control-sketch-use").click()
    page.locator("#control-preview-note").get_by_text("The scribble, 160×120").wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "toolbox_scribble.png"), full_page=True)

    # Upscale: 2x of the 160×120 upload; the status says the result's size
    open_tool(page, "Upscale")
    upload(page, "upscale", source)
    scale = page.locator("#upscale-field-scale input[type=number]")
    scale.fill("2")
    scale.press("Enter")
    run_and_wait(page, "upscale", artifacts_dir)
    assert "320×240" in page.locator("#upscale-status").inner_text()
    page.screenshot(path=str(artifacts_dir / "toolbox_upscale.png"), full_page=True)
    assert "Traceback" not in page.content()
    page.close()
