"""Detect audio: score sound with an anti-spoofing / synthetic-speech classifier (wav2vec2 class).

As with detect_image, nothing is published: `run` returns `Scores`, a `Result` with no
artifacts and every label's probability per input clip. A clip is resampled to the model's
rate and cut into windows of `window_s` seconds (at most `max_windows`, spread over the whole
clip); a clip's probabilities are the mean over its windows. Windows of one length go through
the model together, so a batch never needs padding: wav2vec2-base-style models (group norm,
no attention mask) give different scores to zero-padded input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
# torch is imported in the functions that run a model: the web app reads this module's CONTRACT.

from pipelines.contract import Task
from pipelines.errors import InputError
from pipelines.media import Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress

TASK = "detect_audio"
# wav2vec2's convolutional front end needs 400 samples (25 ms) at the least; under half a
# second there is too little speech for a verdict. Presets may raise it (limits.min_duration_s).
MIN_DURATION_S = 0.5
MAX_BATCH = 32


@dataclass
class Request:
    """Mono clips (float32, one rate for all) and how they are cut and batched."""

    clips: list[np.ndarray] = field(default_factory=list, repr=False)
    sample_rate: int = 16000
    model: str = "tiny-wav2vec2-detector"
    window_s: float = 4.0
    max_windows: int = 8
    batch_size: int = 8

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for anything this classifier cannot take; each message says what to do."""
        if not self.clips:
            raise InputError("There is no sound to check: upload an audio file.")
        if not _whole_in(self.sample_rate, 1000, 384000):
            raise InputError(f"Sample rate {self.sample_rate!r} Hz is not one the detector reads (1-384 kHz).")
        if not isinstance(self.window_s, (int, float)) or not 0.5 <= self.window_s <= 30:
            raise InputError(f"Window {self.window_s!r} s is out of range: use 0.5 to 30 seconds.")
        if not _whole_in(self.max_windows, 1, 64):
            raise InputError(f"Windows per clip {self.max_windows!r} is out of range: use 1 to 64.")
        max_batch = preset.limit("max_batch", MAX_BATCH)
        if not _whole_in(self.batch_size, 1, max_batch):
            raise InputError(f"Batch size {self.batch_size!r} is out of range: use 1 to {max_batch}.")
        min_s = preset.limit("min_duration_s", MIN_DURATION_S)
        for i, clip in enumerate(self.clips, 1):
            if not isinstance(clip, np.ndarray) or clip.ndim != 1:
                raise InputError(f"Clip {i} must be mono samples (a 1-D array).")
            if clip.shape[0] / self.sample_rate < min_s:
                seconds = clip.shape[0] / self.sample_rate
                raise InputError(f"Clip {i} lasts {seconds:.2f} s; the detector needs at least {min_s:g} s.")
            if not np.isfinite(clip).all():
                raise InputError(f"Clip {i} holds samples that are not numbers (NaN or infinite).")


@dataclass
class Scores(Result):
    """What `run` returns: no artifacts, {label: probability} per clip, and windows scored per clip."""

    probabilities: list[dict[str, float]] = field(default_factory=list)
    windows: list[int] = field(default_factory=list)


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load the classifier and its feature extractor from a hub id or a folder, as a transformers pipeline."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

    model = AutoModelForAudioClassification.from_pretrained(source, dtype=dtype, **kwargs)
    extractor = AutoFeatureExtractor.from_pretrained(source, **_hub_options(kwargs))
    model.eval()
    return pipeline("audio-classification", model=model, feature_extractor=extractor, device=device), []


def labels(pipe) -> list[str]:
    """The classifier's labels, in its own order."""
    id2label = pipe.model.config.id2label
    return [id2label[i] for i in sorted(id2label)]


def windows(clip: np.ndarray, rate: int, window_s: float, max_windows: int) -> list[np.ndarray]:
    """Up to `max_windows` windows of `window_s` seconds spread evenly over the clip (the whole
    clip when it is shorter than one window)."""
    size = int(round(window_s * rate))
    if clip.shape[0] <= size:
        return [clip]
    count = min(max_windows, math.ceil(clip.shape[0] / size))
    starts = np.linspace(0, clip.shape[0] - size, count).round().astype(int)
    return [clip[s:s + size] for s in starts]


def run(pipe, request: Request, progress: Progress) -> Scores:
    """Score every clip: resample, cut into windows, batch windows of equal length, average per clip."""
    import torch
    rate = pipe.feature_extractor.sampling_rate
    items: list[tuple[int, np.ndarray]] = []
    for owner, clip in enumerate(request.clips):
        clip = _resample(clip.astype(np.float32, copy=False), request.sample_rate, rate)
        items += [(owner, w) for w in windows(clip, rate, request.window_s, request.max_windows)]
    # Equal lengths batch together without padding (see the module docstring).
    items.sort(key=lambda item: item[1].shape[0])
    batches: list[list[tuple[int, np.ndarray]]] = []
    for item in items:
        if batches and len(batches[-1]) < request.batch_size and batches[-1][0][1].shape[0] == item[1].shape[0]:
            batches[-1].append(item)
        else:
            batches.append([item])

    top_k = pipe.model.config.num_labels
    sums: list[dict[str, float]] = [{} for _ in request.clips]
    counts = [0] * len(request.clips)
    done = 0
    progress.update(0, len(items), "scoring sound")
    for batch in batches:
        inputs = [{"raw": w, "sampling_rate": rate} for _, w in batch]
        with torch.inference_mode():
            outputs = pipe(inputs, top_k=top_k, batch_size=len(inputs))
        for (owner, _), output in zip(batch, outputs):
            for item in output:
                sums[owner][item["label"]] = sums[owner].get(item["label"], 0.0) + float(item["score"])
            counts[owner] += 1
        done += len(batch)
        progress.update(done, len(items), "scoring sound")
    probabilities = [{k: v / n for k, v in s.items()} for s, n in zip(sums, counts)]
    return Scores(artifacts=[], probabilities=probabilities, windows=counts)


def _whole_in(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _resample(clip: np.ndarray, rate: int, target: int) -> np.ndarray:
    import torch
    if rate == target:
        return clip
    import torchaudio.functional as F

    return F.resample(torch.from_numpy(np.ascontiguousarray(clip)), rate, target).numpy()


def _hub_options(kwargs: dict) -> dict:
    """The from_pretrained options a feature extractor understands (not the weights `variant`)."""
    return {k: v for k, v in kwargs.items() if k in ("revision", "local_files_only", "cache_dir", "token")}


CONTRACT = Task(TASK, Request, artifacts=("report",), text_field=None)
