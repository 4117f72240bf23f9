"""The Storyboard tab as visitors use it: gradio_client against the live studio (two visitors, a
share link, bad input), and the tab in headless Chromium, opened directly by a share link too."""
from __future__ import annotations

import zipfile

import av
import pytest
from story_helpers import board_in_browser

SCRIPT = ("## PIER\n- [wide, 1s] a lighthouse in fog\nANNA: Who's there?\n"
          "- CU: a gull on a post (1s)\n> Nobody answered.")
FORM = dict(title="API board", style="storyboard-sketch", look="", model="tiny-sd15", seed_policy="same", seed=5,
            width=128, height=72, steps=2, fps=12, duration=3.0, motion="none", reference=None, confirm=False,
            strength=0.6)


@pytest.fixture(scope="module")
def visitors(live_url):
    from gradio_client import Client

    return Client(live_url, verbose=False), Client(live_url, verbose=False)


def create(client, script=SCRIPT, **changes):
    form = {**FORM, **changes}
    return client.predict(script, *form.values(), api_name="/create_board")


def verified(studio, path):
    assert studio.publisher.verify(path).state in ("Valid", "Trusted"), path


def test_a_board_from_script_to_animatic_through_the_api(visitors, studio):
    alice, _ = visitors
    boards, summary, panels, table, status = create(alice)
    board_id = boards["value"]
    assert "Created **API board** with 2 shots" in status and [r[3] for r in table["data"]] == [
        "a lighthouse in fog", "a gull on a post"]
    *_, status, _ = alice.predict(board_id, False, False, api_name="/generate_panels")   # plans; makes nothing
    assert "Queued 2 panel(s)" in status
    *_, status, _ = alice.predict(board_id, api_name="/generate_next_panel")             # one queued job each
    assert "Panel 1 of 2 done; 1 to go" in status
    *_, status, _ = alice.predict(board_id, api_name="/generate_next_panel")
    assert "Made 2 of 2 panel(s)" in status
    *_, status = alice.predict(board_id, "tiny-vits", "", api_name="/make_voiceover")
    assert "Made 2 of 2 voice-over take(s)" in status
    *_, status = alice.predict(board_id, "tiny-musicgen", "soft piano", -12, api_name="/make_music")
    assert "music bed" in status
    _, summary, panels, table, _ = alice.predict(board_id, api_name="/fit_shots_to_dialogue")
    seconds = sum(row[5] for row in table["data"])
    file, player, exports, status = alice.predict(board_id, api_name="/export_animatic")
    assert file.endswith(".mp4") and "Exported the animatic: signed, with 5 ingredient(s)" in status
    verified(studio, file)
    with av.open(file) as box:
        assert box.streams.audio and abs(box.streams.video[0].frames / 12 - seconds) <= 1 / 12
    file, _, exports, status = alice.predict(board_id, api_name="/export_zip")
    verified(studio, file)
    with zipfile.ZipFile(file) as z:
        assert len([n for n in z.namelist() if n.startswith("panels/")]) == 2
    file, _, exports, status = alice.predict(board_id, api_name="/export_pdf")
    verified(studio, file)
    assert [row[2] for row in exports["data"]][:3] == ["contact sheet", "panels zip", "animatic"]


def test_edits_through_the_api(visitors):
    alice, _ = visitors
    board_id = create(alice, "- one\n- two\n- three")[0]["value"]
    alice.predict(board_id, 3, 1, api_name="/move_shot")
    alice.predict(board_id, 1, "a new second shot", api_name="/insert_shot")
    alice.predict(board_id, 4, api_name="/delete_shot")
    *_, table, status = alice.predict(board_id, 2, "the new second shot", "close-up", 2.5, "zoom_in",
                                      "BEN: hello\nquiet now", 99, True, api_name="/save_shot")
    assert [row[3] for row in table["data"]] == ["three", "the new second shot", "one"]
    assert table["data"][1][2:9] == ["close-up", "the new second shot", "BEN: hello / Narrator: quiet now", 2.5,
                                     "zoom_in", 99, "yes"]


def test_visitors_are_kept_apart_and_a_share_link_is_read_only(visitors):
    from gradio_client.exceptions import AppError

    alice, bob = visitors
    board_id = create(alice, "- a red door", title="Alice's board")[0]["value"]
    for call in (lambda: bob.predict(board_id, False, False, api_name="/generate_panels"),
                 lambda: bob.predict(board_id, 1, "mine", "", 1, "none", "", 0, False, api_name="/save_shot"),
                 lambda: bob.predict(board_id, api_name="/export_pdf"),
                 lambda: bob.predict(board_id, api_name="/share_board")):
        with pytest.raises(AppError, match="not among your boards"):
            call()
    assert board_id not in str(bob.predict(None, api_name="/open_board")[0])
    link, note = alice.predict(board_id, api_name="/share_board")
    assert "?board=" in link and "not change it" in note
    summary, panels, table, files = bob.predict(link, api_name="/open_shared_board")
    assert "Alice's board" in summary and "read-only" in summary and table["data"][0][3] == "a red door"
    token = link.split("board=")[1]
    with pytest.raises(AppError, match="not among your boards"):
        bob.predict(token, 1, "mine", "", 1, "none", "", 0, False, api_name="/save_shot")
    alice.predict(board_id, api_name="/unshare_board")
    with pytest.raises(AppError, match="does not open a board"):
        bob.predict(link, api_name="/open_shared_board")


@pytest.mark.parametrize("script, changes, message", [
    ("", {}, "The script is empty"),
    ("\n".join(f"- shot {i}" for i in range(500)), {}, "The script has 500 shots; a board holds at most 200"),
    ("- a door", {"reference": "text"}, "The reference is not an image this studio can read"),
])
def test_bad_input_is_a_clear_api_error(visitors, tmp_path, script, changes, message):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    if changes.get("reference") == "text":
        fake = tmp_path / "anna.png"
        fake.write_text("not a picture at all\n" * 10)
        changes["reference"] = handle_file(str(fake))
    with pytest.raises(AppError, match=message):
        create(visitors[0], script, **changes)


@pytest.mark.browser
def test_the_tab_in_a_browser_and_a_share_link(browser, live_url, artifacts_dir, visitors):
    page = board_in_browser(browser, live_url, SCRIPT, 1500, 1100)
    page.wait_for_function("document.querySelector('#sb-status')?.innerText?.includes('Made 2 of 2')", timeout=120_000)
    assert page.locator("#sb-panels img").count() >= 2
    page.locator("#sb-panels img").nth(1).click()
    page.wait_for_function("document.querySelector('#sb-shot-prompt textarea')?.value === 'a gull on a post'",
                           timeout=10_000)
    page.screenshot(path=str(artifacts_dir / "storyboard.png"), full_page=True)
    alice = visitors[0]
    board_id = create(alice, "- a lighthouse at night", title="Shared by link")[0]["value"]
    link, _ = alice.predict(board_id, api_name="/share_board")
    other = browser.new_page(viewport={"width": 1500, "height": 1000})
    other.goto(live_url + "?board=" + link.split("board=")[1])
    other.wait_for_function("document.querySelector('#sb-shared-summary')?.innerText?.includes('Shared by link')",
                            timeout=30_000)
    assert "read-only" in other.locator("#sb-shared-summary").inner_text() and "Traceback" not in other.content()
    other.locator("#sb-shared-panels").scroll_into_view_if_needed()
    other.locator("#sb-shared-panels img").first.wait_for(timeout=10_000)   # the shot's "not made yet" tile
    other.screenshot(path=str(artifacts_dir / "storyboard_shared.png"), full_page=True)
    page.close()
    other.close()
