"""Helpers for the generative-fill tests: deterministic pictures and masks, and running a fill
through the production path (ModelManager -> pipelines.fill.load -> runner.execute)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from pipelines import fill
from pipelines.progress import Progress


def picture(w: int, h: int, seed: int = 0) -> Image.Image:
    """A picture with gradients, shapes and noise, so every pixel differs from its neighbours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([60 + 120 * x / w, 80 + 100 * y / h, 200 - 90 * y / h], -1)
    arr = arr + rng.normal(0, 12, arr.shape)
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    ImageDraw.Draw(im).ellipse((w // 4, h // 4, w // 2, h // 2), fill=(220, 60, 40))
    return im


def rect_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


def run_fill(studio, events: list | None = None, **fields):
    """Run one fill request through the runner (the path the studio uses); returns the Result."""
    from pipelines.runner import execute

    fields.setdefault("model", "tiny-sd15-inpaint")
    fields.setdefault("steps", 2)
    fields.setdefault("seed", 7)
    progress = Progress(listener=events.append) if events is not None else Progress()
    return execute(studio.models, "fill", fill.Request(**fields), progress)
