"""The Library's "Add to board" through gradio_client against the live server: a visitor's own pictures
become new panels of one of their storyboards, or its reference; never another visitor's board or items."""
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.studio.test_concept_art_api import call

BOARD_FORM = dict(title="Harbour", style="storyboard-sketch", look="", model="tiny-sd15", seed_policy="same", seed=5,
                  width=128, height=72, steps=2, fps=12, duration=3.0, motion="none", reference=None, confirm=False,
                  strength=0.6)


def search(client, query=""):
    return client.predict(query, "", "", "", "", "", "", "", "", "newest", 0, 24, api_name="/library_search")


@pytest.fixture(scope="module")
def visitor(live_url):
    """A visitor with one two-shot board and two pictures made in the Text to image tab."""
    client = Client(live_url, verbose=False)
    out = client.predict("- a harbour at dawn\n- a boat leaves", *BOARD_FORM.values(), api_name="/create_board")
    call(client, prompt="a gull over the harbour wall", batch=2, seed=21)
    return client, out


def board_id_of(out) -> str:
    return out[0]["value"] if isinstance(out[0], dict) else out[0]


def open_board(client, board_id: str) -> list[list]:
    """The board's shot table, as the Storyboard tab shows it."""
    return client.predict(board_id, api_name="/open_board")[3]["data"]


def add(client, ids, board_id, mode="as new panels"):
    return client.predict(",".join(ids), board_id, mode, api_name="/library_add_to_board")


def test_pictures_become_new_panels_of_the_visitors_board(visitor):
    client, out = visitor
    board_id = board_id_of(out)
    ids = [i["id"] for i in search(client, "gull")["items"]]
    assert len(ids) == 2
    summary = add(client, ids, board_id)
    assert summary["board"] == board_id and summary["added"] == ids and summary["shots"] == 4
    rows = open_board(client, board_id)
    assert [r[3] for r in rows] == ["a harbour at dawn", "a boat leaves", *["a gull over the harbour wall"] * 2]
    assert rows[0][-1] == "not made yet" and all(r[-1] != "not made yet" for r in rows[2:])
    again = add(client, ids[:1], board_id)                           # the same picture may be a panel twice
    assert again["shots"] == 5 and len(open_board(client, board_id)) == 5


def test_a_picture_becomes_the_boards_reference(visitor):
    client, out = visitor
    board_id = board_id_of(out)
    picked = search(client, "gull")["items"][0]["id"]
    summary = add(client, [picked], board_id, "as the board's reference")
    assert summary == {"board": board_id, "reference": picked, "shots": summary["shots"]}


def test_only_the_visitors_own_boards_and_items(visitor, live_url):
    client, out = visitor
    ids = [i["id"] for i in search(client, "gull")["items"]]
    stranger = Client(live_url, verbose=False)
    with pytest.raises(AppError, match="not among your boards"):
        add(stranger, ids, board_id_of(out))                       # someone else's board
    theirs = stranger.predict("- a pier", *BOARD_FORM.values(), api_name="/create_board")
    with pytest.raises(AppError, match="Tick one or more of your pictures"):
        add(stranger, ids, board_id_of(theirs))                    # someone else's pictures
    assert len(open_board(stranger, board_id_of(theirs))) == 1


def test_bad_requests_are_messages(visitor):
    client, out = visitor
    ids = [i["id"] for i in search(client, "gull")["items"]]
    with pytest.raises(AppError, match="Choose one of your storyboards"):
        add(client, ids, "")
    with pytest.raises(AppError, match="Choose 'as new panels'"):
        add(client, ids, board_id_of(out), "as wallpaper")
