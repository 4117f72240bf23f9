"""The creative pass of an upscale: detail added to a super-resolved picture by image-to-image at a
low strength, tile by tile, on a text-to-image model's own weights (a variation preset's pipeline,
`AutoPipelineForImage2Image.from_pipe`: no second copy).

A diffusion model works well at about its training size, never on a 4K picture at once, so the
result is cut into tiles of `creative_tile` pixels with a quarter tile of overlap, each tile is
renoised as far as `creative_strength` says and denoised, and the tiles are blended across their
overlaps by pipelines/tiling.py, as the upscaler's tiles are. At strength 0 nothing is denoised:
each tile only goes through the model's VAE (encoded to its latent's mean and decoded), the part of
the pass every strength shares, so the result is the plain upscale as the VAE reproduces it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from pipelines import safety_checker
from pipelines.diffusion import accepts, generators, make_scheduler, request_view, sent_prompts
from pipelines.progress import Progress
from pipelines.tiling import blend_tiled, tile_plan

# Flux and SD3 latents are packed in 2x2 patches of an 8x VAE: 16 px serves every family.
MULTIPLE = 16
STAGE = "adding detail, tile"


class Withheld(Exception):
    """A tile was blanked by the model's own safety checker: the picture is not handed out."""


def overlap_for(tile: int) -> int:
    """The overlap of the creative tiles: a quarter tile, so the blend hides where two tiles' details differ."""
    return tile // 4


def tile_count(size: tuple[int, int], tile: int) -> int:
    """How many tiles the creative pass over a picture of `size` runs (for progress)."""
    return sum(len(row) for row in tile_plan(*size, tile, overlap_for(tile)))


def creative_pass(pipe, image: Image.Image, request, progress: Progress, done: int,
                  total: int) -> tuple[Image.Image, dict[str, Any], list[str]]:
    """`image` with detail added by `pipe` (an image-to-image pipeline) at `request.creative_strength`,
    tile by tile; returns the image, what it records in the parameters, and notices. Raises
    `Withheld` when the model's safety checker blanks a tile."""
    from pipelines import openvino_backend

    sent = sent_prompts(pipe, request.creative_prompt, "")
    steps_run = math.floor(request.creative_steps * request.creative_strength)
    # one view with the OpenVINO modules (when the setting asks) for every tile; each tile's own view copies it
    swapped = request_view(pipe, make_scheduler(pipe, "default"))
    backend, backend_notices = openvino_backend.swap(pipe, swapped, progress)
    render = _renderer(swapped, request, sent, progress)
    tile = request.creative_tile
    result, count = blend_tiled(image, 1.0, tile, overlap_for(tile), render, progress, done, total, STAGE)
    params = dict(creative_model=request.creative_model, creative_prompt=request.creative_prompt,
                  creative_strength=request.creative_strength, creative_steps=request.creative_steps,
                  creative_steps_run=steps_run, creative_guidance=request.creative_guidance,
                  creative_tile=tile, creative_overlap=overlap_for(tile), creative_tiles=count, seed=request.seed,
                  creative_pipeline=type(pipe).__name__, safety_checker=safety_checker.state(pipe),
                  creative_backend=backend)
    notices = sent.notices + backend_notices + [
        f"Detail was added by image-to-image at strength {request.creative_strength:g} "
        f"({steps_run} step(s)) over {count} tile(s) of {tile} px."]
    return result, params, notices


def _renderer(pipe, request, sent, progress: Progress):
    """What one tile becomes: padded (edge repeated) to the model's multiple, through the VAE or
    image-to-image, cropped back; a float32 (h, w, 3) tensor in [0, 255]."""
    seeds = iter(range(request.seed, request.seed + 2**20))   # a seed per tile: no repeated noise pattern

    def render(pixels: np.ndarray, out_size: tuple[int, int]):
        import torch

        h, w = pixels.shape[:2]
        need_h, need_w = math.ceil(h / MULTIPLE) * MULTIPLE, math.ceil(w / MULTIPLE) * MULTIPLE
        padded = np.pad(pixels, ((0, need_h - h), (0, need_w - w), (0, 0)), mode="edge")
        tile = Image.fromarray(padded, "RGB")
        seed = next(seeds)
        with torch.inference_mode():
            if request.creative_strength == 0:
                out = _vae_round_trip(pipe, tile)
            else:
                out = _denoise(pipe, tile, request, sent, seed, progress)
        return torch.from_numpy(np.ascontiguousarray(out[:h, :w])).float().mul_(255.0)

    return render


def _vae_round_trip(pipe, tile: Image.Image) -> np.ndarray:
    """The tile encoded to its latent's mean and decoded: (h, w, 3) floats in [0, 1]."""
    vae = pipe.vae
    x = pipe.image_processor.preprocess(tile).to(vae.device, vae.dtype)
    decoded = vae.decode(vae.encode(x).latent_dist.mode()).sample
    return pipe.image_processor.postprocess(decoded, output_type="np")[0]


def _denoise(pipe, tile: Image.Image, request, sent, seed: int, progress: Progress) -> np.ndarray:
    """One tile renoised as far as the strength says and denoised: (h, w, 3) floats in [0, 1]."""
    view = request_view(pipe, make_scheduler(pipe, "default"))

    def cancel_between_steps(_pipe, _step, _timestep, callback_kwargs):
        progress.check()   # a Cancel does not wait for the tile to finish
        return callback_kwargs

    kwargs: dict[str, Any] = dict(image=tile, strength=float(request.creative_strength),
                                  num_inference_steps=request.creative_steps, guidance_scale=request.creative_guidance,
                                  generator=generators([seed])[0], output_type="np",
                                  callback_on_step_end=cancel_between_steps, **sent.kwargs())
    if accepts(view, "height"):  # Flux and SD3 take the size; SD reads it from the image
        kwargs.update(height=tile.height, width=tile.width)
    output = view(**kwargs)
    if safety_checker.verdicts(output, 1)[0]:
        raise Withheld()
    return np.asarray(output.images[0], np.float32)
