"""Variations and image-to-image through diffusers' AutoPipelineForImage2Image (SD 1.5, SDXL, SD3, Flux).

`run` reads as fixed steps: 1. the checked source, scaled to the model's working size
(`Request.check` prepared it), 2. the prompts, 3. noise added to the source's latents as far as
`strength` says and denoised from there on a per-request view of the shared pipeline, 4. the
result scaled back to the source's size. Strength 0.35 ("subtle") keeps the composition and
colours and changes details; 0.75 ("strong") keeps the rough layout only; 1 ignores the source.

Models: a text-to-image model's own weights seen through `AutoPipelineForImage2Image.from_pipe`
(`from_base`, called by the model layer when a variation preset names a text-to-image preset's
weights), which adds no second copy of the weights.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

# torch is imported in the functions that run a model: the web app imports this module for its Request.
from PIL import Image

from pipelines import safety_checker
from pipelines.contract import Task, upload
from pipelines.diffusion import (accepts, generators, make_scheduler, pipeline_over, request_view, sent_prompts,
                                 step_callback)
from pipelines.errors import InputError
from pipelines.fill import open_image
from pipelines.media import ImageArtifact, Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress

TASK = "variation"
BASE_TASK = "text_to_image"
MAX_PROMPT_CHARS = 2000
# Fooocus's "Vary (Subtle)" and "Vary (Strong)": how much of the source is noised away.
SHORTCUTS = {"subtle": 0.35, "strong": 0.75}
AMOUNTS = ("custom", *SHORTCUTS)


@dataclass
class Request:
    """One variation. `image` is a file path or PIL image; `seed` is resolved before `run`.

    `amount` "subtle" (strength 0.35) or "strong" (0.75) overrides `strength`; "custom" uses it.
    An empty prompt varies the picture without steering it (`prompt_from_params` fills it from
    a studio output's recorded parameters).
    """

    image: Any = field(metadata=upload("image", flag="source", title="source image", relationship="parentOf"))
    prompt: str = ""
    model: str = "tiny-sd15"
    negative_prompt: str = ""
    amount: str = field(default="custom", metadata={"choices": AMOUNTS})
    strength: float = field(default=0.5, metadata={"lo": 0.0, "hi": 1.0})
    steps: int = 25
    guidance: float = 7.0
    seed: int = 0
    scheduler: str = "default"
    # gallery id of the source when it is an earlier output: set by the studio, not typed (no widget)
    parent_id: str = field(default="", metadata={"internal": True})

    def check(self, preset: ModelPreset) -> None:
        """Validate every field and read the source; raise `InputError` saying what to do.

        Keeps the source scaled to the model's size for `run` (not a dataclass field, so it is
        never recorded)."""
        self._check_scalars(preset)
        notices: list[str] = []
        source = open_image(self.image, "source image", notices, preset.limit("max_pixels"),
                            preset.limit("min_size", 16))
        size = model_size(source.size, preset.limit("work_size", 512), max(8, preset.limit("size_multiple", 8)))
        work = source if size == source.size else source.resize(size, Image.Resampling.LANCZOS)
        if size != source.size:
            notices.append(f"The {source.width}×{source.height} source was varied at {size[0]}×{size[1]}, the size "
                           "this model works at, and the result scaled back to the source's size.")
        digest = hashlib.sha256(f"{source.width}x{source.height}:".encode() + source.tobytes()).hexdigest()
        self._prepared = _Prepared(work, source.size, digest, notices)

    def _check_scalars(self, preset: ModelPreset) -> None:
        for name in ("prompt", "negative_prompt", "scheduler", "parent_id"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"{name.replace('_', ' ').capitalize()} must be text, not {getattr(self, name)!r}.")
        limit = preset.limit("max_prompt_chars", MAX_PROMPT_CHARS)
        for name in ("prompt", "negative_prompt"):
            if len(getattr(self, name)) > limit:
                raise InputError(f"The {name.replace('_', ' ')} is {len(getattr(self, name))} characters; "
                                 f"the limit is {limit}.")
        if self.amount not in AMOUNTS:
            raise InputError(f"Amount {self.amount!r} is not one of: {', '.join(AMOUNTS)}.")
        for name in ("steps", "seed"):
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                setattr(self, name, value := int(value))
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{name.capitalize()} must be a whole number, not {value!r}.")
        for name, lo, hi in (("guidance", 0, 50), ("strength", 0, 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{name.capitalize()} must be a number, not {value!r}.")
            if not lo <= value <= hi:
                raise InputError(f"{name.capitalize()} {value} is out of range: use {lo} to {hi}.")
        if self.amount != "custom":
            self.strength = SHORTCUTS[self.amount]
        max_steps = preset.limit("max_steps", 150)
        if not 1 <= self.steps <= max_steps:
            raise InputError(f"Steps {self.steps} is out of range: use 1 to {max_steps}.")
        if self.steps * self.strength < 1:
            raise InputError(f"With strength {self.strength:g}, {self.steps} step(s) run no denoising step, so "
                             f"nothing would change: use at least {math.ceil(1 / max(self.strength, 1e-3))} steps "
                             "or a higher strength.")
        if not 0 <= self.seed < 2**32:
            raise InputError(f"Seed {self.seed} is out of range: use 0 to {2**32 - 1}.")

    def take_prepared(self) -> "_Prepared":
        """What `check` prepared, handed over once (the job record should not keep images alive)."""
        prepared = self.__dict__.pop("_prepared", None)
        if prepared is None:
            raise RuntimeError("Request.check(preset) must run before each run(); it reads the source")
        return prepared


@dataclass
class _Prepared:
    work: Image.Image               # RGB, the model's size
    source_size: tuple[int, int]
    source_sha256: str              # of the decoded RGB pixels, so a re-encoded copy still matches
    notices: list[str]


def model_size(size: tuple[int, int], work: int, multiple: int) -> tuple[int, int]:
    """The size to diffuse a `size` source at: its own when it is no larger than the model's working
    area (work×work pixels), otherwise scaled down to it; both sides rounded to the model's multiple."""
    w, h = size
    scale = min(1.0, work / math.sqrt(w * h))
    return (max(multiple, round(w * scale / multiple) * multiple), max(multiple, round(h * scale / multiple) * multiple))


def prompt_from_params(params: dict[str, Any]) -> dict[str, Any]:
    """Request fields taken from a studio output's recorded parameters: its prompt and negative
    prompt (as typed, before a style was added), and its model when that is a variation preset too.
    Prompts withheld from the manifest (recorded only as a hash) are not there to take."""
    fields = {key: params[key] for key in ("prompt", "negative_prompt") if isinstance(params.get(key), str)}
    if params.get("task") == TASK and isinstance(params.get("strength"), (int, float)):
        fields["strength"] = float(params["strength"])
    return fields


def load(source: str, device: str, dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load an image-to-image pipeline from a hub id or a folder (a text-to-image repository loads as
    the image-to-image pipeline of its family) and place it on the device."""
    from diffusers import AutoPipelineForImage2Image

    from pipelines import openvino_backend
    from pipelines.device import place_pipeline

    kwargs.update(safety_checker.load_kwargs(source, runtime, **kwargs))
    pipe = AutoPipelineForImage2Image.from_pretrained(source, torch_dtype=dtype, **kwargs)
    notices = place_pipeline(pipe, device, runtime)
    return pipe, notices + openvino_backend.attach(pipe, source, device, runtime)  # exported on first run


def from_base(t2i_pipe) -> Any:
    """An image-to-image pipeline over a loaded text-to-image pipeline's modules: no weights copied
    and the shared pipeline untouched (`pipeline_over`)."""
    return pipeline_over("AutoPipelineForImage2Image", t2i_pipe)


def run(pipe, request: Request, progress: Progress) -> Result:
    """One variation of the source at the source's size."""
    import torch

    from pipelines import openvino_backend
    progress.check()
    prep = request.take_prepared()
    notices = list(prep.notices)
    sent = sent_prompts(pipe, request.prompt, request.negative_prompt)
    notices += sent.notices
    view = request_view(pipe, make_scheduler(pipe, request.scheduler))
    backend, backend_notices = openvino_backend.swap(pipe, view, progress)   # the pipeline made over text to image's
    notices += backend_notices
    steps_run = max(1, int(request.steps * request.strength))
    width, height = prep.work.size
    kwargs: dict[str, Any] = dict(
        image=prep.work, strength=float(request.strength), num_inference_steps=request.steps,
        guidance_scale=request.guidance, generator=generators([request.seed])[0], output_type="pil",
        callback_on_step_end=step_callback(progress, steps_run, size=(height, width)), **sent.kwargs())
    if accepts(view, "height"):  # Flux and SD3 take the size; SD reads it from the image
        kwargs.update(height=height, width=width)
    with torch.inference_mode():
        output = view(**kwargs)
    progress.update(steps_run, steps_run, "done")
    if safety_checker.verdicts(output, 1)[0]:  # blanked by the model's own checker: nothing to hand out
        return Result([], notices + [safety_checker.withheld_notice(1, 1, request.seed)])
    image = output.images[0].convert("RGB")
    if image.size != prep.source_size:
        image = image.resize(prep.source_size, Image.Resampling.LANCZOS)
    params = _params(request, sent.prompt, sent.negative, view, prep, steps_run)
    params["safety_checker"] = safety_checker.state(view)
    params["backend"] = backend
    return Result([ImageArtifact(image=image, params=params)], notices)


def _params(request: Request, prompt: str, negative: str, view, prep: _Prepared, steps_run: int) -> dict[str, Any]:
    return dict(task=TASK, prompt=request.prompt, negative_prompt=request.negative_prompt, prompt_sent=prompt,
                negative_prompt_sent=negative, model=request.model, amount=request.amount,
                strength=float(request.strength), steps=request.steps, steps_run=steps_run,
                guidance=request.guidance, seed=request.seed, scheduler=request.scheduler,
                scheduler_class=type(view.scheduler).__name__, pipeline=type(view).__name__,
                parent_id=request.parent_id, width=prep.source_size[0], height=prep.source_size[1],
                model_width=prep.work.width, model_height=prep.work.height, source_sha256=prep.source_sha256)


CONTRACT = Task(TASK, Request, artifacts=("image",), base_task=BASE_TASK, from_base=from_base, tab="Variations")
