"""The animatic's subtitles: the takes' words as a soft mov_text track in the signed MP4 (probed with
PyAV, timed against where each take sounds), or burnt into the frames."""
from __future__ import annotations

import av
import numpy as np
from PIL import Image

from pipelines import animatic
from pipelines.subtitles import Rules

FPS = 12
LINES = ("Who is there at this hour?", "Only me, with the lamp oil.")


def _panel(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(60, 200, (90, 160, 3), dtype=np.uint8))


def _take(seconds: float, rate: int = 22050) -> np.ndarray:
    """A voiced take with 0.2 s of silence at each end (a model's lead-in and tail)."""
    t = np.arange(int(seconds * rate)) / rate
    voice = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    pad = np.zeros(int(0.2 * rate), np.float32)
    return np.concatenate([pad, voice, pad])[None]


def _build(**kw):
    voices = [animatic.Track(_take(1.5), 22050, 0.3, LINES[0]), animatic.Track(_take(2.0), 22050, 2.4, LINES[1])]
    clips = [animatic.Clip(_panel(0), 2.2), animatic.Clip(_panel(1), 2.6)]
    return animatic.build(clips, fps=FPS, size=(160, 90), voices=voices, params={"task": "storyboard"}, **kw)


def _subtitle_packets(path) -> list[tuple[float, float, str]]:
    with av.open(str(path)) as box:
        [stream] = box.streams.subtitles
        assert stream.codec_context.name == "mov_text" and stream.language == "eng"
        out = []
        for packet in box.demux(stream):
            if packet.size:
                data = bytes(packet)
                text = data[2:2 + int.from_bytes(data[:2], "big")].decode("utf-8")
                start = float(packet.pts * stream.time_base)
                if text:  # mov_text fills the gaps between cues with empty samples
                        out.append((start, start + float(packet.duration * stream.time_base), text))
        return out


def test_the_signed_animatic_carries_the_takes_as_a_soft_subtitle_track(make_publisher):
    pub = make_publisher()
    artifact = _build(subtitle_language="eng")
    [out] = pub.publish(artifact, task="storyboard_export", session_id="s")
    assert pub.verify(out.path).state == "Trusted"
    cues = _subtitle_packets(out.path)
    assert [c[2] for c in cues] == list(LINES)
    # Each take sounds from 0.2 s after it starts to 0.2 s before it ends.
    for (start, end, _), (t0, seconds) in zip(cues, [(0.3, 1.5), (2.4, 2.0)]):
        assert abs(start - (t0 + 0.2)) <= 0.05 and abs(end - (t0 + 0.2 + seconds)) <= 0.05
    with av.open(str(out.path)) as box:
        assert box.streams.video and box.streams.audio
        assert abs(box.streams.video[0].frames / FPS - 4.8) <= 1 / FPS
    generation = next(a["data"] for a in out.manifest["assertions"] if a["label"] == "com.genmedia.generation")
    assert generation["media"]["subtitles"]["codec"] == "mov_text" and generation["media"]["subtitles"]["cues"] == 2


def test_subtitles_can_be_burnt_in_instead(make_publisher):
    plain, burnt = _build(subtitle_rules=None), _build(burn_subtitles=True)
    assert plain.subtitles is None and burnt.subtitles is None and burnt.params["subtitles"] == "burnt in"
    during, between = int(1.0 * FPS), int(2.35 * FPS)  # a cue on screen; the gap between the takes
    lower = slice(60, 90)
    changed = np.abs(burnt.frames[during][lower].astype(int) - plain.frames[during][lower]).mean()
    assert changed > 5 and (burnt.frames[during][lower] > 240).any()  # white letters on the lower third
    assert np.array_equal(burnt.frames[between], plain.frames[between])
    [out] = make_publisher().publish(burnt, task="storyboard_export", session_id="s")
    with av.open(str(out.path)) as box:
        assert not box.streams.subtitles


def test_the_rules_apply_to_the_animatic_too():
    art = _build(subtitle_rules=Rules(line_chars=16))
    assert all(len(line) <= 16 for line in art.subtitles.splitlines() if line and "-->" not in line
               and not line.isdigit())
