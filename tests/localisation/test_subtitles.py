"""Subtitles for what the studio speaks: a voice take's SRT and WebVTT, read back with `srt` and
`webvtt-py` from the downloaded files, timed against the speech measured in the downloaded WAV."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import srt
import webvtt

from pipelines.errors import InputError
from pipelines.speech import Request
from pipelines.subtitles import Rules, Span, build_cues, parse, wrap
from pipelines.text_chunks import normalize_text

TEXT = ("The keeper climbs the stairs every night at dusk, counting each of the hundred steps. "
        "He lights the great lamp and watches the ships come home across the dark water of the bay.")
TOLERANCE_S = 0.05


def _take(studio, **kw):
    request = Request(**{"text": TEXT, "model": "tiny-vits", "speaker": "tiny-cleo", "seed": 4, **kw})
    items = studio.produce("speech", request, session_id="subtitles").items
    return {Path(i.path).suffix: i for i in items}


def _srt_cues(path) -> list[tuple[float, float, str]]:
    return [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in srt.parse(Path(path).read_text())]


def _vtt_cues(path) -> list[tuple[float, float, str]]:
    def seconds(stamp):
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    return [(seconds(c.start), seconds(c.end), c.text) for c in webvtt.read(path)]


def _speech_regions(path, min_gap_s: float = 0.1) -> list[tuple[float, float]]:
    """Stretches of sound in a WAV from its energy (10 ms frames over -45 dBFS), pauses under min_gap_s bridged."""
    x, rate = sf.read(path, dtype="float64")
    frame = rate // 100
    n = x.size // frame
    loud = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)) > 10 ** (-45 / 20)
    regions: list[list[float]] = []
    for i in np.flatnonzero(loud):
        start, end = i * frame / rate, (i + 1) * frame / rate
        if regions and start - regions[-1][1] < min_gap_s:
            regions[-1][1] = end
        else:
            regions.append([start, end])
    return [(a, min(b, x.size / rate)) for a, b in regions]


def _grouped(cues, min_gap_s: float = 0.1) -> list[tuple[float, float]]:
    groups: list[list[float]] = []
    for start, end, _ in cues:
        if groups and start - groups[-1][1] < min_gap_s:
            groups[-1][1] = max(groups[-1][1], end)
        else:
            groups.append([start, end])
    return [tuple(g) for g in groups]


def test_a_voice_take_comes_with_subtitles_that_cover_its_speech(studio):
    files = _take(studio)
    assert set(files) == {".wav", ".mp3", ".srt", ".vtt"}
    cues = _srt_cues(files[".srt"].path)
    vtt = _vtt_cues(files[".vtt"].path)
    assert [c[2] for c in cues] == [c[2] for c in vtt]
    assert np.allclose([c[:2] for c in cues], [c[:2] for c in vtt], atol=1e-3)
    assert " ".join(c[2].replace("\n", " ") for c in cues) == normalize_text(TEXT)
    regions = _speech_regions(files[".wav"].path)
    groups = _grouped(cues)
    assert len(regions) == len(groups) == files[".wav"].params["chunks"] == 2
    for (s0, e0), (s1, e1) in zip(regions, groups):
        assert abs(s0 - s1) <= TOLERANCE_S and abs(e0 - e1) <= TOLERANCE_S, (regions, groups)
    for start, end, text in cues:
        lines = text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines), text
        assert end - start <= 7.0 + 1e-3
    for item in files.values():
        assert studio.publisher.verify(item.path).state in ("Trusted", "Valid")
    assert files[".srt"].params == files[".wav"].params  # one take: the files group together


def test_the_rules_are_configurable_and_a_long_chunk_is_split_in_time(studio):
    files = _take(studio, speed=0.5, subtitle_line_chars=30, subtitle_max_s=3.0)
    cues = _srt_cues(files[".srt"].path)
    wav_s = files[".wav"].params["duration_s"]
    assert len(cues) > files[".wav"].params["chunks"] * 2  # slow speech: every chunk needs several cues
    for start, end, text in cues:
        assert all(len(line) <= 30 for line in text.split("\n")) and end - start <= 3.0 + 1e-3
        assert end - start >= 1.0 - 1e-3 or end == pytest.approx(wav_s, abs=1e-3)
    regions = _speech_regions(files[".wav"].path)
    assert [round(g[0], 2) for g in _grouped(cues)] == pytest.approx([r[0] for r in regions], abs=TOLERANCE_S)


def test_no_subtitles_when_asked_and_bad_rules_are_refused(studio):
    assert set(_take(studio, text="Hello there.", subtitles=False)) == {".wav", ".mp3"}
    preset = studio.models.preset("speech", "tiny-vits")
    with pytest.raises(InputError, match="Lines per subtitle is 5"):
        Request(text="Hi.", subtitle_lines=5).check(preset)
    with pytest.raises(InputError, match="shortest subtitle .* longer than the longest"):
        Request(text="Hi.", subtitle_min_s=5.0, subtitle_max_s=2.0).check(preset)


def test_short_cues_are_held_without_covering_the_next():
    cues = build_cues([Span(0.0, 0.4, "Hi."), Span(0.9, 3.0, "The ferry is late tonight."),
                       Span(3.2, 3.5, "Oh.")], Rules(), end_s=3.8)
    assert [(c.start_s, c.end_s) for c in cues] == [(0.0, 0.858), (0.9, 3.0), (3.2, 3.8)]
    assert wrap("a" * 50 + " b", Rules()) == "a" * 50 + "\nb"  # an over-long word still shows


@pytest.mark.parametrize("text, message", [
    ("1\n00:00:01,000 --> 00:00:02,000\nHi\n\n2\n00:00:03,000 -> 00:00:04,000\nYo\n", "at line 5"),
    ("WEBVTT\n\n00:00.000 -> 00:01.000\nHi\n", "at line 3"),
    ("", "empty"),
])
def test_a_subtitle_file_that_does_not_parse_names_the_line(text, message):
    with pytest.raises(InputError, match=message):
        parse(text)
