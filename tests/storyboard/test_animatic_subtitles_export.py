"""The animatic export's subtitles as the Storyboard tab hands them out: the three-shot board exported
through the storyboard service (as the tab's Animatic button runs it), with the subtitles as a soft
track, then burnt in; the SRT and WebVTT files beside the MP4, read with `srt` and `webvtt-py`, and
their sidecar credentials verified as a visitor who downloads both would."""
from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import srt
import webvtt
from story_helpers import SESSION, finish

from studio.sessions import Session
from studio.storyboard.handlers import BoardTab

FPS = 12


def mov_text_cues(path) -> list[tuple[float, float, str]]:
    """The MP4's soft subtitle track, read packet by packet (start, end, text); [] when it has none."""
    with av.open(str(path)) as box:
        if not box.streams.subtitles:
            return []
        [stream] = box.streams.subtitles
        assert stream.codec_context.name == "mov_text"
        out = []
        for packet in box.demux(stream):
            data = bytes(packet) if packet.size else b""
            text = data[2:2 + int.from_bytes(data[:2], "big")].decode("utf-8") if data else ""
            if text:  # mov_text fills the gaps between cues with empty samples
                start = float(packet.pts * stream.time_base)
                out.append((start, start + float(packet.duration * stream.time_base), text))
        return out


def frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(box.streams.video[0])]


@pytest.fixture(scope="module")
def soft(made_board, boards):
    done, _ = finish(boards.export(SESSION, made_board.id, "animatic"))
    return done


@pytest.fixture(scope="module")
def burnt(made_board, boards, soft):
    done, _ = finish(boards.export(SESSION, made_board.id, "animatic", burn_subtitles=True))
    return done


def test_the_soft_track_and_the_srt_and_vtt_files_carry_the_same_cues(soft, made_board, studio):
    video, *files = soft.items
    assert video.mime == "video/mp4" and sorted(Path(f.path).suffix for f in files) == [".srt", ".vtt"]
    assert "Its subtitles: SRT and WebVTT files, and a soft track in the MP4." in soft.message
    by_suffix = {Path(f.path).suffix: f for f in files}
    track = mov_text_cues(video.path)
    cues = list(srt.parse(Path(by_suffix[".srt"].path).read_text(encoding="utf-8")))
    captions = webvtt.read(by_suffix[".vtt"].path).captions
    said = [ln.text for s in made_board.shots for ln in s.dialogue]
    assert " ".join(c.content.replace("\n", " ") for c in cues) == " ".join(said)
    assert [c.content for c in cues] == [c.text for c in captions] == [t[2] for t in track]
    # The track holds one cue at a time: where takes overlap (the narration runs past its shot here),
    # a cue's sample ends as the next begins; the files keep both whole.
    starts = [c.start.total_seconds() for c in cues]
    for cue, caption, (start, end, _), next_start in zip(cues, captions, track, starts[1:] + [float("inf")]):
        assert abs(cue.start.total_seconds() - start) <= 0.002
        assert abs(min(cue.end.total_seconds(), next_start) - end) <= 0.002
        assert abs(caption.start_in_seconds + int(caption.start.split(".")[1]) / 1000 - start) <= 0.002
    for item in files:
        assert item.params["export"] == "animatic subtitles" and item.params["animatic_id"] == video.id
        report = studio.publisher.verify(item.path)
        assert report.state in ("Valid", "Trusted") and report.manifest_source == "sidecar"
        titles = sorted(i["title"] for i in report.to_dict()["ingredients"])
        assert titles == sorted(f"shot {n} voice-over: {sp}" for n, sp in ((1, "Narrator"), (2, "ANNA"), (3, "BEN")))


def test_burnt_in_subtitles_are_drawn_into_the_picture_and_the_files_still_come(soft, burnt, studio):
    video, *files = burnt.items
    assert mov_text_cues(video.path) == [] and len(files) == 2
    assert video.params["subtitles"] == "burnt in" and soft.items[0].params["subtitles"] == "soft track"
    assert "burnt into the picture" in burnt.message
    track = mov_text_cues(soft.items[0].path)
    plain, drawn = frames(soft.items[0].path), frames(video.path)
    assert len(plain) == len(drawn)
    start, end, _ = track[0]
    during = int((start + end) / 2 * FPS)
    lower = slice(drawn[0].shape[0] * 2 // 3, None)   # the lower third, where the words are drawn
    changed = np.abs(drawn[during][lower].astype(int) - plain[during][lower]).mean()
    assert changed > 5 and (drawn[during][lower] > 230).any()
    spoken = [(int(s * FPS) - 1, int(e * FPS) + 1) for s, e, _ in track]
    quiet = next(i for i in range(len(plain)) if all(not a <= i <= b for a, b in spoken))
    # Outside every cue the burnt picture is the plain one (up to the encoder's noise).
    assert np.abs(drawn[quiet].astype(int) - plain[quiet]).mean() < 2
    srt_text = Path(next(f for f in files if f.path.endswith(".srt")).path).read_text(encoding="utf-8")
    assert [c.content for c in srt.parse(srt_text)] == [t[2] for t in track]


def test_the_tab_hands_out_the_newest_animatics_files_with_their_sidecars(burnt, boards, studio, made_board,
                                                                         tmp_path):
    tab = BoardTab(studio, boards, {})
    paths = tab.on_animatic_subtitles(Session(SESSION), made_board.id)
    assert [Path(p).suffix for p in paths] == [".srt", ".c2pa", ".vtt", ".c2pa"]
    assert {p for p in paths if not p.endswith(".c2pa")} == {f.path for f in burnt.items[1:]}
    for name, sidecar in zip(paths[::2], paths[1::2]):   # a download of both, side by side, verifies
        copy = Path(shutil.copyfile(name, tmp_path / f"animatic{Path(name).suffix}"))
        shutil.copyfile(sidecar, copy.with_name(copy.name + ".c2pa"))
        assert studio.publisher.verify(copy).state in ("Valid", "Trusted")
    assert tab.on_animatic_subtitles(Session(SESSION), "no-such-board") == []


def test_the_api_takes_the_burn_in_and_hands_a_boards_subtitles_to_its_owner_only(live_url, soft, made_board):
    from gradio_client import Client

    client = Client(live_url, verbose=False)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    burn = next(p for p in endpoints["/export_animatic"]["parameters"] if p["parameter_name"] == "burn_subtitles")
    assert burn["parameter_has_default"] and burn["parameter_default"] is False
    # Another visitor who knows the board's id gets none of its files.
    assert client.predict(made_board.id, api_name="/animatic_subtitles") in ([], None)
