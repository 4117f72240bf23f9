"""Music through the production path (ModelManager -> pipelines.music): lengths, continuation
past the window, joins, seeds, stereo, melody, progress and cancel."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from pipelines import music
from pipelines.errors import Cancelled
from pipelines.progress import Progress
from pipelines.runner import execute

RATE = 32000


def compose(studio, progress=None, **kw):
    request = music.Request(**{"prompt": "lofi hip hop, mellow keys, 80 bpm", "model": "tiny-musicgen",
                               "duration_s": 1.0, "seed": 7, **kw})
    return execute(studio.models, "music", request, progress or Progress())


def test_one_window_gives_the_exact_length(studio):
    result = compose(studio, duration_s=1.33)
    audio = result.artifacts[0]
    assert audio.sample_rate == RATE and audio.samples.shape == (1, round(1.33 * RATE))
    assert audio.samples.dtype == np.float32 and np.abs(audio.samples).max() <= 1.0
    assert audio.target_lufs == -14.0 and audio.params["windows"] == 1


@pytest.fixture(scope="module")
def long_piece(studio):
    """5.37 s from a model whose window is 2 s: four windows, three joins."""
    return compose(studio, duration_s=5.37)


def test_continuation_reaches_the_requested_length(long_piece):
    audio = long_piece.artifacts[0]
    frame = RATE // 50
    assert abs(audio.samples.shape[1] - 5.37 * RATE) < frame       # exact here: trimmed to the sample
    assert audio.samples.shape[1] == round(5.37 * RATE)
    p = audio.params
    assert (p["windows"], p["window_s"], p["context_s"]) == (4, 2.0, 0.8)
    assert any("4 windows" in n for n in long_piece.notices)


def test_continuation_leaves_no_gap_at_the_joins(long_piece):
    y = long_piece.artifacts[0].samples[0]
    # joins: the first window ends at 2.0 s, each continuation adds 1.2 s
    joins = [int(s * RATE) for s in (2.0, 3.2, 4.4)]
    frames = y[: len(y) // 640 * 640].reshape(-1, 640)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    median = np.median(rms)
    for j in joins:
        around = rms[j // 640 - 15: j // 640 + 15]               # 0.3 s either side
        assert around.min() > 0.5 * median and around.max() < 2.0 * median, j
    quiet = np.abs(y) < 1e-4
    longest_quiet = max((len(r) for r in "".join("1" if q else "0" for q in quiet).split("0")), default=0)
    assert longest_quiet < RATE // 1000                          # nothing like a millisecond of silence
    steps = np.abs(np.diff(y))
    for j in joins:
        assert steps[j - 64: j + 64].max() <= steps.max() + 1e-6
        assert steps[j - 64: j + 64].max() < 4 * np.percentile(steps, 99.9)


def test_crossfade_join_continues_a_signal_sample_exactly():
    t = np.arange(RATE * 3) / RATE
    signal = np.sin(2 * np.pi * 220 * t).astype(np.float32)[None]
    so_far = signal[:, : 2 * RATE]
    context = RATE // 2
    window = signal[:, 2 * RATE - context:]                      # starts with its own rendering of the tail
    joined = music.crossfade_join(so_far, window, context, fade=RATE // 4)
    assert joined.shape == signal.shape
    np.testing.assert_allclose(joined, signal, atol=1e-6)
    shifted = music.crossfade_join(so_far, signal[:, 2 * RATE - context + 1:], context, fade=RATE // 4)
    assert np.abs(shifted - signal[:, : shifted.shape[1]]).max() > 0.01   # a one-sample slip would show


def test_window_plan_covers_the_duration():
    assert music.plan_windows(50, 100) == [(0, 50)]
    plan = music.plan_windows(269, 100)
    assert plan[0] == (0, 100) and all(c == 40 for c, _ in plan[1:])
    assert sum(n for _, n in plan) == 269 and all(c + n <= 100 for c, n in plan)
    published = music.plan_windows(30 * 50 * 4, 1496)           # 2 minutes with musicgen-small's window
    assert sum(n for _, n in published) == 6000 and published[1] == (598, 898)


def test_the_same_seed_makes_the_same_music(studio):
    a = compose(studio, seed=11).artifacts[0].samples
    b = compose(studio, seed=11).artifacts[0].samples
    c = compose(studio, seed=12).artifacts[0].samples
    d = compose(studio, seed=11, prompt="thrash metal, distorted guitars, 200 bpm").artifacts[0].samples
    assert np.array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, d)


def test_sampling_leaves_the_global_random_state_alone(studio):
    expected = {seed: compose(studio, seed=seed).artifacts[0].samples for seed in (21, 22)}
    state = torch.random.get_rng_state()
    results = {}

    def job(seed):
        results[seed] = compose(studio, seed=seed).artifacts[0].samples

    threads = [threading.Thread(target=job, args=(s,)) for s in (21, 22)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert torch.equal(state, torch.random.get_rng_state())
    for seed in (21, 22):                                        # run side by side, each still its own
        assert np.array_equal(results[seed], expected[seed])


def test_stereo_model_gives_stereo_through_continuation(studio):
    audio = compose(studio, model="tiny-musicgen-stereo", duration_s=2.6).artifacts[0]
    assert audio.samples.shape == (2, round(2.6 * RATE)) and audio.params["windows"] == 2
    assert audio.params["channels"] == 2
    assert not np.allclose(audio.samples[0], audio.samples[1])


def test_melody_steers_the_music_and_is_recorded(studio, audio_files):
    a = compose(studio, model="tiny-musicgen-melody", melody_path=str(audio_files["melody"]), duration_s=2.5)
    b = compose(studio, model="tiny-musicgen-melody", melody_path=str(audio_files["melody_low"]), duration_s=2.5)
    c = compose(studio, model="tiny-musicgen-melody", melody_path=str(audio_files["stereo_44k"]), prompt="",
                duration_s=1.0)
    sa, sb = a.artifacts[0].samples, b.artifacts[0].samples
    assert sa.shape == sb.shape == (1, 80000) and not np.allclose(sa, sb)
    p = a.artifacts[0].params
    assert p["melody"] == "melody.wav" and len(p["melody_sha256"]) == 64 and p["windows"] == 2
    assert c.artifacts[0].samples.shape == (1, RATE) and c.artifacts[0].params["prompt"] == ""


def test_melody_under_each_window_follows_the_window_start():
    class FE:
        sampling_rate = 10

    class Pipe:
        processor = type("P", (), {"feature_extractor": FE})()

    melody = np.arange(25, dtype=np.float32)                     # 2.5 s at 10 Hz
    seg = music._melody_features(Pipe(), melody, start_s=1.2, window_s=2.0)
    assert seg.tolist() == [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 0, 1, 2, 3, 4, 5, 6]


def test_progress_counts_seconds_of_music(studio):
    events = []
    compose(studio, Progress(listener=events.append), duration_s=3.0)
    music_events = [e for e in events if e.stage == "seconds of music"]
    assert music_events and all(e.total == 3.0 for e in music_events)
    done = [e.done for e in music_events]
    assert done == sorted(done) and done[-1] == pytest.approx(3.0) and 0 < done[0] < 0.2
    assert events[-1].stage == "done"


def test_cancel_stops_the_music(studio):
    cancel = threading.Event()
    seen = []

    def listener(event):
        seen.append(event)
        if event.stage == "seconds of music" and event.done > 0.5:
            cancel.set()

    with pytest.raises(Cancelled):
        compose(studio, Progress(listener=listener, cancel=cancel), duration_s=4.0)
    assert max(e.done for e in seen if e.stage == "seconds of music") < 1.0


def test_every_parameter_is_recorded(studio):
    p = compose(studio, guidance=4.5, temperature=0.8, top_k=50, loudness_lufs=-16.0).artifacts[0].params
    for key, value in dict(task="music", seed=7, duration_s=1.0, guidance=4.5, temperature=0.8, top_k=50,
                           loudness_lufs=-16.0, sample_rate=RATE, channels=1, model="tiny-musicgen",
                           license="Apache-2.0 (random weights built locally)", device="cpu", dtype="fp32",
                           pipeline="MusicgenForConditionalGeneration").items():
        assert p[key] == value, key
    assert "per-request torch.Generator" in p["sampling"]
