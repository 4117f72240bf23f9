"""Live previews for video: the clip's first frame, decoded from the current latents mid-run.

diffusers ships tiny autoencoders for image latents only (TAESD, TAESDXL, TAESD3, TAEF1), none
for the LTX, Wan, CogVideoX or SVD video VAEs. So a video preview decodes just the first latent
frame with the model's own VAE, at about 1/N of a full decode for a clip of N latent frames.
Wan's and CogVideoX's VAEs are causal in time, so that is exactly the clip's first frame as it
stands; LTX's decoder looks a little ahead, so its preview can differ slightly from the final
first frame. Large frames are decoded from 2x-pooled latents (a quarter of the work), as the
image previews are.

Every family keeps its latents in its own layout (LTX packs them into tokens, CogVideoX and SVD put
frames before channels, Wan normalises per channel); `first_latent_frame` undoes each as the
pipeline itself does before its final decode. Anything it does not recognise gives no preview,
never a failed job.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from PIL import Image

log = logging.getLogger(__name__)

POOL_FROM = 32  # latent side (both) from which a preview is decoded at half size


def first_latent_frame(pipe, latents: torch.Tensor, height: int, width: int, frames: int):
    """The first frame's latent in the VAE's own scale, (1, C, 1, h, w) (SVD: (1, C, h, w)), and
    the extra decode arguments; None when the layout is not one this module knows."""
    name = type(pipe).__name__
    if name.startswith("LTX"):
        t, s = pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio
        f, h, w = (frames - 1) // t + 1, height // s, width // s
        p, pt = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
        tokens = (f // pt) * (h // p) * (w // p)
        if latents.ndim != 3 or latents.shape[1] < tokens:
            return None
        # LTXConditionPipeline puts the tokens of extra conditioning frames first.
        latents = pipe._unpack_latents(latents[:1, -tokens:], f, h, w, p, pt)
        latents = pipe._denormalize_latents(latents, pipe.vae.latents_mean, pipe.vae.latents_std,
                                            pipe.vae.config.scaling_factor)
        if not pipe.vae.config.timestep_conditioning:
            return latents[:, :, :1], (), {}
        # decoded at the published decode timestep, without the final decode's noise
        return latents[:, :, :1], (torch.tensor([0.03], device=latents.device),), {}
    if name.startswith("Wan"):
        cfg = pipe.vae.config
        mean = torch.tensor(cfg.latents_mean).view(1, cfg.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        std = torch.tensor(cfg.latents_std).view(1, cfg.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        return latents[:1, :, :1] * std + mean, (), {}
    if name.startswith("CogVideoX"):
        return latents[:1, :1].permute(0, 2, 1, 3, 4) / pipe.vae_scaling_factor_image, (), {}
    if name == "StableVideoDiffusionPipeline":
        return latents[:1, 0] / pipe.vae.config.scaling_factor, (), {"num_frames": 1}
    return None


@torch.inference_mode()
def decode_first_frame(pipe, latents: torch.Tensor, height: int, width: int, frames: int) -> Image.Image | None:
    """The first frame of the clip as it stands now, as a PIL image (None when not possible)."""
    found = first_latent_frame(pipe, latents, height, width, frames)
    if found is None:
        return None
    z, args, kwargs = found
    if min(z.shape[-2:]) >= POOL_FROM:
        pooled = F.avg_pool2d(z.flatten(0, -3), 2)
        z = pooled.view(*z.shape[:-2], *pooled.shape[-2:])
    vae = pipe.vae
    args = tuple(a.to(vae.dtype) for a in args)
    out = vae.decode(z.to(vae.dtype), *args, **kwargs, return_dict=False)[0]
    picture = out[0, :, 0] if out.ndim == 5 else out[0]           # (3, H, W) in [-1, 1]
    picture = ((picture.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(picture)


def preview_or_none(pipe, latents, height: int, width: int, frames: int) -> Image.Image | None:
    """`decode_first_frame`, but a failure costs the preview only, never the job."""
    try:
        return decode_first_frame(pipe, latents, height, width, frames)
    except Exception as e:  # a preview is a courtesy: log it and carry on without one
        log.warning("video preview failed for %s: %s", type(pipe).__name__, e)
        return None
