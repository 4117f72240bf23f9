"""The detection task modules on tiny random classifiers, loaded through the model layer."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines import detect_audio, detect_image, registry
from pipelines.errors import Cancelled, InputError
from pipelines.progress import Progress
from pipelines.runner import execute
from provenance.detect_verdict import Thresholds
from detect_helpers import picture, speech_like


def test_tiny_classifiers_load_through_the_model_layer_as_real_classes(detect_studio):
    image = detect_studio.models.get("detect_image", "tiny-vit-detector")
    audio = detect_studio.models.get("detect_audio", "tiny-wav2vec2-detector")
    assert type(image.pipe).__name__ == "ImageClassificationPipeline"
    assert type(image.pipe.model).__name__ == "ViTForImageClassification"
    assert type(audio.pipe).__name__ == "AudioClassificationPipeline"
    assert type(audio.pipe.model).__name__ == "Wav2Vec2ForSequenceClassification"
    # Saved in the download layout: config, weights and processor side by side.
    folder = detect_studio.settings.data_dir / "models" / "tiny"
    for family in ("vit-detector", "wav2vec2-detector"):
        saved = {p.name for p in (folder / family).iterdir()}
        assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= saved
    assert detect_image.labels(image.pipe) == ["artificial", "human"]
    assert detect_audio.labels(audio.pipe) == ["fake", "real"]
    assert registry.request_fields("detect_image") >= {"model", "images", "batch_size"}


def test_image_scores_are_probabilities_and_batching_does_not_change_them(detect_studio):
    pictures = [Image.fromarray(picture(96 + 16 * i, 80, seed=i)) for i in range(5)]
    batched = execute(detect_studio.models, "detect_image",
                      detect_image.Request(images=pictures, model="tiny-vit-detector", batch_size=4))
    single = [execute(detect_studio.models, "detect_image",
                      detect_image.Request(images=[p], model="tiny-vit-detector", batch_size=1)).probabilities[0]
              for p in pictures]
    assert batched.artifacts == [] and len(batched.probabilities) == 5
    for b, s in zip(batched.probabilities, single):
        assert set(b) == {"artificial", "human"}
        assert sum(b.values()) == pytest.approx(1.0, abs=1e-5)
        assert b["artificial"] == pytest.approx(s["artificial"], abs=1e-5)


def test_audio_windows_cover_the_clip_and_batches_need_no_padding(detect_studio):
    clips = [speech_like(9.0, 16000, seed=1), speech_like(1.5, 16000, seed=2), speech_like(2.0, 44100, seed=3)]
    # Two rates cannot share a request: one per rate, as the detector does.
    result = execute(detect_studio.models, "detect_audio",
                     detect_audio.Request(clips=clips[:2], sample_rate=16000, model="tiny-wav2vec2-detector",
                                          window_s=4.0, max_windows=8, batch_size=8))
    assert result.windows == [3, 1]  # 9 s in 4 s windows: 3, spread to cover the clip
    alone = execute(detect_studio.models, "detect_audio",
                    detect_audio.Request(clips=[clips[0]], sample_rate=16000, model="tiny-wav2vec2-detector",
                                         batch_size=1))
    assert result.probabilities[0]["fake"] == pytest.approx(alone.probabilities[0]["fake"], abs=1e-5)
    resampled = execute(detect_studio.models, "detect_audio",
                        detect_audio.Request(clips=[clips[2]], sample_rate=44100, model="tiny-wav2vec2-detector"))
    assert sum(resampled.probabilities[0].values()) == pytest.approx(1.0, abs=1e-4)
    windows = detect_audio.windows(np.zeros(16000 * 10, np.float32), 16000, 4.0, 8)
    assert [len(w) for w in windows] == [64000] * 3


@pytest.mark.parametrize("request_, message", [
    (detect_image.Request(images=[], model="tiny-vit-detector"), "no picture"),
    (detect_image.Request(images=[Image.new("RGB", (40, 300))], model="tiny-vit-detector"), "40×300 pixels"),
    (detect_image.Request(images=[Image.new("RGB", (99, 99))], model="tiny-vit-detector", batch_size=0), "Batch size"),
])
def test_image_requests_are_checked_with_messages_that_say_what_to_do(detect_studio, request_, message):
    with pytest.raises(InputError, match=message):
        execute(detect_studio.models, "detect_image", request_)


@pytest.mark.parametrize("clip, rate, message", [
    (np.zeros(1000, np.float32), 16000, "at least 0.5 s"),
    (np.zeros((2, 16000), np.float32), 16000, "mono"),
    (np.full(16000, np.nan, np.float32), 16000, "not numbers"),
    (np.zeros(16000, np.float32), 50, "Sample rate"),
])
def test_audio_requests_are_checked(detect_studio, clip, rate, message):
    with pytest.raises(InputError, match=message):
        execute(detect_studio.models, "detect_audio",
                detect_audio.Request(clips=[clip], sample_rate=rate, model="tiny-wav2vec2-detector"))


def test_scoring_stops_on_cancel(detect_studio):
    progress = Progress()
    progress.cancel_event.set()
    with pytest.raises(Cancelled):
        execute(detect_studio.models, "detect_image",
                detect_image.Request(images=[Image.new("RGB", (64, 64))], model="tiny-vit-detector"), progress)


def test_presets_carry_checked_bands_and_real_hub_models(detect_studio):
    for task in ("detect_image", "detect_audio"):
        presets = detect_studio.models.presets(task)
        tiers = {p.tier for p in presets.values()}
        assert {"tiny", "standard"} <= tiers
        for p in presets.values():
            th = Thresholds.from_preset(p)  # raises on a bad table
            assert 0 <= th.unsure_low <= th.likely <= 1 and p.license
            assert p.tiny or "/" in p.repo
