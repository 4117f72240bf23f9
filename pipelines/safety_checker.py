"""The safety checker that some published models ship (SD 1.x and its inpainting model): whether it
runs, and what it decided.

diffusers runs the checker inside the pipeline call and paints each image it flags black. The studio
reads the verdict (`nsfw_content_detected`) instead of handing out a black picture: a flagged image is
withheld, and the job's notices say which one and why. An operator can turn the checker off (setting
`safety_checker = false`): the model then loads without it. Every output records which was the case
in its parameters (`safety_checker`), and so in its manifest:

- "on": the model's checker looked at this image;
- "off": the model ships or asks for a checker and it did not run (the operator turned it off);
- "none": the model has no safety checker (SDXL, SD3, Flux, SD 2.x and most others).
"""
from __future__ import annotations

from typing import Any

import numpy as np


def load_kwargs(source: str, runtime, **kwargs) -> dict[str, Any]:
    """`from_pretrained` arguments that leave the model's own checker out when the operator turned it off.

    Only a model whose index names a checker gets `safety_checker=None`; other pipelines would warn
    about an argument they do not take.
    """
    if runtime.safety_checker or not ships_checker(source, **kwargs):
        return {}
    return {"safety_checker": None}


def ships_checker(source: str, **kwargs) -> bool:
    """True when the pipeline at `source` (folder or hub id) names a safety checker in its model index."""
    from diffusers import DiffusionPipeline

    config_kwargs = {k: v for k, v in kwargs.items() if k in ("revision", "local_files_only")}
    entry = DiffusionPipeline.load_config(source, **config_kwargs).get("safety_checker") or [None, None]
    return entry[-1] is not None


def state(pipe) -> str:
    """"on", "off" or "none" for a loaded pipeline (or a per-request view of one); see the module's text."""
    if pipe.components.get("safety_checker") is not None:
        return "on"
    return "off" if pipe.config.get("requires_safety_checker") else "none"


def verdicts(output, count: int) -> list[bool]:
    """Which images of a pipeline call's output the model's checker flagged (all False when none ran)."""
    flags = output.get("nsfw_content_detected")
    return [bool(f) for f in flags] if flags is not None else [False] * count


def check_images(pipe, images: list) -> list[bool]:
    """Run the pipeline's own checker on finished PIL images (drafts skip it inside the pipeline call)."""
    if state(pipe) != "on":
        return [False] * len(images)
    pixels = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) / 255 for im in images])
    checker = pipe.safety_checker
    _, flags = pipe.run_safety_checker(pixels, checker.device, checker.dtype)
    return [bool(f) for f in flags]


def withheld_notice(index: int, count: int, seed: int | None = None, where: str = "") -> str:
    """The visitor-facing line for image `index` (1-based) of `count` that the checker flagged;
    `where` names the part of the job that was flagged (a region of a fill mask)."""
    which = f"Image {index} of {count}" if count > 1 else "The image"
    seed_text = f" (seed {seed})" if seed is not None else ""
    where_text = f" ({where})" if where else ""
    return (f"{which}{seed_text} was withheld{where_text}: the model's own safety checker flagged it as possibly "
            "not safe for work and blanked it, so it was not published. Try another prompt or seed.")


def keep_unflagged(images: list, seeds: list[int], flags: list[bool]) -> tuple[list, list[int], list[str]]:
    """The images (and their seeds) the checker passed, and one notice per withheld image."""
    count = len(images)
    notices = [withheld_notice(i + 1, count, seed) for i, (seed, flagged) in enumerate(zip(seeds, flags)) if flagged]
    kept = [(im, seed) for im, seed, flagged in zip(images, seeds, flags) if not flagged]
    return [im for im, _ in kept], [seed for _, seed in kept], notices
