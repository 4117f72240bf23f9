"""pipelines.animatic: the timeline on the frame grid, held and moving panels, and the sound mix."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines import animatic
from pipelines.errors import InputError


def panel(w=160, h=90, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def tone(seconds, rate, freq=440.0, amp=0.3, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    return np.repeat((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None], channels, 0)


@pytest.mark.parametrize("durations, fps", [([1.0, 1.2, 1.3], 12), ([0.55] * 7, 24), ([1 / 3] * 9, 25),
                                            ([2.37, 0.71, 5.13], 30)])
def test_the_film_lasts_the_sum_of_its_shots_within_a_frame(durations, fps):
    edges = animatic.boundaries(durations, fps)
    assert edges[0] == 0 and all(b >= a for a, b in zip(edges, edges[1:]))
    assert abs(edges[-1] / fps - sum(durations)) <= 0.5 / fps
    for k in range(len(durations)):  # no drift: every cut is within half a frame of its time
        assert abs(edges[k + 1] / fps - sum(durations[:k + 1])) <= 0.5 / fps


def test_a_held_panel_keeps_its_pixels_and_renders_once():
    image = panel()
    frames = animatic.Frames([animatic.Clip(image, 1.0)], 12, (160, 90))
    assert len(frames) == 12
    assert np.array_equal(frames[0], np.asarray(image)) and frames[5] is frames[0]


def test_a_panel_of_another_aspect_is_cropped_to_fill_the_frame():
    image = panel(200, 90)  # wider than 16:9: the sides are cropped, nothing is squeezed
    frames = animatic.Frames([animatic.Clip(image, 0.5)], 12, (160, 90))
    assert np.array_equal(frames[0], np.asarray(image.crop((20, 0, 180, 90))))


def test_zoom_and_pan_move_slowly_from_the_whole_panel():
    image = panel(320, 180)
    out = (160, 90)
    zoom = animatic.Frames([animatic.Clip(image, 2.0, "zoom_in")], 12, out)
    first, last = zoom[0], zoom[len(zoom) - 1]
    assert np.abs(first.astype(int) - np.asarray(image.resize(out, Image.Resampling.BICUBIC))).mean() < 1
    w, h = 320 / animatic.ZOOM, 180 / animatic.ZOOM
    centre = image.resize(out, Image.Resampling.BICUBIC, box=((320 - w) / 2, (180 - h) / 2, (320 + w) / 2,
                                                                (180 + h) / 2))
    assert np.abs(last.astype(int) - np.asarray(centre)).mean() < 1
    steps = [np.abs(zoom[i].astype(int) - zoom[i + 1]).mean() for i in range(len(zoom) - 1)]
    assert max(steps) < 40  # gentle: no frame jumps
    pan = animatic.Frames([animatic.Clip(image, 1.0, "pan_right")], 12, out)
    sw, sh = 320 / animatic.PAN_ZOOM, 180 / animatic.PAN_ZOOM
    left = image.resize(out, Image.Resampling.BICUBIC, box=(0, (180 - sh) / 2, sw, (180 + sh) / 2))
    right = image.resize(out, Image.Resampling.BICUBIC, box=(320 - sw, (180 - sh) / 2, 320, (180 + sh) / 2))
    assert np.abs(pan[0].astype(int) - np.asarray(left)).mean() < 1
    assert np.abs(pan[len(pan) - 1].astype(int) - np.asarray(right)).mean() < 1


def test_the_mix_places_takes_ducks_the_music_and_has_the_exact_length():
    rate = animatic.MIX_RATE
    voice = animatic.Track(tone(1.0, 22050, 300), 22050, start_s=1.0)
    music = animatic.Track(tone(1.5, 32000, 1000, 0.5, channels=2), 32000)  # shorter: looped
    out = animatic.mix([voice], music, 4.0, music_db=-6, duck_db=-20)
    assert out.shape == (2, 4 * rate)

    def level(a, b, freq):
        seg = out[0, int(a * rate):int(b * rate)]
        spectrum = np.abs(np.fft.rfft(seg))
        return spectrum[int(freq * (b - a))]

    assert level(1.3, 1.8, 300) > 100 * level(0.6, 0.9, 300)                  # the voice starts at 1 s
    assert level(1.3, 1.8, 1000) < 0.2 * level(2.5, 3.0, 1000)                  # the music dips under it
    assert level(2.5, 3.0, 1000) > 0                                             # and is looped past 1.5 s
    assert np.abs(out).max() <= 1.0


def test_build_makes_a_video_artifact_with_sound_as_long_as_its_frames():
    clips = [animatic.Clip(panel(seed=i), d, m) for i, (d, m) in enumerate([(1.0, "none"), (1.2, "zoom_out"),
                                                                            (1.3, "pan_left")])]
    art = animatic.build(clips, fps=12, size=(161, 91), voices=[animatic.Track(tone(0.5, 22050), 22050, 0.3)],
                         params={"task": "storyboard"})
    assert art.size == (162, 92) and len(art.frames) == 42 and art.params["shot_frames"] == [12, 14, 16]
    assert art.audio.samples.shape[1] == 42 * animatic.MIX_RATE // 12
    assert art.audio.target_lufs == -16.0 and art.params["duration_s"] == pytest.approx(3.5)
    silent = animatic.build(clips[:1], fps=24, size=(160, 90))
    assert silent.audio is None and len(silent.frames) == 24


@pytest.mark.parametrize("kwargs, message", [
    (dict(clips=[]), "at least one shot"),
    (dict(fps=0), "The frame rate 0 is out of range"),
    (dict(motion="spin"), "the camera move 'spin'"),
    (dict(duration=0), "needs a positive duration"),
])
def test_bad_animatic_requests_are_clear(kwargs, message):
    clips = kwargs.pop("clips", [animatic.Clip(panel(), kwargs.pop("duration", 1.0), kwargs.pop("motion", "none"))])
    with pytest.raises(InputError, match=message):
        animatic.build(clips, fps=kwargs.pop("fps", 12), size=(160, 90))
