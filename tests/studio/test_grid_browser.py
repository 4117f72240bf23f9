"""A person's path through the Parameter grid tab in headless Chromium: two axes, the cell count,
Make the grid, and the grid image with its cells."""
import pytest

pytestmark = pytest.mark.browser


def pick_axis(page, axis: str, name: str, values: str) -> None:
    page.locator(f"#grid-{axis}-axis input").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.locator(f"#grid-{axis}-values textarea, #grid-{axis}-values input").first.fill(values)


def test_two_axes_make_a_grid_shown_with_its_cells(browser, live_url, artifacts_dir):
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.goto(live_url)
    # the page takes a while to lay its tabs out on a loaded machine; at this width every tab fits
    page.get_by_role("tab", name="More tools").first.click(timeout=120_000)
    page.get_by_role("tab", name="Parameter grid").first.click(timeout=30_000)   # the first tab in More tools
    page.locator("#grid-prompt textarea").fill("a red kite over the sea")
    page.get_by_label("Width (px)").last.fill("64")
    page.get_by_label("Height (px)").last.fill("64")
    pick_axis(page, "x", "seed", "1,2")
    pick_axis(page, "y", "guidance", "4,7")
    page.wait_for_function("document.querySelector('#grid-count').innerText.includes('4 images')", timeout=10_000)
    page.locator("#grid-generate").click()
    try:
        page.locator("#grid-image img").first.wait_for(timeout=300_000)
        page.wait_for_function("document.querySelector('#grid-status').innerText.includes('a grid of 4 cells')",
                               timeout=60_000)
    except Exception:
        page.screenshot(path=str(artifacts_dir / "grid_failed.png"), full_page=True)
        raise
    assert page.locator("#grid-cells img").count() == 4
    page.screenshot(path=str(artifacts_dir / "grid.png"), full_page=True)
    page.close()
