"""The tiny music and sound-effect families: real classes, saved in the download layout, loaded
by the production loader (ModelManager -> the task module's `load`)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.parametrize("task, preset, model_class, processor_class, files", [
    ("music", "tiny-musicgen", "MusicgenForConditionalGeneration", "MusicgenProcessor",
     ["config.json", "generation_config.json", "model.safetensors", "processor_config.json", "tokenizer.json"]),
    ("music", "tiny-musicgen-stereo", "MusicgenForConditionalGeneration", "MusicgenProcessor", ["model.safetensors"]),
    ("music", "tiny-musicgen-melody", "MusicgenMelodyForConditionalGeneration", "MusicgenMelodyProcessor",
     ["model.safetensors", "processor_config.json"]),
    ("sound_effects", "tiny-stable-audio", "StableAudioPipeline", None,
     ["model_index.json", "transformer/config.json", "vae/diffusion_pytorch_model.safetensors", "scheduler"]),
    ("sound_effects", "tiny-audioldm2", "AudioLDM2Pipeline", None,
     ["model_index.json", "language_model/config.json", "vocoder/model.safetensors", "unet"]),
])
def test_tiny_family_loads_through_the_model_manager(studio, task, preset, model_class, processor_class, files):
    loaded = studio.models.get(task, preset)
    folder = Path(studio.models.source(loaded.preset)[0])
    for name in files:
        assert (folder / name).exists(), name
    if processor_class:
        assert type(loaded.pipe.model).__name__ == model_class
        assert type(loaded.pipe.processor).__name__ == processor_class
        assert loaded.pipe.takes_melody == ("melody" in preset)
    else:
        assert type(loaded.pipe).__name__ == model_class
        assert json.loads((folder / "model_index.json").read_text())["_class_name"] == model_class
    assert loaded.device == "cpu" and loaded.dtype == "fp32"


def test_tiny_musicgen_keeps_the_published_audio_layout(studio):
    from pipelines.music import Geometry

    model = studio.models.get("music", "tiny-musicgen").pipe.model
    geo = Geometry.of(model)
    assert (geo.sample_rate, geo.frame_rate, geo.hop, geo.delays, geo.channels) == (32000, 50.0, 640, 4, 1)
    assert geo.window_frames == 100          # a 2-s window, so that continuation is exercised cheaply
    books = model.audio_encoder.quantizer.layers[0].codebook.embed
    assert float(books.abs().max()) > 0      # a fresh EnCodec's codebooks are zeros: all tokens would sound alike
    stereo = Geometry.of(studio.models.get("music", "tiny-musicgen-stereo").pipe.model)
    assert (stereo.channels, stereo.delays) == (2, 4)


def test_presets_name_real_models_with_their_licenses(studio):
    music = studio.models.presets("music")
    assert {p.tier for p in music.values()} == {"tiny", "cpu", "standard", "quality"}
    for p in music.values():
        if p.repo:
            assert p.repo.startswith("facebook/musicgen") and p.license == "CC-BY-NC-4.0" and not p.commercial_use
    sfx = studio.models.presets("sound_effects")
    assert {p.tier for p in sfx.values()} == {"tiny", "cpu", "standard", "quality"}
    repos = {p.repo: p for p in sfx.values() if p.repo}
    assert repos["stabilityai/stable-audio-open-1.0"].license == "Stability AI Community License"
    assert repos["cvssp/audioldm2"].license == "CC-BY-NC-SA-4.0"
    assert not any(p.commercial_use for p in repos.values())
