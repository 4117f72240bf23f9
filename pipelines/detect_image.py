"""Detect image: score pictures with an AI-vs-real image classifier (ViT / Swin class).

Detection is not generative, so nothing here is published. `run` returns `Scores`: a `Result`
with no artifacts (so `runner.execute` serves it unchanged: the shared model cache, the
request check against the preset, out-of-memory mapping) plus every label's probability for
each input picture, in order. What the labels mean ("artificial" = generated) and the
calibrated score bands live in the preset's `detector` table and are applied by
provenance.detector, which also turns files into pictures (a video's sampled frames too).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# torch is imported in the functions that run a model: the web app reads this module's CONTRACT.
from PIL import Image

from pipelines.contract import Task
from pipelines.errors import InputError
from pipelines.media import Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress

TASK = "detect_image"
# Below this many pixels on a side a picture holds too little for a classifier trained on
# 224 px inputs to say anything; presets may raise it (limits.min_size).
MIN_SIZE = 64
MAX_BATCH = 32


@dataclass
class Request:
    """Pictures to score, already decoded (RGB PIL images), and how many go through at once."""

    images: list[Image.Image] = field(default_factory=list, repr=False)
    model: str = "tiny-vit-detector"
    batch_size: int = 8

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for anything this classifier cannot take; each message says what to do."""
        if not self.images:
            raise InputError("There is no picture to check: upload an image or a video.")
        max_batch = preset.limit("max_batch", MAX_BATCH)
        size = self.batch_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= max_batch:
            raise InputError(f"Batch size {self.batch_size!r} is out of range: use 1 to {max_batch}.")
        min_size = preset.limit("min_size", MIN_SIZE)
        for i, image in enumerate(self.images, 1):
            if not isinstance(image, Image.Image):
                raise InputError(f"Picture {i} is not an image.")
            if min(image.size) < min_size:
                raise InputError(f"Picture {i} is {image.width}×{image.height} pixels; the detector needs at least "
                                 f"{min_size} pixels on each side.")


@dataclass
class Scores(Result):
    """What `run` returns: no artifacts, and {label: probability} per input picture."""

    probabilities: list[dict[str, float]] = field(default_factory=list)


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load the classifier and its image processor from a hub id or a folder, as a transformers pipeline.

    The model and processor are loaded with their own `from_pretrained` (which take the hub
    options the model layer passes: revision, local_files_only) and handed to `pipeline`,
    which does the preprocessing, device placement and batching.
    """
    from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

    model = AutoModelForImageClassification.from_pretrained(source, dtype=dtype, **kwargs)
    processor = AutoImageProcessor.from_pretrained(source, **_hub_options(kwargs))
    model.eval()
    return pipeline("image-classification", model=model, image_processor=processor, device=device), []


def labels(pipe) -> list[str]:
    """The classifier's labels, in its own order."""
    id2label = pipe.model.config.id2label
    return [id2label[i] for i in sorted(id2label)]


def run(pipe, request: Request, progress: Progress) -> Scores:
    """Score every picture, `request.batch_size` at a time through the model, with progress per batch."""
    import torch
    total = len(request.images)
    top_k = pipe.model.config.num_labels
    probabilities: list[dict[str, float]] = []
    progress.update(0, total, "scoring pictures")
    for start in range(0, total, request.batch_size):
        chunk = [image.convert("RGB") for image in request.images[start:start + request.batch_size]]
        with torch.inference_mode():
            outputs = pipe(chunk, top_k=top_k, batch_size=len(chunk))
        probabilities += [{item["label"]: float(item["score"]) for item in output} for output in outputs]
        progress.update(start + len(chunk), total, "scoring pictures")
    return Scores(artifacts=[], probabilities=probabilities)


def _hub_options(kwargs: dict) -> dict:
    """The from_pretrained options a processor understands (not the weights `variant`)."""
    return {k: v for k, v in kwargs.items() if k in ("revision", "local_files_only", "cache_dir", "token")}


CONTRACT = Task(TASK, Request, artifacts=("report",), text_field=None)
