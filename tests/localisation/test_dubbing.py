"""Dubbing through the path a visitor takes (Studio.produce, published and signed): a 3-line clip in
the original speaker's cloned voice keeps its length within a frame, every line synthesized, the clip
as parentOf and the voice reference as an ingredient; cloning without the attestation is refused.

With no lines given, one job transcribes, translates and says the clip again: its speech is a
studio-made voice take of three sentences, heard by the tiny Whisper twin and translated by the tiny
Marian twin. Their weights are random, so what they write is noise; what is checked is the chain: the
stages in order, the transcriber and translator joined to the job and named in the manifest, every
segment synthesized, the clip's length kept within a frame."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from pipelines.dubbing import Request
from pipelines.errors import InputError
from pipelines.media import InputFile
from pipelines.progress import Progress
from pipelines.runner import execute, prepare
from provenance.manifest import withheld
from provenance.encode import write_video

FPS = 12
LINES = ("1\n00:00:00,300 --> 00:00:01,300\nHello there.\n\n"
         "2\n00:00:01,600 --> 00:00:02,600\nThe lamp is lit.\n\n"
         "3\n00:00:02,900 --> 00:00:03,900\nGo home now.\n")
SENTENCES = "Hello there, keeper. The lamp is lit tonight. The ships are coming home."


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """4 s of moving picture at 12 fps with a stereo background hum at 48 kHz."""
    path = tmp_path_factory.mktemp("dub") / "clip.mp4"
    y, x = np.mgrid[0:96, 0:160]
    frames = [np.stack([(x * 1.5 + i * 4) % 256, (y * 2 + i * 3) % 256, np.full_like(x, 90)], -1).astype(np.uint8)
              for i in range(4 * FPS)]
    t = np.arange(4 * 48000) / 48000
    hum = np.stack([0.1 * np.sin(2 * np.pi * 110 * t)] * 2).astype(np.float32)
    write_video(iter(frames), FPS, path, size=(160, 96), audio=hum, audio_rate=48000)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """5 s of a voiced tone with syllable-rate loudness changes: sound a speaker encoder takes."""
    t = np.arange(5 * 22050) / 22050
    phase = 2 * np.pi * np.cumsum(140 + 20 * np.sin(2 * np.pi * 0.7 * t)) / 22050
    voice = 0.25 * sum(np.sin(k * phase) / k for k in (1, 2, 3)) * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))
    path = tmp_path_factory.mktemp("dub-ref") / "speaker.wav"
    sf.write(path, voice.astype(np.float32), 22050)
    return path


@pytest.fixture(scope="module")
def spoken_clip(studio, tmp_path_factory) -> Path:
    """A studio-made voice take of three sentences (tiny VITS, as downloaded) muxed under moving picture."""
    from pipelines.speech import Request as SpeechRequest

    outcome = studio.produce("speech", SpeechRequest(text=SENTENCES, model="tiny-vits", seed=5),
                             session_id="dub-chain")
    wav = next(Path(i.path) for i in outcome.items if i.mime == "audio/wav")
    voice, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    n = int(np.ceil(voice.shape[0] / rate * FPS))
    y, x = np.mgrid[0:96, 0:160]
    frames = [np.stack([(x * 1.5 + i * 4) % 256, (y * 2 + i * 3) % 256, np.full_like(x, 90)], -1).astype(np.uint8)
              for i in range(n)]
    path = tmp_path_factory.mktemp("dub-chain") / "spoken.mp4"
    write_video(iter(frames), FPS, path, size=(160, 96), audio=np.ascontiguousarray(voice.T), audio_rate=rate)
    return path


def _frames_and_fps(path) -> tuple[int, float]:
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        return sum(1 for _ in box.decode(stream)), float(stream.average_rate or Fraction(FPS))


def test_a_dubbed_clip_keeps_its_length_and_says_what_was_synthesized(studio, clip, reference):
    request = Request(media_path=str(clip), lines=LINES, model="tiny-xtts", reference_path=str(reference),
                      clone_attested=True, seed=3, background_db=-18.0)
    inputs = [InputFile(str(clip), "parentOf", "original clip"),
              InputFile(str(reference), "inputTo", "reference voice")]
    before, studio.publisher.cfg.disclose_prompt = studio.publisher.cfg.disclose_prompt, False
    try:  # with disclosure off, the lines are the visitor's words: heard and shown, never in a manifest
        outcome = studio.produce("dubbing", request, session_id="dubbing", inputs=inputs, confirmed=True)
    finally:
        studio.publisher.cfg.disclose_prompt = before
    files = {Path(i.path).suffix: i for i in outcome.items}
    assert set(files) == {".mp4", ".srt", ".vtt"}
    dub = files[".mp4"]
    (n0, fps0), (n1, fps1) = _frames_and_fps(clip), _frames_and_fps(dub.path)
    assert abs(n1 / fps1 - n0 / fps0) <= 1 / fps0
    with av.open(dub.path) as box:
        sound = box.streams.audio[0]
        assert abs(float(sound.duration * sound.time_base) - n0 / fps0) <= 1 / fps0
        assert box.streams.subtitles and box.streams.subtitles[0].codec_context.name == "mov_text"
    segments = dub.params["segments"]
    assert dub.params["synthesized_segments"] == 3 and [s["synthesized"] for s in segments] == [True] * 3
    assert [s["start_s"] for s in segments] == [0.3, 1.6, 2.9]
    assert all(1.0 <= s["speed"] <= 1.3 for s in segments)
    report = studio.publisher.verify(dub.path)
    assert report.state in ("Trusted", "Valid"), report.failures
    relations = {(i.get("title"), i.get("relationship")) for i in report.ingredients}
    # (titles are the visitor's file names: withheld as their SHA-256 with disclosure off)
    expected = {(withheld("original clip", False), "parentOf"), (withheld("reference voice", False), "inputTo")}
    assert expected <= relations
    actions = next(a["data"]["actions"] for a in report.manifest["assertions"] if a["label"].startswith("c2pa.actions"))
    assert [a["action"] for a in actions][:2] == ["c2pa.opened", "c2pa.edited"]
    assert dub.params["voice"] == "cloned from the reference clip"
    for item in outcome.items:
        manifest = json.dumps(studio.publisher.verify(item.path).manifest).lower()
        assert "lamp" not in manifest and "go home" not in manifest and "lines_sha256" in manifest


def test_cloning_without_the_attestation_is_refused(studio, clip, reference):
    preset = studio.models.preset("dubbing", "tiny-xtts")
    with pytest.raises(InputError, match="needs the speaker's permission"):
        Request(media_path=str(clip), lines=LINES, model="tiny-xtts", reference_path=str(reference)).check(preset)


@pytest.mark.parametrize("kw, message", [
    (dict(lines="1\n00:00:00,300 --> 00:00:01,300\nHi\n\n2\n00:00:02 -> 3\nx\n"), "at line 5"),
    (dict(lines="", transcriber=""), "no lines to say"),
    (dict(lines="1\n00:00:09,000 --> 00:00:10,000\nLate.\n"), "after the clip ends"),
    (dict(background_db=6.0), "from -60 to 0 dB"),
    (dict(media_path=""), "no clip to dub"),
])
def test_bad_dubbing_input_is_a_clear_message(studio, clip, kw, message):
    preset = studio.models.preset("dubbing", "tiny-vits")
    with pytest.raises(InputError, match=message):
        Request(**{"media_path": str(clip), "lines": LINES, **kw}).check(preset)


def test_a_clip_without_lines_is_transcribed_translated_and_dubbed_in_one_job(studio, spoken_clip, reference):
    request = Request(media_path=str(spoken_clip), lines="", model="tiny-xtts", language="de", source_language="en",
                      reference_path=str(reference), clone_attested=True, seed=3)
    inputs = [InputFile(str(spoken_clip), "parentOf", "original clip"),
              InputFile(str(reference), "inputTo", "reference voice")]
    stages: list[str] = []
    progress = Progress(lambda e: stages.append(e.stage) if not stages or stages[-1] != e.stage else None)
    outcome = studio.produce("dubbing", request, session_id="dub-chain", progress=progress, inputs=inputs,
                             confirmed=True)
    model_stages = [s for s in stages if s in ("transcribing", "translating", "speaking", "mixing", "signing")]
    assert model_stages == ["transcribing", "translating", "speaking", "mixing", "signing"], stages

    dub = next(i for i in outcome.items if i.path.endswith(".mp4"))
    (n0, fps0), (n1, fps1) = _frames_and_fps(spoken_clip), _frames_and_fps(dub.path)
    assert abs(n1 / fps1 - n0 / fps0) <= 1 / fps0
    params = dub.params
    assert params["lines_from"] == "transcribed and translated"
    assert params["source_language"] == "en" and params["target_language"] == "de"
    segments = params["segments"]
    assert segments and params["synthesized_segments"] == len(segments)
    assert all(s["synthesized"] and 0 <= s["start_s"] < n0 / fps0 for s in segments)
    joined = params["joined_models"]
    assert (joined["transcriber"]["model"], joined["translator"]["model"]) == ("tiny-whisper", "tiny-marian")

    report = studio.publisher.verify(dub.path)
    assert report.state in ("Trusted", "Valid"), report.failures
    assert {i.get("relationship") for i in report.ingredients} >= {"parentOf", "inputTo"}
    assert len(report.ingredients) == 2
    manifest = json.dumps(report.manifest)
    assert '"tiny-whisper"' in manifest and '"tiny-marian"' in manifest   # the transcript's and translation's models


def test_lines_given_load_no_transcriber_or_translator(studio, spoken_clip):
    request = Request(media_path=str(spoken_clip), lines="1\n00:00:00,200 --> 00:00:01,000\nHallo.\n",
                      model="tiny-vits")
    prepared = prepare("dubbing", request, studio.models.preset("dubbing", "tiny-vits"))
    assert (prepared.transcriber, prepared.translator) == ("", "")
    result = execute(studio.models, "dubbing", prepared)
    assert "joined_models" not in result.artifacts[0].params
    assert "lines_from" not in result.artifacts[0].params


def test_a_clip_already_in_the_new_language_is_revoiced_without_a_translator(studio, spoken_clip):
    preset = studio.models.preset("dubbing", "tiny-vits")
    request = Request(media_path=str(spoken_clip), lines="", model="tiny-vits", language="en", source_language="EN")
    request.check(preset)
    assert (request.transcriber, request.translator, request.source_language) == ("tiny-whisper", "", "en")


@pytest.mark.parametrize("kw, message", [
    (dict(transcriber=""), "no transcription model"),
    (dict(translator="", language="de", model="tiny-xtts", source_language=""), "Choose a translation model"),
    (dict(no_sound=True), "no sound track"),
])
def test_a_chain_that_cannot_run_is_a_clear_message(studio, spoken_clip, tmp_path, kw, message):
    path = spoken_clip
    if kw.pop("no_sound", False):
        path = tmp_path / "mute.mp4"
        frames = [np.full((96, 160, 3), 90, np.uint8)] * FPS
        write_video(iter(frames), FPS, path, size=(160, 96))
    request = Request(**{"media_path": str(path), "lines": "", "model": "tiny-vits", **kw})
    with pytest.raises(InputError, match=message):
        request.check(studio.models.preset("dubbing", request.model))


def test_every_dubbing_preset_names_a_transcriber_and_translator_that_exist(studio):
    """A real voice preset dubbing a clip with no lines must not fall back to the random-weight twins."""
    models = studio.models
    for name, preset in models.presets("dubbing").items():
        transcriber = preset.defaults.get("transcriber", Request.transcriber)
        translator = preset.defaults.get("translator", Request.translator)
        tiers = {models.preset("transcribe", transcriber).tier, models.preset("translate", translator).tier}
        assert ("tiny" in tiers) == (preset.tier == "tiny"), f"{name} dubs with {transcriber} and {translator}"
