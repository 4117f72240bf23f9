"""Tiny inpainting families: SD 1.5 inpainting (9-channel UNet), SDXL inpainting and Flux Fill.

They reuse the text-to-image components of pipelines.tiny.image with the input width of the
published inpainting models, and are saved with `save_pretrained` so the loader reads them
exactly as it reads a download.
"""
from __future__ import annotations

from pathlib import Path

from pipelines.tiny.image import flux_components, sd15_components, sdxl_components

# The UNet of an SD inpainting model reads 4 noisy latent channels + 4 masked-image latent
# channels + 1 mask channel.
INPAINT_UNET_CHANNELS = 9


def flux_fill_channels(latent_channels: int = 16, vae_scale_factor: int = 8) -> int:
    """Input width of a Flux Fill transformer: packed latents, packed masked-image latents and
    the packed full-resolution mask (one channel per pixel of a VAE cell), as FluxFillPipeline
    builds them."""
    packed = latent_channels * 4
    return packed + packed + vae_scale_factor * vae_scale_factor * 4


def build_sd15_inpaint(dest: Path) -> None:
    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline(**sd15_components(in_channels=INPAINT_UNET_CHANNELS),
                                          requires_safety_checker=False)
    pipe.save_pretrained(dest)


def build_sdxl_inpaint(dest: Path) -> None:
    from diffusers import StableDiffusionXLInpaintPipeline

    StableDiffusionXLInpaintPipeline(**sdxl_components(in_channels=INPAINT_UNET_CHANNELS)).save_pretrained(dest)


def build_flux_fill(dest: Path) -> None:
    from diffusers import FluxFillPipeline

    # 16 latent channels and a factor-8 VAE, as the published one: 384 inputs, 64 outputs.
    components = flux_components(in_channels=flux_fill_channels(16, 8), out_channels=16 * 4)
    # FluxFillPipeline takes no IP-Adapter image encoder.
    components.pop("image_encoder"), components.pop("feature_extractor")
    FluxFillPipeline(**components).save_pretrained(dest)
