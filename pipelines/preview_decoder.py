"""Live previews: diffusers' AutoencoderTiny (TAESD, TAESDXL, TAESD3, TAEF1) decodes the current
latents every few steps for a fraction of the full VAE's cost.

It is loaded through the model layer like any model (presets/models/preview_decoder.toml) and
named by a generating preset's `preview` key. The same decoder can make a draft final image
on CPUs, where the full VAE decode costs more than a denoising step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# torch is imported in the functions that run a model: the web app reads this module's CONTRACT.
from PIL import Image

from pipelines.contract import Task
from pipelines.presets import ModelPreset


@dataclass
class Request:
    """Not a visitor-facing task: a component other tasks load for previews."""

    model: str

    def check(self, preset: ModelPreset) -> None:
        pass


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny.from_pretrained(source, torch_dtype=dtype, **kwargs).to(device).eval()
    return vae, []


def unpack_latents(pipe, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Latents as the VAE takes them: Flux packs 2x2 patches into tokens, the others do not."""
    if latents.ndim == 3 and hasattr(pipe, "_unpack_latents"):
        return pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
    return latents


# Previews of images larger than this (in latent pixels per side; 48 = 384 px) decode 2x-pooled
# latents: a quarter of the pixels, plenty for a preview in the page, and a quarter of the cost.
PREVIEW_MAX_LATENT_SIDE = 48


def decode(decoder, latents: torch.Tensor, preview: bool = False) -> list[Image.Image]:
    """Decode latents (in the pipeline's scaled latent space) into PIL images; `preview` allows
    a half-size decode of large images."""
    import torch

    with torch.inference_mode():
        if preview and max(latents.shape[-2:]) > PREVIEW_MAX_LATENT_SIDE:
            latents = torch.nn.functional.avg_pool2d(latents, 2)
        latents = latents.to(device=decoder.device, dtype=decoder.dtype)
        images = decoder.decode(latents).sample
        images = (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
    return [Image.fromarray((img * 255).round().astype("uint8")) for img in images]


CONTRACT = Task("preview_decoder", Request, artifacts=("image",), text_field=None)
