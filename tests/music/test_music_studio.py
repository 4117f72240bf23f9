"""Music and sound effects through Studio.produce: signed WAV and MP3 that verify, loudness as set,
the melody as a checked ingredient."""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from pipelines import music
from pipelines import sound_effects as sfx
from pipelines.media import InputFile
from studio.jobs import JobRecord
from studio.service import NeedsConfirmation

# torchsde (Stable Audio's scheduler) warns when its Brownian tree starts at sigma_min; harmless.
pytestmark = pytest.mark.filterwarnings("ignore:Should have:UserWarning")


def loudness(path) -> float:
    data, rate = sf.read(path, always_2d=True)
    return pyloudnorm.Meter(rate).integrated_loudness(data)


def test_music_with_a_melody_is_published_signed_with_its_ingredient(studio, audio_files):
    request = music.Request(prompt="bright synth pop, 120 bpm", model="tiny-musicgen-melody", duration_s=2.5, seed=4,
                            melody_path=str(audio_files["melody"]))
    record = JobRecord(id="m1", session_id="music-session", task="music", request=request)
    outcome = studio.produce("music", request, "music-session", inputs=[
        InputFile(str(audio_files["melody"]), "inputTo", "melody")], record=record)
    assert sorted(i.mime for i in outcome.items) == ["audio/mpeg", "audio/wav"]
    for item in outcome.items:
        report = studio.publisher.verify(item.path)
        assert report.state in ("Valid", "Trusted"), report.to_dict()
        ingredients = report.to_dict()["ingredients"]
        assert [(i["title"], i["relationship"]) for i in ingredients] == [("melody", "inputTo")]
        data, rate = sf.read(item.path, always_2d=True)
        assert rate == 32000 and data.shape == (80000, 1)
        assert item.params["melody"] == "melody.wav" and item.params["task"] == "music"
    wav = next(i for i in outcome.items if i.mime == "audio/wav")
    assert loudness(wav.path) == pytest.approx(-14.0, abs=0.3)
    assert record.inputs_checked and record.inputs_checked[0]["relationship"] == "inputTo"
    assert [i.id for i in studio.gallery.list("music-session", "music")] == [i.id for i in outcome.items]


def test_a_flagged_melody_needs_the_visitors_confirmation(studio, audio_files, monkeypatch):
    monkeypatch.setattr(studio, "check_upload", lambda path: {"verdict": "likely AI-generated", "flagged": True})
    request = music.Request(prompt="", model="tiny-musicgen-melody", duration_s=1.0,
                            melody_path=str(audio_files["melody"]))
    inputs = [InputFile(str(audio_files["melody"]), "inputTo", "melody")]
    with pytest.raises(NeedsConfirmation, match="The melody looks AI-generated"):
        studio.produce("music", request, "flag-session", inputs=inputs)
    outcome = studio.produce("music", request, "flag-session", inputs=inputs, confirmed=True)
    assert len(outcome.items) == 2


@pytest.mark.parametrize("model, rate, channels", [("tiny-stable-audio", 44100, 2), ("tiny-audioldm2", 16000, 1)])
def test_sound_effects_are_published_signed_at_their_loudness(studio, model, rate, channels):
    request = sfx.Request(prompt="thunder rolling over hills", model=model, duration_s=1.5, steps=3, seed=9)
    outcome = studio.produce("sound_effects", request, "sfx-session")
    assert sorted(i.mime for i in outcome.items) == ["audio/mpeg", "audio/wav"]
    for item in outcome.items:
        assert studio.publisher.verify(item.path).state in ("Valid", "Trusted")
        data, file_rate = sf.read(item.path, always_2d=True)
        assert file_rate == rate and data.shape == (round(1.5 * rate), channels)
    wav = next(i for i in outcome.items if i.mime == "audio/wav")
    assert loudness(wav.path) == pytest.approx(-16.0, abs=0.3)
    assert np.isfinite(loudness(wav.path))
