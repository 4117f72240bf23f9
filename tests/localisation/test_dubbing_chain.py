"""Dubbing in one job: a clip with no lines given is transcribed, translated and said again, through the
path a visitor takes (Studio.produce, published and signed) with the tiny Whisper, Marian and XTTS twins.

The clip's speech is a studio-made voice take of three sentences. The twins have random weights, so
what Whisper hears and Marian writes is noise; what these tests check is the chain: the stages run in
order, the transcriber and translator are joined to the job and named in the manifest, every segment
is synthesized, and the dub keeps the clip's length within a frame."""
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
from provenance.encode import write_video

FPS = 12
SENTENCES = "Hello there, keeper. The lamp is lit tonight. The ships are coming home."


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


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """5 s of a voiced tone with syllable-rate loudness changes: sound a speaker encoder takes."""
    t = np.arange(5 * 22050) / 22050
    phase = 2 * np.pi * np.cumsum(140 + 20 * np.sin(2 * np.pi * 0.7 * t)) / 22050
    voice = 0.25 * sum(np.sin(k * phase) / k for k in (1, 2, 3)) * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))
    path = tmp_path_factory.mktemp("dub-chain-ref") / "speaker.wav"
    sf.write(path, voice.astype(np.float32), 22050)
    return path


def _frames_and_fps(path) -> tuple[int, float]:
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        return sum(1 for _ in box.decode(stream)), float(stream.average_rate or Fraction(FPS))


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
    from pipelines.runner import execute, prepare

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
