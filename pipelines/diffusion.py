"""Helpers shared by the diffusers-based tasks: per-request schedulers and pipeline views,
seeded generators, the step callback, and prompt-length checks.

A loaded pipeline is shared read-only by every visitor. diffusers pipelines keep per-call state
on `self` (guidance scale, timesteps, interrupt flag) and schedulers keep the step index, so
each request runs on its own shallow view of the pipeline, with its own scheduler instance.
The weights are not copied.
"""
from __future__ import annotations

import copy
import inspect
import threading
from typing import Any, NamedTuple

# torch is imported in the functions that use it: the web app imports the task modules that import this one.

from pipelines.errors import InputError
from pipelines.progress import Progress

# Friendly name -> (diffusers scheduler class, config overrides)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "euler_trailing": ("EulerDiscreteScheduler", {"timestep_spacing": "trailing"}),   # SDXL-Lightning
    "ddim_trailing": ("DDIMScheduler", {"timestep_spacing": "trailing"}),             # Hyper-SD
    "tcd": ("TCDScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lcm": ("LCMScheduler", {}),
    "flow_euler": ("FlowMatchEulerDiscreteScheduler", {}),
    "flow_heun": ("FlowMatchHeunDiscreteScheduler", {}),
}


def compatible_schedulers(pipe) -> list[str]:
    """Scheduler names usable with this pipeline ("default" first: the model's own)."""
    own = type(pipe.scheduler).__name__
    allowed = {c.__name__ for c in getattr(pipe.scheduler, "compatibles", [])} | {own}
    if "FlowMatch" not in own:
        # consistency-distilled samplers work with any SD-type (epsilon/v) model; diffusers'
        # `compatibles` lists leave them out
        allowed |= {"LCMScheduler", "TCDScheduler"}
    return ["default"] + [name for name, (cls, _) in SCHEDULERS.items() if cls in allowed]


def make_scheduler(pipe, name: str):
    """A fresh scheduler instance for one request, from the pipeline's scheduler config."""
    if name == "default":
        return type(pipe.scheduler).from_config(pipe.scheduler.config)
    if name not in SCHEDULERS or name not in compatible_schedulers(pipe):
        raise InputError(f"Scheduler {name!r} does not work with this model; "
                         f"choose one of: {', '.join(compatible_schedulers(pipe))}.")
    import diffusers

    cls_name, overrides = SCHEDULERS[name]
    return getattr(diffusers, cls_name).from_config(pipe.scheduler.config, **overrides)


_active = threading.local()


def request_view(pipe, scheduler):
    """A shallow copy of the shared pipeline with its own scheduler: same weights, own call state.

    The view is also this thread's active pipeline, which caching hooks ask for the timestep.
    """
    view = copy.copy(pipe)
    view.scheduler = scheduler
    _active.view = view
    return view


def current_timestep():
    """The timestep of the pipeline call running in this thread (for diffusers' caching hooks)."""
    view = getattr(_active, "view", None)
    return getattr(view, "_current_timestep", None)


def generators(seeds: list[int]) -> list[torch.Generator]:
    """One CPU generator per image, so image i of a batch equals a batch of one with seed i."""
    import torch
    return [torch.Generator("cpu").manual_seed(s) for s in seeds]


class Previewer:
    """Decodes latents with a tiny autoencoder: live previews every `every` steps, and draft finals."""

    def __init__(self, decoder, every: int = 0, draft: bool = False):
        self.decoder, self.every, self.draft = decoder, every, draft

    def due(self, step: int, total: int) -> bool:
        return bool(self.every) and step % self.every == 0 and step < total

    def decode(self, pipe, latents, height: int, width: int, preview: bool = True):
        """Images from latents; a live preview of a large image is decoded at half size."""
        from pipelines.preview_decoder import decode, unpack_latents

        return decode(self.decoder, unpack_latents(pipe, latents, height, width), preview=preview)


def step_callback(progress: Progress, total: int, stage: str = "denoising", size: tuple[int, int] | None = None):
    """A `callback_on_step_end` that reports each step, stops the run on Cancel, and (when the
    job has a previewer and `size` = (height, width) is given) attaches a live preview."""

    def callback(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        # some schedulers run more timesteps than steps asked for (PNDM adds one)
        steps = max(total, getattr(pipe, "_num_timesteps", 0) or 0)
        preview = None
        previewer = progress.previewer
        if previewer is not None and size and previewer.due(step + 1, steps) and "latents" in callback_kwargs:
            preview = previewer.decode(pipe, callback_kwargs["latents"], *size)
        progress.update(step + 1, steps, stage, preview=preview)
        return callback_kwargs

    return callback


def accepts(pipe, name: str) -> bool:
    return name in inspect.signature(type(pipe).__call__).parameters


def prompt_notices(pipe, prompt: str, max_sequence_length: int | None = None) -> list[str]:
    """Say when a prompt is longer than a text encoder takes, and where it is cut."""
    notices, seen = [], set()
    for attr in ("tokenizer", "tokenizer_3", "tokenizer_2"):
        tok = getattr(pipe, attr, None)
        if tok is None:
            continue
        limit = tok.model_max_length
        if "T5" in type(tok).__name__ and max_sequence_length:
            limit = min(limit, max_sequence_length)
        if (type(tok).__name__, limit) in seen:
            continue
        seen.add((type(tok).__name__, limit))
        ids = tok(prompt, add_special_tokens=True, truncation=False)["input_ids"]
        if len(ids) <= limit:
            continue
        special = len(tok(" ", add_special_tokens=True)["input_ids"]) - len(tok(" ", add_special_tokens=False)["input_ids"])
        kept_ids = tok(prompt, add_special_tokens=False, truncation=False)["input_ids"][: max(limit - special, 0)]
        kept = tok.decode(kept_ids, skip_special_tokens=True).strip()
        tail = " ".join(kept.split()[-4:])
        notices.append(f"The prompt is {len(ids)} tokens; the {type(tok).__name__.replace('TokenizerFast', '').replace('Tokenizer', '')} "
                       f"text encoder reads {limit}, so everything after “…{tail}” is ignored by it.")
    return notices


def pipeline_over(auto_class: str, base_pipe, **components) -> Any:
    """A pipeline of another kind (`auto_class`: AutoPipelineForImage2Image, ...ForInpainting,
    ...ForText2Image) over a loaded pipeline's modules, with `components` added (a ControlNet):
    no weights copied, the shared pipeline untouched. The base's dtype is passed on purpose:
    `from_pipe` otherwise casts the new pipeline, whose modules are the shared ones, to float32."""
    import diffusers

    pipe = getattr(diffusers, auto_class).from_pipe(base_pipe, dtype=base_pipe.dtype, **components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


class SentPrompts(NamedTuple):
    """The prompts as a pipeline is given them, and what the visitor should be told about them."""

    prompt: str
    negative: str                       # "" when the model takes none
    max_sequence_length: int | None     # for pipelines with a T5 encoder (SD3, Flux): 256
    notices: list[str]

    def kwargs(self) -> dict[str, Any]:
        """The pipeline-call arguments these prompts make."""
        kwargs: dict[str, Any] = {"prompt": self.prompt}
        if self.negative:
            kwargs["negative_prompt"] = self.negative
        if self.max_sequence_length:
            kwargs["max_sequence_length"] = self.max_sequence_length
        return kwargs


def sent_prompts(pipe, prompt: str, negative: str) -> SentPrompts:
    """The first steps every image-to-image and inpainting run shares: the stripped prompts, the
    T5 sequence length where the pipeline takes one, notices for a prompt longer than an encoder
    reads, and a negative prompt dropped (and said) where the model does not use one (Flux)."""
    prompt, negative = prompt.strip(), negative.strip()
    max_seq = 256 if accepts(pipe, "max_sequence_length") else None
    notices = prompt_notices(pipe, prompt, max_seq)
    if negative and (type(pipe).__name__.startswith("Flux") or not accepts(pipe, "negative_prompt")):
        notices.append("This model does not use a negative prompt; it was ignored.")
        negative = ""
    return SentPrompts(prompt, negative, max_seq, notices)
