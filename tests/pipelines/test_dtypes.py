"""Precision. On CUDA every preset without a dtype runs fp16 and the Flux/SD3 presets bf16, paths the
fp32 suite never takes. Here the twins of each family run in bf16 on the CPU through the same code as
CUDA bf16 (the model layer picks the dtype, the task's `load` casts, `run` calls the same pipeline),
and the fp16 decisions are checked as decisions: which dtype a device and preset get, and which
component is kept in or upcast to fp32 when the rest runs in half precision.

This CPU emulates bf16 (no AVX-512 BF16 here), so the runs are one or two steps at 64 px.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import device, fill, music, video
from pipelines.device import Runtime, pick_dtype
from pipelines.models import ModelManager
from pipelines.runner import execute
from pipelines.text_to_image import Request


@pytest.fixture(scope="module")
def bf16_models(studio):
    """The model layer as an operator's `dtype = "bf16"` makes it (on CUDA: the bf16 presets' path)."""
    return ModelManager(studio.settings.data_dir, Runtime(dtype="bf16"), offline=True)


def assert_picture(image: Image.Image) -> None:
    """Decoded to a picture: not one flat colour (NaNs or overflow come out black or flat)."""
    assert np.asarray(image).std() > 1.0


@pytest.mark.parametrize("model", ["tiny-sd15", "tiny-flux"])
def test_text_to_image_twins_run_in_bf16(bf16_models, model):
    result = execute(bf16_models, "text_to_image", Request(prompt="a lighthouse", model=model, steps=1, width=64,
                                                           height=64))
    loaded = bf16_models.get("text_to_image", model)
    denoiser = device.denoiser_of(loaded.pipe)
    assert (loaded.dtype, denoiser.dtype, loaded.pipe.vae.dtype) == ("bf16", torch.bfloat16, torch.bfloat16)
    assert result.artifacts[0].params["dtype"] == "bf16"
    assert_picture(result.artifacts[0].image)


def test_fill_twin_runs_in_bf16(bf16_models):
    source = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    result = execute(bf16_models, "fill", fill.Request(image=source, mask=mask, prompt="a door", steps=1, seed=2))
    assert bf16_models.get("fill", "tiny-sd15-inpaint").pipe.unet.dtype == torch.bfloat16
    artifact = result.artifacts[0]
    assert artifact.params["dtype"] == "bf16" and artifact.image.size == (64, 64)
    inside = np.asarray(artifact.image)[16:48, 16:48]
    assert not np.array_equal(inside, np.asarray(source)[16:48, 16:48])  # the masked area was repainted


def test_video_twin_runs_in_bf16(bf16_models):
    result = execute(bf16_models, "video", video.Request(prompt="waves", model="tiny-ltx", steps=2, width=64, height=64,
                                                         frames=9, fps=8))
    artifact = result.artifacts[0]
    assert artifact.params["dtype"] == "bf16" and len(artifact.frames) == 9
    assert np.std(artifact.frames[0]) > 1.0


def test_music_twin_runs_in_bf16(bf16_models):
    result = execute(bf16_models, "music", music.Request(prompt="ambient pads", model="tiny-musicgen", duration_s=0.5))
    artifact = result.artifacts[0]
    assert artifact.params["dtype"] == "bf16"
    assert artifact.samples.dtype == np.float32 and np.isfinite(artifact.samples).all() and artifact.samples.any()


# ---- decisions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("where, preferred, bf16_ok, expected", [
    ("cuda", "auto", True, torch.float16),      # a preset without a dtype: fp16 on CUDA
    ("cuda", "fp16", True, torch.float16),
    ("cuda", "bf16", True, torch.bfloat16),     # Flux, SD3, LTX: bf16 where the card has it
    ("cuda", "bf16", False, torch.float16),     # ... and fp16 on cards without bf16 (pre-Ampere)
    ("cuda", "fp32", True, torch.float32),
    ("mps", "bf16", True, torch.float16),
])
def test_the_dtype_a_gpu_and_preset_get(monkeypatch, where, preferred, bf16_ok, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    assert pick_dtype(where, preferred) == expected


@pytest.mark.parametrize("native_bf16, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_a_cpu_runs_bf16_only_where_it_is_native(monkeypatch, native_bf16, expected):
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: native_bf16)
    assert pick_dtype("cpu", "bf16") == expected
    assert pick_dtype("cpu", "auto", setting="fp16") == torch.float16  # the operator's setting wins


def test_sdxl_vae_is_flagged_for_fp32_decoding_as_published(studio):
    """SDXL's published VAE overflows in fp16 and says so (`force_upcast`); diffusers' SDXL pipelines
    decode in fp32 when it is set. SD 1.5's pipeline decodes in the VAE's own dtype."""
    sdxl = studio.models.get("text_to_image", "tiny-sdxl").pipe
    assert sdxl.vae.config.force_upcast is True
    fill_sdxl = studio.models.get("fill", "tiny-sdxl-inpaint").pipe
    assert fill_sdxl.vae.config.force_upcast is True


def test_sdxl_decodes_in_fp32_when_the_rest_is_fp16(studio):
    """The fp16 path itself, on the CPU: the SDXL twin's VAE is fp16 at rest and decodes in fp32."""
    models = ModelManager(studio.settings.data_dir, Runtime(dtype="fp16"), offline=True)
    vae = models.get("text_to_image", "tiny-sdxl").pipe.vae
    seen = []
    original = type(vae).decode

    def spy(self, z, *args, **kwargs):
        seen.append((self.dtype, z.dtype))
        return original(self, z, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(vae), "decode", spy)
        result = execute(models, "text_to_image", Request(prompt="a fox", model="tiny-sdxl", steps=1, width=64,
                                                          height=64))
    assert seen == [(torch.float32, torch.float32)]
    assert vae.dtype == torch.float16  # cast back after the decode
    assert result.artifacts[0].params["dtype"] == "fp16"
    assert_picture(result.artifacts[0].image)


def test_wan_keeps_its_vae_in_fp32_under_half_precision(studio):
    folder, _ = studio.models.source(studio.models.preset("video", "tiny-wan"))
    wan, _ = video.load(folder, "cpu", torch.float16, Runtime())
    pipe = wan.pipes["text"]
    assert (pipe.transformer.dtype, pipe.text_encoder.dtype, pipe.vae.dtype) == (
        torch.float16, torch.float16, torch.float32)
