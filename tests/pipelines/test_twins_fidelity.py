"""The tiny twins have the properties the studio depends on: each family's latent space (16 channels
for SD3 and Flux) and the preview decoder of that space, CLIP's real tokenizer, and builds that are
redone when a twin changes.

What the twins cannot show: the T5 tokenizer of the SD3 and Flux twins has one token per character
(the real T5 has ~32,000 pieces), so their T5 truncation notices come about 4x early; the tests
below count prompts with CLIP only.
"""
from __future__ import annotations

import sys

import pytest

from pipelines.runner import execute
from pipelines.text_to_image import Request
from pipelines.tiny import FAMILIES, REVISIONS, ensure_built
from pipelines.tiny.tokenizers import clip_tokenizer

# Each family's published VAE latent channels, and the tiny autoencoder madebyollin published for it.
LATENT_CHANNELS = {"sd15": 4, "sd21": 4, "sdxl": 4, "sd3": 16, "flux": 16}
PREVIEW_DECODER = {"sd15": "taesd", "sd21": "taesd", "sdxl": "taesdxl", "sd3": "taesd3", "flux": "taef1"}
COMMON_WORDS = ("a red fox sits on a mossy stone in the quiet morning forest while soft light falls through "
                "tall green trees and small birds sing").split()


def decoder_of(manager, preset) -> str:
    """The published decoder a preset's `preview` names (a tiny twin names the one it mirrors)."""
    decoder = manager.preset("preview_decoder", preset.preview)
    return decoder.tiny or decoder.repo.removeprefix("madebyollin/")


@pytest.mark.parametrize("task", ["text_to_image", "fill"])
def test_every_preset_previews_through_its_familys_decoder(studio, task):
    presets = [p for p in studio.models.presets(task).values() if p.preview]
    assert {p.family for p in presets} >= {"sd15", "sdxl", "flux"}
    for preset in presets:
        assert decoder_of(studio.models, preset) == PREVIEW_DECODER[preset.family], preset.name


@pytest.mark.parametrize("task, model", [("text_to_image", "tiny-sd15"), ("text_to_image", "tiny-sdxl"),
                                         ("text_to_image", "tiny-sd3"), ("text_to_image", "tiny-flux"),
                                         ("fill", "tiny-flux-fill")])
def test_twins_have_their_familys_latent_space_and_matching_preview_decoder(studio, task, model):
    loaded = studio.models.get(task, model)
    vae = loaded.pipe.vae.config
    channels = LATENT_CHANNELS[loaded.preset.family]
    assert vae.latent_channels == channels
    decoder = studio.models.get("preview_decoder", loaded.preset.preview).pipe.config
    assert decoder.latent_channels == channels
    # TAESD's published layout: 1/3/3/3 encoder and 3/3/3/1 decoder blocks, factor-8 geometry
    assert (list(decoder.num_encoder_blocks), list(decoder.num_decoder_blocks)) == ([1, 3, 3, 3], [3, 3, 3, 1])
    if loaded.preset.family == "sd3":
        assert (vae.scaling_factor, vae.shift_factor) == (1.5305, 0.0609)
        assert loaded.pipe.transformer.config.in_channels == 16 and loaded.pipe.transformer.config.patch_size == 2
    if loaded.preset.family == "flux":
        assert (vae.scaling_factor, vae.shift_factor) == (0.3611, 0.1159)
        assert loaded.pipe.transformer.config.out_channels in (None, 64)  # 16 channels in 2x2 packed patches


def test_clip_tokenizer_gives_sds_own_token_ids(studio):
    tokenizer = studio.models.get("text_to_image", "tiny-sd15").pipe.tokenizer
    expected = [49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407]  # CLIP's ids for this sentence
    assert tokenizer("a photograph of an astronaut riding a horse").input_ids == expected
    assert len(tokenizer) == 49408 and tokenizer.model_max_length == 77
    assert clip_tokenizer(pad_token="!").pad_token_id == 0  # SDXL's and SD3's second tokenizer pad


@pytest.mark.parametrize("model", ["tiny-sd15", "tiny-sdxl"])
def test_prompt_cut_notice_counts_clip_tokens_not_characters(studio, model):
    tokenizer = clip_tokenizer()
    common = " ".join(COMMON_WORDS * 10)[:300].rsplit(" ", 1)[0]
    assert len(common) > 290 and len(tokenizer(common).input_ids) < 70
    result = execute(studio.models, "text_to_image",
                     Request(prompt=common, model=model, steps=1, width=128, height=128))
    assert not [n for n in result.notices if "tokens" in n]  # ~60 tokens: SD reads all of it
    long = " ".join((COMMON_WORDS * 5)[:80])
    result = execute(studio.models, "text_to_image", Request(prompt=long, model=model, steps=1, width=128, height=128))
    (notice,) = [n for n in result.notices if "tokens" in n]
    count = len(tokenizer(long).input_ids)
    assert count > 80 and f"The prompt is {count} tokens" in notice and "reads 77" in notice
    kept = tokenizer.decode(tokenizer(long, add_special_tokens=False).input_ids[:75]).split()
    assert f"…{' '.join(kept[-4:])}”" in notice  # cut where CLIP cuts: after the 75th token


def test_a_twin_built_by_an_older_revision_is_rebuilt(tmp_path, monkeypatch):
    calls = []

    def build(dest):
        calls.append(dest)
        (dest / "weights").write_text(str(len(calls)))

    monkeypatch.setitem(FAMILIES, "fake", f"{__name__}:_fake_builder")
    monkeypatch.setattr(sys.modules[__name__], "_fake_builder", build)
    folder = ensure_built("fake", tmp_path)
    assert ensure_built("fake", tmp_path) == folder and len(calls) == 1  # complete and current: reused
    monkeypatch.setitem(REVISIONS, "fake", 2)
    ensure_built("fake", tmp_path)
    assert len(calls) == 2 and (folder / "weights").read_text() == "2"  # an older revision: rebuilt
    ensure_built("fake", tmp_path)
    assert len(calls) == 2


def test_changed_twins_have_a_new_revision():
    """The twins this change made different: a data folder built before is not reused."""
    for family in ("sd15", "sdxl", "sd3", "flux", "sd15-inpaint", "sdxl-inpaint", "flux-fill", "taesd", "sd15-ip-adapter",
                   "sdxl-ip-adapter"):
        assert REVISIONS[family] >= 2, family
    assert {"taesdxl", "taesd3", "taef1", "vits-phonemes"} <= set(FAMILIES)


def _fake_builder(dest):  # replaced per test
    raise AssertionError("not patched")


def test_a_preset_may_name_its_tiny_builder_directly(tmp_path, monkeypatch):
    """A new task keeps its tiny builder in its own module: `tiny = "module:function"` builds it."""
    def build(dest):
        (dest / "weights").write_text("built")

    monkeypatch.setattr(sys.modules[__name__], "_fake_builder", build)
    built = ensure_built(f"{__name__}:_fake_builder", tmp_path)
    assert built.name == f"{__name__}-_fake_builder" and (built / "weights").read_text() == "built"
    with pytest.raises(KeyError, match="module:function"):
        ensure_built("no-such-family", tmp_path)
