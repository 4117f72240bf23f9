"""Transcribe through the production path: the tiny Whisper twin built locally in the hub layout and
loaded by the model layer, recordings made by the studio itself, and the files a visitor downloads.

The twin has random weights, a small learned byte-level vocabulary (no Whisper vocabulary ships in
any installed package, and the hub cannot be reached) and Whisper's special tokens in Whisper's
order: it shows the language, task and timestamp machinery, the long-form windows and the word
alignment, not what real Whisper would write. Its words are noise, and its timestamps are kept
inside the recording by the task's own clamping, which these tests are there to check.
"""
from __future__ import annotations

import datetime
import threading
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import srt
import webvtt

from pipelines.errors import Cancelled, InputError
from pipelines.media import InputFile
from pipelines.progress import Progress
from pipelines.runner import execute
from pipelines.transcribe import Request, Segment, Word, to_srt, to_text, to_vtt, vtt_time


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * 150 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def write_mp4(path: Path, seconds: float, with_sound: bool) -> Path:
    """A small MP4: 64x64 grey frames at 8 fps, and an AAC track of a tone when `with_sound`."""
    import av

    with av.open(str(path), "w") as box:
        video = box.add_stream("mpeg4", rate=8)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = box.add_stream("aac", rate=16000) if with_sound else None
        for i in range(int(seconds * 8)):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90 + i % 50, np.uint8), format="rgb24")
            box.mux(video.encode(frame))
        box.mux(video.encode())
        if audio is not None:
            samples = tone(seconds)
            for start in range(0, samples.size, 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 16000, start
                box.mux(audio.encode(frame))
            box.mux(audio.encode())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("transcribe")
    out = {"silent": d / "silent.wav", "long": d / "long.flac", "three_hours": d / "three-hours.wav"}
    sf.write(out["silent"], np.zeros(3 * 16000, np.float32), 16000)
    sf.write(out["long"], tone(35.0), 16000)
    # A WAV whose header says 3 hours (8-bit 8 kHz), written sparse: nothing may decode it.
    with wave.open(str(out["three_hours"]), "wb") as w:
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(8000)
        w.writeframes(b"\x80")
    with open(out["three_hours"], "r+b") as f:
        frames = 3 * 3600 * 8000
        f.seek(4), f.write((36 + frames).to_bytes(4, "little"))
        f.seek(40), f.write(frames.to_bytes(4, "little"))
        f.truncate(44 + frames)
    out["video_silent_track"] = write_mp4(d / "no-sound.mp4", 2.0, with_sound=False)
    out["video"] = write_mp4(d / "clip.mp4", 4.0, with_sound=True)
    return out


@pytest.fixture(scope="module")
def voice_take(studio) -> tuple[Path, float]:
    """A voice take made by the studio (tiny VITS), as the visitor downloads it."""
    from pipelines.speech import Request as SpeechRequest

    outcome = studio.produce("speech", SpeechRequest(text="Hello there, keeper. The lamp is lit tonight.",
                                                     model="tiny-vits", seed=3), session_id="transcribe-test")
    wav = next(Path(i.path) for i in outcome.items if i.mime == "audio/wav")
    return wav, sf.info(str(wav)).duration


def test_a_studio_voice_take_is_transcribed_and_published_as_txt_srt_and_vtt(studio, voice_take):
    wav, duration = voice_take
    request = Request(media_path=str(wav), model="tiny-whisper")
    outcome = studio.produce("transcribe", request, session_id="transcribe-test", confirmed=True,
                             inputs=[InputFile(str(wav), "inputTo", "recording")])
    by_suffix = {Path(i.path).suffix: Path(i.path) for i in outcome.items}
    assert sorted(by_suffix) == [".srt", ".txt", ".vtt"]
    assert any(n.startswith("Detected language: ") for n in outcome.notices)
    cues = list(srt.parse(by_suffix[".srt"].read_text(encoding="utf-8")))
    captions = webvtt.read(str(by_suffix[".vtt"])).captions
    assert cues and len(captions) == len(cues)
    lines = by_suffix[".txt"].read_text(encoding="utf-8").splitlines()
    assert lines == [c.content for c in cues]
    for cue, caption in zip(cues, captions):
        assert datetime.timedelta(0) <= cue.start < cue.end <= datetime.timedelta(seconds=duration + 1e-3)
        vtt_start = caption.start_in_seconds + int(caption.start.split(".")[1]) / 1000
        assert abs(vtt_start - cue.start.total_seconds()) < 2e-3
    for published in outcome.items:   # each with its sidecar manifest, bound to its bytes
        assert studio.publisher.verify(published.path).state in ("Valid", "Trusted")
    item = outcome.items[0]
    assert item.params["task"] == "transcribe" and item.params["model"] == "tiny-whisper"
    assert item.params["duration_s"] == pytest.approx(duration, abs=0.01)


def test_segments_and_words_lie_inside_the_clip_in_order(studio, voice_take):
    wav, duration = voice_take
    result = execute(studio.models, "transcribe", Request(media_path=str(wav)))
    assert result.segments and result.language
    for segment in result.segments:
        assert 0 <= segment.start < segment.end <= duration + 1e-3
        assert segment.words, "word timestamps are on by default"
        starts = [w.start for w in segment.words]
        assert starts == sorted(starts)
        assert all(segment.start <= w.start <= w.end <= segment.end for w in segment.words)


def test_a_long_file_goes_window_by_window_and_a_cancel_stops_between_windows(studio, files):
    events = []
    result = execute(studio.models, "transcribe", Request(media_path=str(files["long"]), language="en"),
                     Progress(lambda e: events.append((e.done, e.total, e.stage))))
    windows = [(done, total) for done, total, stage in events if stage == "transcribing"]
    total = windows[0][1]
    # 35 s is two windows: progress at the start of each, then at the end
    assert [done for done, _ in windows] == [0, 3000, total], windows
    assert result.language == "en" and all(s.end <= 35.0 + 1e-3 for s in result.segments)

    cancel, starts = threading.Event(), []

    def cancel_at_second_window(event):
        if event.stage == "transcribing":
            starts.append(event.done)
            if event.done > 0:
                cancel.set()
    with pytest.raises(Cancelled):
        execute(studio.models, "transcribe", Request(media_path=str(files["long"]), language="en"),
                Progress(cancel_at_second_window, cancel))
    assert starts == [0, 3000]   # stopped as the second window began


def test_the_sound_of_a_video_is_transcribed(studio, files):
    result = execute(studio.models, "transcribe", Request(media_path=str(files["video"]), language="fr",
                                                          translate=True))
    assert result.language == "fr" and result.duration_s == pytest.approx(4.0, abs=0.1)
    assert result.artifacts[0].params["whisper_task"] == "translate"
    assert all(s.end <= result.duration_s + 1e-3 for s in result.segments)


def test_silence_gives_an_empty_transcript_and_says_so(studio, files):
    result = execute(studio.models, "transcribe", Request(media_path=str(files["silent"])))
    assert result.segments == [] and "silent" in " ".join(result.notices)
    texts = {a.suffix: a.text for a in result.artifacts}
    assert texts[".txt"] == "" and texts[".srt"] == "" and texts[".vtt"].startswith("WEBVTT")


@pytest.mark.parametrize("name, kw, message", [
    ("video_silent_track", {}, "has no sound in it"),
    ("three_hours", {}, "longer than 10 min"),
    ("long", {"language": "klingon"}, "does not know the language 'klingon'. It has: "),
    (None, {}, "no recording to transcribe"),
])
def test_bad_inputs_are_refused_with_a_message(studio, files, name, kw, message):
    request = Request(media_path=str(files[name]) if name else "", **kw)
    with pytest.raises(InputError, match=message) as caught:
        execute(studio.models, "transcribe", request)
    if "It has" in message:
        assert "en, " in str(caught.value) and "fr" in str(caught.value)


def test_exports_parse_and_keep_times_and_word_starts():
    segments = [Segment(0.5, 2.25, "Hello there.", [Word("Hello", 0.5, 1.0), Word("there.", 1.1, 2.25)]),
                Segment(3661.0, 3662.5, "Une heure plus tard.")]
    cues = list(srt.parse(to_srt(segments)))
    assert [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in cues] == [
        (0.5, 2.25, "Hello there."), (3661.0, 3662.5, "Une heure plus tard.")]
    captions = webvtt.from_string(to_vtt(segments)).captions
    assert [(c.start, c.end, c.text) for c in captions] == [
        ("00:00:00.500", "00:00:02.250", "Hello there."), ("01:01:01.000", "01:01:02.500", "Une heure plus tard.")]
    assert "<00:00:01.100>there." in captions[0].raw_text
    assert to_text(segments) == "Hello there.\nUne heure plus tard.\n"
    assert vtt_time(59.9996) == "00:01:00.000"


def test_the_transcribe_endpoint_hands_out_signed_subtitles_of_a_voice_take(live_url, studio, voice_take):
    from gradio_client import Client, handle_file

    wav, duration = voice_take
    client = Client(live_url, verbose=False)
    _, downloads, _, status = client.predict(handle_file(str(wav)), True, "tiny-whisper", "", False, True,
                                             api_name="/generate_transcribe")
    assert "file(s) made" in status
    by_suffix = {Path(f).suffix: Path(f) for f in downloads}
    assert sorted(by_suffix) == [".srt", ".txt", ".vtt"]
    cues = list(srt.parse(by_suffix[".srt"].read_text(encoding="utf-8")))
    assert cues and all(c.end <= datetime.timedelta(seconds=duration + 1e-3) for c in cues)
    assert len(webvtt.read(str(by_suffix[".vtt"])).captions) == len(cues)
