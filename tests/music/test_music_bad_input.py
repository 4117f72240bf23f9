"""Bad requests and bad melody files give a message that says what to do, never a traceback."""
from __future__ import annotations

import numpy as np
import pytest

from pipelines import music
from pipelines import sound_effects as sfx
from pipelines.errors import InputError
from pipelines.runner import execute


def music_request(**kw):
    return music.Request(**{"prompt": "ambient pads", "model": "tiny-musicgen", "duration_s": 1.0, **kw})


@pytest.mark.parametrize("duration, message", [
    (0, r"Duration 0 s is out of range: use 0.5 to 30 seconds"),
    (-3, r"Duration -3 s is out of range"),
    (31, r"Duration 31 s is out of range: use 0.5 to 30 seconds with this model"),
    (float("nan"), r"Duration must be a number"),
    (None, r"Duration must be a number"),
])
def test_music_duration_outside_the_tier_limit(studio, duration, message):
    with pytest.raises(InputError, match=message):
        execute(studio.models, "music", music_request(duration_s=duration))


@pytest.mark.parametrize("kw, message", [
    (dict(prompt="   "), r"The prompt is empty: describe the music \(genre, mood, instruments, tempo\)\.$"),
    (dict(prompt="", model="tiny-musicgen-melody"), r"or give a melody"),
    (dict(guidance=0.5), r"Guidance 0.5 is out of range: use 1 \(none\) to 15"),
    (dict(temperature=0), r"Temperature 0 is out of range"),
    (dict(top_k=-1), r"Top-k -1 is out of range"),
    (dict(top_k=2.5), r"Top-k must be a whole number"),
    (dict(seed=-1), r"Seed -1 is out of range"),
    (dict(loudness_lufs=3), r"Loudness 3 LUFS is out of range"),
    (dict(prompt="x" * 1001), r"The prompt is 1001 characters; the limit is 1000"),
])
def test_music_request_errors(studio, kw, message):
    with pytest.raises(InputError, match=message):
        execute(studio.models, "music", music_request(**kw))


def test_a_melody_needs_a_melody_model(studio, audio_files):
    with pytest.raises(InputError, match="does not take a melody: choose a MusicGen Melody preset"):
        execute(studio.models, "music", music_request(melody_path=str(audio_files["melody"])))


@pytest.mark.parametrize("key, message", [
    ("silent", r"The melody “silent.wav” is silent: record or upload the tune again"),
    ("text", r"The melody file “notes.wav” could not be read as audio: it is not in a format this studio takes"),
    ("image", r"The melody file “cover.png” has no sound in it: it is a PNG file"),
    ("truncated", r"The melody file “truncated.wav” could not be read as audio: it is cut short"),
    ("short", r"The melody “short.wav” is 0.30 s long; give at least 1 s of the tune"),
])
def test_unusable_melody_files(studio, audio_files, key, message):
    request = music_request(model="tiny-musicgen-melody", melody_path=str(audio_files[key]))
    with pytest.raises(InputError, match=message):
        execute(studio.models, "music", request)


def test_a_missing_melody_file(studio, tmp_path):
    request = music_request(model="tiny-musicgen-melody", melody_path=str(tmp_path / "gone.wav"))
    with pytest.raises(InputError, match="The melody file “gone.wav” did not arrive; upload it again"):
        execute(studio.models, "music", request)


def test_melodies_in_other_formats_are_read(audio_files):
    samples, rate = music.read_melody(str(audio_files["m4a"]))        # AAC: through PyAV
    assert rate == 44100 and samples.shape[0] == 1 and abs(samples.shape[1] - 2.0 * 44100) < 3000
    samples, rate = music.read_melody(str(audio_files["stereo_44k"]))
    assert rate == 44100 and samples.shape == (2, int(2.5 * 44100)) and samples.dtype == np.float32


@pytest.mark.parametrize("kw, message", [
    (dict(duration_s=0), r"Duration 0 s is out of range: use 0.5 to 5.5 seconds"),
    (dict(duration_s=-1), r"Duration -1 s is out of range"),
    (dict(duration_s=12, model="tiny-audioldm2"), r"Duration 12 s is out of range: use 0.5 to 10 seconds"),
    (dict(prompt=""), r"The prompt is empty: describe the sound"),
    (dict(steps=0), r"Steps 0 is out of range: use 1 to 100"),
    (dict(guidance=-1), r"Guidance -1 is out of range"),
])
def test_sound_effect_request_errors(studio, kw, message):
    request = sfx.Request(**{"prompt": "glass shatters", "model": "tiny-stable-audio", "duration_s": 1.0,
                             "steps": 2, **kw})
    with pytest.raises(InputError, match=message):
        execute(studio.models, "sound_effects", request)
