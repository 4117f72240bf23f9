"""Sound effects through the production path (ModelManager -> pipelines.sound_effects)."""
from __future__ import annotations

import numpy as np
import pytest

from pipelines import sound_effects as sfx
from pipelines.errors import InputError
from pipelines.progress import Progress
from pipelines.runner import execute

# torchsde (Stable Audio's scheduler) warns when its Brownian tree starts at sigma_min; harmless.
pytestmark = pytest.mark.filterwarnings("ignore:Should have:UserWarning")


def make(studio, progress=None, **kw):
    request = sfx.Request(**{"prompt": "heavy wooden door creaks open", "model": "tiny-stable-audio",
                             "duration_s": 2.3, "steps": 3, "seed": 5, **kw})
    return execute(studio.models, "sound_effects", request, progress or Progress())


def test_stable_audio_gives_stereo_44k_of_the_exact_length(studio):
    events = []
    result = make(studio, Progress(listener=events.append))
    audio = result.artifacts[0]
    assert audio.sample_rate == 44100 and audio.samples.shape == (2, round(2.3 * 44100))
    assert audio.target_lufs == -16.0 and np.abs(audio.samples).max() <= 1.0
    p = audio.params
    assert (p["task"], p["pipeline"], p["scheduler_class"], p["steps"], p["channels"]) == (
        "sound_effects", "StableAudioPipeline", "CosineDPMSolverMultistepScheduler", 3, 2)
    assert [e.done for e in events if e.stage == "denoising"] == [1, 2, 3]


def test_audioldm2_gives_mono_16k_of_the_exact_length(studio):
    audio = make(studio, model="tiny-audioldm2", duration_s=2.3).artifacts[0]
    assert audio.sample_rate == 16000 and audio.samples.shape == (1, round(2.3 * 16000))
    assert audio.params["pipeline"] == "AudioLDM2Pipeline" and np.abs(audio.samples).max() > 1e-3


@pytest.mark.parametrize("model", ["tiny-stable-audio", "tiny-audioldm2"])
def test_seed_and_negative_prompt_are_honoured(studio, model):
    a = make(studio, model=model, duration_s=1.0).artifacts[0].samples
    b = make(studio, model=model, duration_s=1.0).artifacts[0].samples
    c = make(studio, model=model, duration_s=1.0, seed=6).artifacts[0].samples
    d = make(studio, model=model, duration_s=1.0, negative_prompt="music, speech").artifacts[0].samples
    assert np.array_equal(a, b) and not np.allclose(a, c) and not np.allclose(a, d)


def test_the_shared_pipeline_keeps_no_request_state(studio):
    pipe = studio.models.get("sound_effects", "tiny-stable-audio").pipe
    make(studio, steps=4)
    assert pipe.scheduler.num_inference_steps is None          # each request stepped its own scheduler


def test_longer_than_stable_audio_makes_is_a_clear_error(studio):
    pipe = studio.models.get("sound_effects", "tiny-stable-audio").pipe
    assert sfx.max_duration_s(pipe) == pytest.approx(128 * 2048 / 44100)
    request = sfx.Request(prompt="rain", model="tiny-stable-audio", duration_s=6.5, steps=2)
    with pytest.raises(InputError, match=r"longer than this model makes \(5.94 s\)"):
        sfx.run(pipe, request, Progress())
