"""Constants and helpers shared by the storyboard tests (a module of its own: test modules cannot
import one `conftest` reliably when several test folders have one)."""
from __future__ import annotations

SESSION = "storyboard-owner-session-0001"
SCRIPT = """## EXT. PIER - DAWN
- [wide, 1s] a lighthouse on a pier in fog
> The fog came early that year.
- CU: a woman in a yellow raincoat looks up (1.2s)
ANNA: Who's there?
- [medium, pan right, 1.3s] an old fisherman mends a net
**Ben:** Only me.
"""
SMALL = dict(width=128, height=72, steps=2, fps=12, seed_policy="sequential", seed=7)


def finish(events):
    """Run a service generator to its end; returns (the Finished event, every Step)."""
    from studio.storyboard.service import Finished

    steps, done = [], None
    for event in events:
        if isinstance(event, Finished):
            done = event
        else:
            steps.append(event)
    assert done is not None
    return done, steps


def board_in_browser(browser, live_url: str, script: str, width: int = 1400, height: int = 1000):
    """A page of the live studio where a visitor pasted `script`, created the board and pressed
    "Generate all panels"; the caller waits for what it checks."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(live_url)
    page.get_by_role("tab", name="Storyboard").click()
    page.locator("#sb-script textarea").fill(script)
    page.locator("#sb-create").click()
    page.wait_for_function("document.querySelector('#sb-status')?.innerText?.includes('Created')", timeout=60_000)
    page.locator("#sb-generate").click()
    return page
