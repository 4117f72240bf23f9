"""Deleting a board (its owner only; its share link dies), and panel runs made one queued panel at
a time: in-process through the service, then through the live server, where another visitor's job
finishes while a board's panels are still being made."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from story_helpers import SMALL, board_in_browser, finish

from pipelines.errors import InputError
from studio.storyboard.service import DELETED, Finished

OWNER = "storyboard-delete-session-0006"
OTHER = "storyboard-delete-visitor-0007"
FOUR = "\n".join(f"- shot number {i} of the pier" for i in range(1, 5))


def test_only_the_owner_deletes_a_board_and_its_share_link_dies(boards, studio, tmp_path):
    ref = tmp_path / "anna.png"
    from PIL import Image

    Image.new("RGB", (96, 96), "orange").save(ref)
    doomed = boards.create(OWNER, "- a red door", title="Doomed", reference=str(ref), **SMALL)
    kept = boards.create(OWNER, "- a blue window", title="Kept", **SMALL)
    finish(boards.generate_panels(OWNER, doomed.id))
    token = boards.share(OWNER, doomed.id)
    panel = boards.get(OWNER, doomed.id).shots[0]
    with pytest.raises(InputError, match="not among your boards"):
        boards.delete(OTHER, doomed.id)
    assert boards.shared(token).id == doomed.id

    boards.delete(OWNER, doomed.id)
    with pytest.raises(InputError, match="not among your boards"):
        boards.get(OWNER, doomed.id)
    with pytest.raises(InputError, match=DELETED.replace(".", r"\.")):
        boards.shared(f"http://127.0.0.1:7860/?board={token}")
    assert not Path(doomed.reference_path).exists()                       # the board's own folder is gone
    assert Path(panel.panel_path).is_file() and studio.gallery.get(OWNER, panel.panel_id)   # left to retention
    assert [b for _, b in boards.list(OWNER)].count(kept.id) == 1 and doomed.id not in dict(boards.list(OWNER)).values()
    assert boards.get(OWNER, kept.id).shots[0].prompt == "a blue window"


def test_a_run_makes_one_panel_per_call_and_cancel_stops_it(boards, studio):
    board = boards.create(OWNER, FOUR, **SMALL)
    run = boards.plan_panels(OWNER, board.id)
    assert run.total == 4 and boards.get(OWNER, board.id).shots[0].status == "empty"   # planning makes nothing
    jobs_before = len([r for r in studio.jobs.history(OWNER) if r.task == "text_to_image"])
    done, _ = finish(boards.next_panel(OWNER, board.id, run.id))
    assert done.remaining == 3 and "Panel 1 of 4 done; 3 to go" in done.message
    assert [s.status for s in done.board.shots] == ["done", "empty", "empty", "empty"]
    assert len([r for r in studio.jobs.history(OWNER) if r.task == "text_to_image"]) == jobs_before + 1
    assert boards.cancel(OWNER) >= 1
    done, _ = finish(boards.next_panel(OWNER, board.id, run.id))
    assert done.message.startswith("Cancelled after 1 of 4 panel(s)") and done.remaining == 0
    assert boards.current_run(OWNER, board.id) is None
    done, _ = finish(boards.next_panel(OWNER, board.id))
    assert "No panels of this board are waiting" in done.message
    done, _ = finish(boards.generate_panels(OWNER, board.id, only_missing=True))
    assert done.message == "Made 3 of 3 panel(s)." and isinstance(done, Finished)


# ---- through the live server ------------------------------------------------------------------

FORM = dict(title="Fair board", style="storyboard-sketch", look="", model="tiny-sd15", seed_policy="sequential",
            seed=5, width=128, height=72, steps=2, fps=12, duration=1.0, motion="none", reference=None, confirm=False)
CONCEPT = ("a lighthouse", "", "none", "tiny-sd15", "fixed", 5, 2, 5.0, 128, 128, 1, "default")


@pytest.fixture(scope="module")
def visitors(live_url):
    from gradio_client import Client

    return Client(live_url, verbose=False), Client(live_url, verbose=False)


def test_delete_board_through_the_api(visitors):
    from gradio_client.exceptions import AppError

    alice, bob = visitors
    board_id = alice.predict(FOUR, *FORM.values(), api_name="/create_board")[0]["value"]
    other = alice.predict("- another board", *{**FORM, "title": "Other"}.values(), api_name="/create_board")[0]["value"]
    link, _ = alice.predict(board_id, api_name="/share_board")
    with pytest.raises(AppError, match="not among your boards"):
        bob.predict(board_id, True, api_name="/delete_board")
    with pytest.raises(AppError, match="Tick “Yes, delete this board” first"):
        alice.predict(board_id, False, api_name="/delete_board")
    *_, status, sure = alice.predict(board_id, True, api_name="/delete_board")
    assert "Deleted **Fair board**" in status and sure is False
    with pytest.raises(AppError, match="This board was deleted or never existed"):
        bob.predict(link, api_name="/open_shared_board")
    with pytest.raises(AppError, match="not among your boards"):
        alice.predict(board_id, False, False, api_name="/generate_panels")
    assert alice.predict(other, api_name="/open_board")[0]["value"] == other          # the other board is untouched


def test_generate_all_lets_another_visitors_job_through(visitors):
    """Alice's four panels are four queued events; Bob's image, asked for after her first, is not
    held up until her whole board is done."""
    alice, bob = visitors
    board_id = alice.predict(FOUR, *FORM.values(), api_name="/create_board")[0]["value"]
    *_, status, chain = alice.predict(board_id, False, False, api_name="/generate_panels")
    assert "Queued 4 panel(s)" in status and chain.startswith(board_id)
    finished: dict[str, float] = {}
    first = alice.submit(chain, api_name="/generate_next_panel")
    time.sleep(0.05)
    theirs = bob.submit(*CONCEPT, api_name="/generate_image")
    waiter = threading.Thread(target=lambda: (theirs.result(), finished.setdefault("bob", time.monotonic())))
    waiter.start()
    outputs, calls = first.result(), 1
    while "**Made " not in str(outputs[-2]):
        outputs = alice.predict(board_id, api_name="/generate_next_panel")   # each call its own queued job
        calls += 1
    finished["alice"] = time.monotonic()
    waiter.join(timeout=120)
    assert "Made 4 of 4 panel(s)" in outputs[-2] and calls == 4
    assert finished["bob"] < finished["alice"]
    assert [row[-1] for row in outputs[3]["data"]] == ["done"] * 4


@pytest.mark.browser
def test_generate_all_in_the_browser_chains_one_event_per_panel(browser, live_url, visitors):
    """The tab's chain: Generate all plans, each panel is its own device event re-triggering the
    next; Bob's concept-art job, sent while the board runs, finishes before the board does."""
    _, bob = visitors
    page = board_in_browser(browser, live_url, FOUR)
    page.wait_for_function("/Queued 4|of 4/.test(document.querySelector('#sb-status')?.innerText || '')", timeout=30_000)
    bob.predict(*CONCEPT, api_name="/generate_image")
    assert "Made 4 of 4" not in page.locator("#sb-status").inner_text()       # Bob got in before the board ended
    page.wait_for_function("document.querySelector('#sb-status')?.innerText?.includes('Made 4 of 4')",
                           timeout=120_000)
    page.close()
