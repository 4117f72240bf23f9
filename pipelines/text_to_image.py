"""Text to image through diffusers' AutoPipelineForText2Image (SD 1.5, SDXL, SD3, Flux)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

# torch is imported in the functions that run a model: the web app imports this module for its Request.

from pipelines import safety_checker
from pipelines.contract import Task, upload
from pipelines.diffusion import (accepts, generators, make_scheduler, prompt_notices,
                                 request_view, step_callback)
from pipelines.embeddings import prompt_embeddings, repeat_for_batch
from pipelines.errors import InputError
from pipelines.ip_adapter import reference_strength
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
    # A character or style reference (a PIL image, never a path) for presets with an IP-Adapter,
    # and how strongly it steers the image (0: not at all, 1: as much as the adapter can).
    reference: Any = field(default=None, repr=False)
    reference_strength: float = field(default=0.6, metadata={"lo": 0.0, "hi": 1.0})
    # The same reference as an uploaded file (Concept art, the API, `--style-reference`): `check`
    # reads it into `reference`; the file is recorded as an ingredient the output was made with.
    reference_image: str = field(default="", metadata=upload("image", flag="style-reference",
                                                             title="style reference", relationship="inputTo"))
    # Filled in by the studio from the presets; part of the recorded parameters.
    # set by the studio from the style (apply_style), never by a visitor: no widget, option or preset key
    styled_prompt: str = field(default="", repr=False, metadata={"internal": True})
    styled_negative: str = field(default="", repr=False, metadata={"internal": True})

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
        self.check_reference(preset)

    def check_reference(self, preset: ModelPreset) -> None:
        """The reference and its strength: an image, 0..1, and a model with an adapter to follow it."""
        strength = self.reference_strength
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength):
            raise InputError(f"The reference strength must be a number from 0 to 1, not {strength!r}.")
        if not 0 <= strength <= 1:
            raise InputError(f"The reference strength {strength:g} is out of range: use 0 (ignore the reference) "
                             "to 1 (follow it as closely as the model can); 0.5-0.7 keeps the prompt in charge.")
        from PIL import Image

        if self.reference_image and self.reference is None:
            if not isinstance(self.reference_image, str):
                raise InputError("The style reference must be an uploaded picture file.")
            from pipelines.fill import open_image

            notices: list[str] = []  # conversions of a reference need no word: only its look is used
            self.reference = open_image(self.reference_image, "style reference", notices, preset.limit("max_pixels"))
        if self.reference is None:
            return

        if not isinstance(self.reference, Image.Image):
            raise InputError("The reference must be a picture (PNG, JPEG or WebP), not "
                             f"{type(self.reference).__name__}.")
        if not preset.ip_adapter:
            raise InputError(f"The model “{preset.label}” cannot follow a reference image. "
                             f"Choose one that can: {', '.join(reference_presets())}; or remove the reference."
                             f"{_family_words(preset)}")

    def apply_style(self, style: StylePreset) -> None:
        self.styled_prompt, self.styled_negative = style.apply(self.prompt.strip(), self.negative_prompt)


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load a text-to-image pipeline from a hub id or a folder and place it on the device (without the
    model's own safety checker when the operator turned it off)."""
    from diffusers import AutoPipelineForText2Image

    from pipelines import openvino_backend
    from pipelines.device import place_pipeline

    kwargs.update(safety_checker.load_kwargs(source, runtime, **kwargs))
    pipe = AutoPipelineForText2Image.from_pretrained(source, torch_dtype=dtype, **kwargs)
    notices = place_pipeline(pipe, device, runtime)
    return pipe, notices + openvino_backend.attach(pipe, source, device, runtime)  # exported on first run


def run(pipe, request: Request, progress: Progress) -> Result:
    """Generate `request.batch` images; each artifact carries the exact parameters that made it."""
    import torch

    from pipelines import openvino_backend
    progress.check()
    prompt = request.styled_prompt or request.prompt
    negative = request.styled_negative if request.styled_prompt else request.negative_prompt
    max_seq = 256 if accepts(pipe, "max_sequence_length") else None
    notices = prompt_notices(pipe, prompt, max_seq)

    view = request_view(pipe, make_scheduler(pipe, request.scheduler))
    backend, backend_notices = openvino_backend.swap(pipe, view, progress)
    notices += backend_notices
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
    strength = adapter_strength(view, request, kwargs)
    with torch.inference_mode(), reference_strength(strength):
        output = view(**kwargs)
        images = output.images
        if draft:
            images = progress.previewer.decode(view, images, request.height, request.width, preview=False)
            flags = safety_checker.check_images(view, images)
        else:
            flags = safety_checker.verdicts(output, len(images))
    progress.update(request.steps, request.steps, "done")
    images, seeds, withheld = safety_checker.keep_unflagged(images, seeds, flags)
    notices += withheld

    params = _params(request, prompt, negative, view)
    params.update(reference_params(request, strength))
    params["decoder"] = "tiny autoencoder (draft)" if draft else "full VAE"
    params["safety_checker"] = safety_checker.state(view)
    params["backend"] = backend
    artifacts = [ImageArtifact(image=img, params={**params, "seed": seed}) for img, seed in zip(images, seeds)]
    return Result(artifacts, notices)


def _is_flux(pipe) -> bool:
    return type(pipe).__name__.startswith("Flux")


def adapter_strength(pipe, request: Request, kwargs: dict[str, Any]) -> float:
    """Add the reference to a call of an adapter pipeline; returns the strength the adapter runs at.

    An adapter pipeline's UNet needs image embeddings on every call; without a reference it gets a
    blank one at strength 0, where the adapter's layers are skipped (the plain model's image).
    """
    if getattr(pipe, "image_encoder", None) is None:
        return 0.0
    from PIL import Image

    reference = request.reference
    blank = reference is None
    if blank:
        reference = Image.new("RGB", (64, 64))
    kwargs["ip_adapter_image"] = reference.convert("RGB")
    return 0.0 if blank else float(request.reference_strength)


def reference_params(request: Request, strength: float) -> dict[str, Any]:
    """What an output records about its reference: the image's hash (of its RGB pixels) and strength."""
    if request.reference is None:
        return {}
    import hashlib

    rgb = request.reference.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()).hexdigest()
    return {"reference_sha256": digest, "reference_size": [rgb.width, rgb.height], "reference_strength": strength}


def _family_words(preset: ModelPreset) -> str:
    """Which presets of the preset's own family can follow a reference, or that none can."""
    from pipelines import registry
    from pipelines.presets import load_presets

    adapters = [p for p in load_presets(TASK, registry.request_fields(TASK)).values() if p.ip_adapter]
    same = [p.name for p in adapters if p.family == preset.family]
    if same:
        return f" Of the {preset.family} models: {', '.join(same)}."
    return (f" No {preset.family} model here has a reference adapter (IP-Adapter presets exist for "
            f"{', '.join(sorted({p.family for p in adapters}))}).")


def reference_presets() -> list[str]:
    """Names of the text-to-image presets that can follow a reference image."""
    from pipelines import registry
    from pipelines.presets import load_presets

    return [name for name, p in load_presets(TASK, registry.request_fields(TASK)).items() if p.ip_adapter]


def _params(request: Request, prompt: str, negative: str, view) -> dict[str, Any]:
    skip = ("batch", "styled_prompt", "styled_negative", "reference", "reference_strength", "reference_image")
    params = {f.name: getattr(request, f.name) for f in fields(request) if f.name not in skip}
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


CONTRACT = Task(TASK, Request, artifacts=("image",), styled=True)
