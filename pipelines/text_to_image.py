"""Text to image through diffusers' AutoPipelineForText2Image (SD 1.5, SDXL, SD3, Flux)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from pipelines.diffusion import (accepts, generators, make_scheduler, prompt_notices,
                                 request_view, step_callback)
from pipelines.embeddings import prompt_embeddings, repeat_for_batch
from pipelines.errors import InputError
from pipelines.media import ImageArtifact, Result
from pipelines.presets import ModelPreset, StylePreset
from pipelines.progress import Progress

TASK = "text_to_image"
MAX_PROMPT_CHARS = 2000


@dataclass
class Request:
    """One text-to-image job. `seed` is resolved (never None) before it reaches `run`."""

    prompt: str
    model: str = "tiny-sd15"
    negative_prompt: str = ""
    style: str = "none"
    seed: int = 0
    steps: int = 25
    guidance: float = 7.0
    width: int = 512
    height: int = 512
    batch: int = 1
    scheduler: str = "default"
    # Filled in by the studio from the presets; part of the recorded parameters.
    styled_prompt: str = field(default="", repr=False)
    styled_negative: str = field(default="", repr=False)

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for anything this model cannot take; every message says what to do."""
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InputError("The prompt is empty: describe the image you want.")
        if len(self.prompt) > preset.limit("max_prompt_chars", MAX_PROMPT_CHARS):
            raise InputError(f"The prompt is {len(self.prompt)} characters; the limit is "
                             f"{preset.limit('max_prompt_chars', MAX_PROMPT_CHARS)}.")
        for name in ("steps", "batch", "width", "height", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    setattr(self, name, int(value))
                else:
                    raise InputError(f"{name.capitalize()} must be a whole number, not {value!r}.")
        if not isinstance(self.guidance, (int, float)) or not math.isfinite(self.guidance):
            raise InputError(f"Guidance must be a number, not {self.guidance!r}.")
        if not 0 <= self.guidance <= 30:
            raise InputError(f"Guidance {self.guidance} is out of range: use 0 to 30 (5-8 is typical).")
        max_steps = preset.limit("max_steps", 150)
        if not 1 <= self.steps <= max_steps:
            raise InputError(f"Steps {self.steps} is out of range: use 1 to {max_steps}.")
        max_batch = preset.limit("max_batch", 8)
        if not 1 <= self.batch <= max_batch:
            raise InputError(f"Batch {self.batch} is out of range: use 1 to {max_batch}.")
        if not 0 <= self.seed < 2**32:
            raise InputError(f"Seed {self.seed} is out of range: use 0 to {2**32 - 1}.")
        multiple = max(8, preset.limit("size_multiple", 8))
        lo, hi = preset.limit("min_size", 64), preset.limit("max_size", 2048)
        for name in ("width", "height"):
            value = getattr(self, name)
            if value % multiple:
                raise InputError(f"{name.capitalize()} {value} is not a multiple of {multiple}; "
                                 f"try {max(lo, value // multiple * multiple)}.")
            if not lo <= value <= hi:
                raise InputError(f"{name.capitalize()} {value} is outside this model's range {lo}-{hi} px.")
        max_pixels = preset.limit("max_pixels")
        if max_pixels and self.width * self.height > max_pixels:
            raise InputError(f"{self.width}x{self.height} is over this model's limit of {max_pixels:,} pixels.")

    def apply_style(self, style: StylePreset) -> None:
        self.styled_prompt, self.styled_negative = style.apply(self.prompt.strip(), self.negative_prompt)


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load a text-to-image pipeline from a hub id or a folder and place it on the device."""
    from diffusers import AutoPipelineForText2Image

    from pipelines.device import place_pipeline

    pipe = AutoPipelineForText2Image.from_pretrained(source, torch_dtype=dtype, **kwargs)
    return pipe, place_pipeline(pipe, device, runtime)


def run(pipe, request: Request, progress: Progress) -> Result:
    """Generate `request.batch` images; each artifact carries the exact parameters that made it."""
    progress.check()
    prompt = request.styled_prompt or request.prompt
    negative = request.styled_negative if request.styled_prompt else request.negative_prompt
    max_seq = 256 if accepts(pipe, "max_sequence_length") else None
    notices = prompt_notices(pipe, prompt, max_seq)

    view = request_view(pipe, make_scheduler(pipe, request.scheduler))
    seeds = [request.seed + i for i in range(request.batch)]
    kwargs: dict[str, Any] = dict(
        prompt=[prompt] * request.batch, num_inference_steps=request.steps, guidance_scale=request.guidance,
        width=request.width, height=request.height, generator=generators(seeds), output_type="pil",
        callback_on_step_end=step_callback(progress, request.steps, size=(request.height, request.width)),
    )
    draft = progress.previewer is not None and progress.previewer.draft
    if draft:  # skip the full VAE: the tiny autoencoder decodes the final latents
        kwargs["output_type"] = "latent"
        notices.append("Draft: decoded with the tiny preview autoencoder (fast, less detail). "
                       "Turn draft decoding off in the settings for the full-quality decode.")
    uses_negative = accepts(view, "negative_prompt") and not _is_flux(view)
    if negative and uses_negative:
        kwargs["negative_prompt"] = [negative] * request.batch
    elif negative:
        notices.append("This model does not use a negative prompt; it was ignored.")
    if max_seq:
        kwargs["max_sequence_length"] = max_seq
    embeds = prompt_embeddings(view, progress.embeddings, prompt, negative if uses_negative else None,
                               request.guidance, max_seq)
    if embeds is not None:  # encoded once per model and text, reused across runs
        kwargs.pop("prompt")
        kwargs.pop("negative_prompt", None)
        kwargs.update(repeat_for_batch(embeds, request.batch))
    with torch.inference_mode():
        images = view(**kwargs).images
        if draft:
            images = progress.previewer.decode(view, images, request.height, request.width, preview=False)
    progress.update(request.steps, request.steps, "done")

    params = _params(request, prompt, negative, view)
    params["decoder"] = "tiny autoencoder (draft)" if draft else "full VAE"
    artifacts = [ImageArtifact(image=img, params={**params, "seed": seed}) for img, seed in zip(images, seeds)]
    return Result(artifacts, notices)


def _is_flux(pipe) -> bool:
    return type(pipe).__name__.startswith("Flux")


def _params(request: Request, prompt: str, negative: str, view) -> dict[str, Any]:
    params = {k: v for k, v in asdict(request).items() if k not in ("batch", "styled_prompt", "styled_negative")}
    params.update(task=TASK, prompt=request.prompt, negative_prompt=request.negative_prompt,
                  prompt_sent=prompt, negative_prompt_sent=negative,
                  scheduler=request.scheduler, scheduler_class=type(view.scheduler).__name__,
                  pipeline=type(view).__name__)
    return params


FLOW_FAMILIES = {"sd3", "flux"}


def scheduler_choices(family: str) -> list[str]:
    """Schedulers offered for a model family before it is loaded (run-time checks are exact)."""
    if family in FLOW_FAMILIES:
        return ["default", "flow_euler", "flow_heun"]
    return ["default", "euler", "euler_a", "euler_trailing", "dpmpp_2m", "dpmpp_2m_karras", "ddim", "ddim_trailing",
            "unipc", "pndm", "lcm", "tcd"]
