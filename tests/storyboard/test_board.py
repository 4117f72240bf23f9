"""The board model and its store: edits, seed policy, voices, persistence, isolation, share tokens."""
from __future__ import annotations

import pytest

from pipelines.errors import InputError
from studio.storyboard import board as bd
from studio.storyboard.board import Board, Line
from studio.storyboard.script import parse_script
from studio.storyboard.store import BoardStore


def make_board(session="s1", n=4) -> Board:
    parsed = parse_script("\n".join(f"- shot {i} [medium]\nANNA: line {i}" for i in range(1, n + 1)), 50)
    return Board(id=bd.new_id(), session_id=session, title="t", shots=bd.shots_from_script(parsed, 3.0, "none"),
                 seed=100)


def test_reorder_insert_delete_and_edit():
    board = make_board()
    ids = [s.id for s in board.shots]
    bd.move_shot(board, 1, 3)
    assert [s.id for s in board.shots] == [ids[1], ids[2], ids[0], ids[3]]
    new = bd.insert_shot(board, 2, "a gull on a post", max_shots=50)
    assert board.shots[2] is new and len(board.shots) == 5
    bd.insert_shot(board, 0, "title card", max_shots=50)
    assert board.shots[0].prompt == "title card"
    bd.delete_shot(board, 1)
    assert board.shots[0].prompt == "shot 2"
    shot = bd.edit_shot(board, 1, prompt="shot two, at night", duration_s=2.5, motion="zoom_in",
                        dialogue=[("ANNA", "line 2"), ("BEN", "new line")])
    assert (shot.prompt, shot.duration_s, shot.motion) == ("shot two, at night", 2.5, "zoom_in")
    assert [(ln.speaker, ln.text) for ln in shot.dialogue] == [("ANNA", "line 2"), ("BEN", "new line")]


def test_editing_keeps_unchanged_takes_and_marks_panels_stale():
    board = make_board()
    shot = board.shots[0]
    shot.dialogue[0].audio_path, shot.panel_path, shot.status = "/take.wav", "/panel.png", "done"
    bd.edit_shot(board, 1, dialogue=[("ANNA", "line 1"), ("BEN", "added")], duration_s=4)
    assert shot.dialogue[0].audio_path == "/take.wav" and shot.status == "done"
    bd.edit_shot(board, 1, prompt="something else")
    assert shot.status == "stale"


@pytest.mark.parametrize("call, message", [
    (lambda b: bd.move_shot(b, 9, 1), "There is no shot 9: this board has 4 shot"),
    (lambda b: bd.move_shot(b, 1, 7), "Position 7 is outside the board"),
    (lambda b: bd.edit_shot(b, 1, prompt="  "), "Shot 1 has no description"),
    (lambda b: bd.edit_shot(b, 1, duration_s=0), "a shot lasts 0.5 to 60 s"),
    (lambda b: bd.edit_shot(b, 1, motion="spin"), "The camera move 'spin' is not one of"),
    (lambda b: bd.edit_shot(b, 1, seed=-1), "Seed -1 is out of range"),
    (lambda b: bd.edit_shot(b, "two", prompt="x"), "The shot number must be a whole number"),
    (lambda b: bd.insert_shot(b, 1, "x", max_shots=4), "already has 4 shots"),
])
def test_bad_edits_say_what_to_do(call, message):
    board = make_board()
    before = [s.id for s in board.shots]
    with pytest.raises(InputError, match=message):
        call(board)
    assert [s.id for s in board.shots] == before


def test_a_board_keeps_at_least_one_shot():
    board = make_board(n=1)
    with pytest.raises(InputError, match="at least one shot"):
        bd.delete_shot(board, 1)


def test_seed_policy_and_locked_seeds():
    board = make_board()
    board.shots[2].seed, board.shots[2].seed_locked = 42, True
    assert [board.seed_for(i, fresh=9) for i in range(4)] == [100, 100, 42, 100]
    board.seed_policy = "sequential"
    assert [board.seed_for(i, fresh=9) for i in range(4)] == [101, 102, 42, 104]
    board.seed_policy = "random"
    assert [board.seed_for(i, fresh=9) for i in range(4)] == [9, 9, 42, 9]


def test_one_voice_per_speaker_and_the_voices_box():
    board = make_board(n=2)
    board.shots[1].dialogue.append(Line("BEN", "hi"))
    board.shots[1].dialogue.append(Line("NARRATOR", "later"))
    assert bd.assign_voices(board, ["v1", "v2", "v3"]) == {"ANNA": "v1", "BEN": "v2", "NARRATOR": "v3"}
    board.voices = {"BEN": "v1"}
    assert bd.assign_voices(board, ["v1", "v2"]) == {"BEN": "v1", "ANNA": "v2", "NARRATOR": "v1"}
    assert bd.parse_voices("anna = v2\n\nBen=v1") == {"ANNA": "v2", "BEN": "v1"}
    with pytest.raises(InputError, match="should read SPEAKER = voice"):
        bd.parse_voices("ANNA v2")


def test_fit_to_dialogue_lengthens_short_shots_only():
    board = make_board(n=2)
    board.shots[0].duration_s = 1.0
    board.shots[0].dialogue[0].audio_path, board.shots[0].dialogue[0].duration_s = "/a.wav", 2.0
    board.shots[1].dialogue[0].audio_path, board.shots[1].dialogue[0].duration_s = "/b.wav", 1.0
    assert bd.fit_to_dialogue(board) == [1]
    assert board.shots[0].duration_s == pytest.approx(0.3 + 2.0 + 0.5) and board.shots[1].duration_s == 3.0


def test_store_round_trip_isolation_and_share_tokens(tmp_path):
    store = BoardStore(tmp_path / "studio.sqlite3")
    mine, theirs = make_board("alice"), make_board("bob")
    mine.voices, mine.look = {"ANNA": "v1"}, "yellow coat"
    store.save(mine)
    store.save(theirs)
    again = BoardStore(tmp_path / "studio.sqlite3").get("alice", mine.id)   # a new store: as after a restart
    assert [s.to_dict() for s in again.shots] == [s.to_dict() for s in mine.shots]
    assert (again.voices, again.look, again.seed) == ({"ANNA": "v1"}, "yellow coat", 100)
    assert store.get("bob", mine.id) is None and store.get("alice", theirs.id) is None
    assert [row[0] for row in store.list("alice")] == [mine.id]
    mine.session_id = "bob"            # a write naming another owner changes nothing
    mine.title, mine.shots[0].prompt = "stolen", "stolen"
    with pytest.raises(InputError, match="not among your boards"):
        store.save(mine)
    assert not store.save_shot(mine, mine.shots[0])
    assert store.get("alice", mine.id).shots[0].prompt == "shot 1"
    assert store.get("alice", mine.id).title == "t" and store.get("bob", mine.id) is None
    mine.session_id, mine.share_token = "alice", bd.new_share_token()
    store.save_settings(mine)
    assert store.get_shared(mine.share_token).id == mine.id
    assert store.get_shared("") is None and store.get_shared(mine.share_token[:-1]) is None
    bd.move_shot(mine, 4, 1)
    store.save(mine)
    assert [s.id for s in store.get("alice", mine.id).shots] == [s.id for s in mine.shots]
    assert store.delete("alice", mine.id) and store.get("alice", mine.id) is None
