"""A restart keeps a visitor's work: the browser comes back to a new server process on the same data
folder and finds its gallery and its boards (sessions are held in the database, and the browser's
token is readable after the restart)."""
import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.browser


def serve(data_dir, port: int):
    """A studio and its server as `studio serve` starts them: fresh objects over the data folder."""
    from studio.service import Studio
    from studio.settings import load_settings
    from studio.ui import build_ui, launch_options

    studio = Studio(load_settings(env={}, data_dir=data_dir, dtype="fp32", jobs_per_ip_minute=0,
                                  sessions_per_ip_minute=0))
    demo = build_ui(studio)
    try:
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **launch_options(studio))
    except ValueError as e:  # Gradio's own probe of the started server gives up after 3 s; a busy machine is slower
        if "localhost is not accessible" not in str(e):
            raise
        httpx.head(f"http://127.0.0.1:{port}/", timeout=60).raise_for_status()
    return studio, demo


def stop(studio, demo) -> None:
    demo.close()
    studio.close()


def board_titles(page) -> list[str]:
    """The titles in the Storyboard tab's "Your boards" list, as a visitor opens it."""
    page.get_by_role("tab", name="Storyboard").click()
    page.locator("#sb-boards input").click()
    page.get_by_role("option").first.wait_for(timeout=30_000)
    titles = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [t.strip() for t in titles]


def test_a_restart_keeps_the_visitors_gallery_and_boards(browser, data_dir, artifacts_dir):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    running = serve(data_dir, port)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_label("Prompt", exact=True).fill("a lighthouse before the restart")
        page.locator("#t2i-generate").click()
        page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('made')", timeout=180_000)
        page.get_by_role("tab", name="Storyboard").click()
        page.locator("#sb-script textarea").fill("INT. HARBOUR BEFORE THE RESTART - DAWN\nA boat leaves.")
        page.locator("#sb-create").click()
        page.wait_for_function("document.querySelector('#sb-status')?.innerText?.includes('Created')",
                               timeout=60_000)

        stop(*running)
        running = serve(data_dir, port)                 # a new process's objects, the same data folder
        page.reload()
        page.get_by_role("tab", name="Concept art").click()
        page.locator("#t2i-gallery img").first.wait_for(timeout=60_000)
        assert page.locator("#t2i-gallery img").count() == 1
        assert any("HARBOUR BEFORE THE RESTART" in t.upper() for t in board_titles(page))
        page.screenshot(path=str(artifacts_dir / "session_after_restart.png"), full_page=True)

        stranger = browser.new_page()                    # another browser: none of it
        stranger.goto(url)
        stranger.wait_for_function("localStorage.getItem('genmedia-studio-session')", timeout=60_000)  # loaded
        assert stranger.locator("#t2i-gallery img").count() == 0
        stranger.close()
        page.close()
    finally:
        stop(*running)
