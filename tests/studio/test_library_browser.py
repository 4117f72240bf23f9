"""A person's path through the Library tab in headless Chromium: make an image, find it by its words,
filter, select it and download the ZIP of signed files."""
import zipfile

import pytest

pytestmark = pytest.mark.browser


def open_tab(page, name: str) -> None:
    """Click a tab, through Gradio's overflow menu when the tab bar has no room for it."""
    tab = page.get_by_role("tab", name=name)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator(".overflow-menu").first.click()
    page.locator(".overflow-dropdown button", has_text=name).first.click()


def test_search_filter_select_and_download(browser, live_url, studio, artifacts_dir, tmp_path):
    page = browser.new_page(viewport={"width": 2200, "height": 1100}, accept_downloads=True)
    page.goto(live_url)
    page.get_by_label("Prompt", exact=True).fill("a lantern-lit teahouse in the rain")
    page.locator("#t2i-generate").click()
    page.locator("#t2i-gallery img").first.wait_for(timeout=300_000)   # a live preview comes first:
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('made')", timeout=300_000)

    open_tab(page, "Library")
    page.locator("#library-query textarea, #library-query input").first.fill('teahouse "in the rain"')
    page.locator("#library-search").click()
    try:
        page.get_by_text("page 1 of").first.wait_for(timeout=60_000)
    except Exception:
        page.screenshot(path=str(artifacts_dir / "library_failed.png"), full_page=True)
        raise
    assert "1 item(s)" in page.locator("#library-summary").inner_text()
    page.locator("#library-gallery img").first.wait_for(timeout=30_000)

    # a filter that excludes it: nothing found, and the page says what to try
    page.get_by_text("Filters").click()
    page.locator("#library-kind input").click()
    page.get_by_role("option", name="audio").click()
    page.locator("#library-search").click()
    page.get_by_text("Nothing found").wait_for(timeout=30_000)
    page.locator("#library-kind input").click()
    page.get_by_role("option", name="image").click()
    page.locator("#library-search").click()
    page.locator("#library-pick input[type=checkbox]").first.wait_for(timeout=30_000)
    assert page.locator("#library-pick input[type=checkbox]").count() == 1

    # select it and download the ZIP: the signed file itself is inside
    page.locator("#library-pick input[type=checkbox]").first.check()
    page.locator("#library-download").click()
    link = page.locator("#library-zip a").first
    link.wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "library.png"), full_page=True)
    with page.expect_download() as info:
        link.click()
    path = tmp_path / "library.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert len(names) == 1 and names[0].endswith(".png")
        z.extractall(tmp_path)
    report = studio.publisher.verify(tmp_path / names[0])
    assert report.state in ("Valid", "Trusted"), report.summary_lines()
    assert "Traceback" not in page.content()
    page.close()
