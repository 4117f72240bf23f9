"""Sound effects through diffusers: Stable Audio Open (stereo 44.1 kHz) and AudioLDM 2 (mono 16 kHz).

Each request runs on its own view of the shared pipeline with its own scheduler instance, and
draws its noise from its own seeded `torch.Generator` (pipelines.diffusion), so the same seed
gives the same sound and concurrent requests do not disturb one another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
# torch is imported in the functions that run a model: the web app imports this module for its Request.

from pipelines.contract import Task
from pipelines.diffusion import generators, make_scheduler, prompt_notices, request_view
from pipelines.checks import number, whole
from pipelines.errors import InputError, PresetError
from pipelines.media import AudioArtifact, Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress

TASK = "sound_effects"
MAX_PROMPT_CHARS = 1000
MIN_DURATION_S = 0.5
PIPELINES = ("StableAudioPipeline", "AudioLDM2Pipeline")


@dataclass
class Request:
    """One sound-effect job. `seed` is resolved (never None) before it reaches `run`."""

    prompt: str
    model: str = "tiny-stable-audio"
    negative_prompt: str = ""
    duration_s: float = 5.0
    steps: int = 50
    guidance: float = 7.0
    seed: int = 0
    loudness_lufs: float | None = -16.0  # the published file's loudness; None keeps the level

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for anything this model cannot take; every message says what to do."""
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InputError("The prompt is empty: describe the sound (source, action, space), "
                             "for example “heavy wooden door creaks open in a stone hall”.")
        self.negative_prompt = self.negative_prompt if isinstance(self.negative_prompt, str) else ""
        limit = preset.limit("max_prompt_chars", MAX_PROMPT_CHARS)
        for name, text in (("prompt", self.prompt), ("negative prompt", self.negative_prompt)):
            if len(text) > limit:
                raise InputError(f"The {name} is {len(text)} characters; the limit is {limit}.")
        self.duration_s = number("Duration", self.duration_s)
        max_duration = float(preset.limit("max_duration_s", 10.0))
        if not MIN_DURATION_S <= self.duration_s <= max_duration:
            raise InputError(f"Duration {self.duration_s:g} s is out of range: use {MIN_DURATION_S:g} to "
                             f"{max_duration:g} seconds with this model.")
        self.steps = whole("Steps", self.steps)
        max_steps = preset.limit("max_steps", 500)
        if not 1 <= self.steps <= max_steps:
            raise InputError(f"Steps {self.steps} is out of range: use 1 to {max_steps}.")
        self.seed = whole("Seed", self.seed)
        if not 0 <= self.seed < 2**32:
            raise InputError(f"Seed {self.seed} is out of range: use 0 to {2**32 - 1}.")
        self.guidance = number("Guidance", self.guidance)
        if not 0.0 <= self.guidance <= 20.0:
            raise InputError(f"Guidance {self.guidance:g} is out of range: use 0 to 20 "
                             f"(about 7 for Stable Audio, 3.5 for AudioLDM 2).")
        if self.loudness_lufs is not None:
            self.loudness_lufs = number("Loudness", self.loudness_lufs)
            if not -40.0 <= self.loudness_lufs <= -5.0:
                raise InputError(f"Loudness {self.loudness_lufs:g} LUFS is out of range: use -40 to -5.")


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load a Stable Audio or AudioLDM 2 pipeline from a hub id or a folder and place it on the device."""
    from diffusers import DiffusionPipeline

    from pipelines.device import place_pipeline

    pipe = DiffusionPipeline.from_pretrained(source, torch_dtype=dtype, **kwargs)
    if type(pipe).__name__ not in PIPELINES:
        raise PresetError(f"{source} loads as {type(pipe).__name__}; sound effects take {' or '.join(PIPELINES)}.")
    return pipe, place_pipeline(pipe, device, runtime)


def max_duration_s(pipe) -> float | None:
    """The longest sound the loaded model makes in one pass (Stable Audio's fixed latent window)."""
    if type(pipe).__name__ == "StableAudioPipeline":
        return pipe.transformer.config.sample_size * pipe.vae.hop_length / pipe.vae.config.sampling_rate
    return None


def sample_rate(pipe) -> int:
    """The rate of the pipeline's audio: Stable Audio's autoencoder, AudioLDM 2's vocoder."""
    if type(pipe).__name__ == "StableAudioPipeline":
        return int(pipe.vae.config.sampling_rate)
    return int(pipe.vocoder.config.sampling_rate)


def run(pipe, request: Request, progress: Progress) -> Result:
    """Make one sound of `request.duration_s` seconds; the artifact carries every parameter."""
    import torch
    progress.check()
    longest = max_duration_s(pipe)
    if longest is not None and request.duration_s > longest + 1e-6:
        raise InputError(f"Duration {request.duration_s:g} s is longer than this model makes ({longest:.2f} s); "
                         f"lower it.")
    stable_audio = type(pipe).__name__ == "StableAudioPipeline"
    view = request_view(pipe, make_scheduler(pipe, "default"))
    notices = prompt_notices(view, request.prompt)

    def callback(step: int, timestep, latents) -> None:
        progress.update(step + 1, request.steps, "denoising")

    kwargs: dict[str, Any] = dict(
        prompt=request.prompt.strip(), negative_prompt=request.negative_prompt.strip() or None,
        num_inference_steps=request.steps, guidance_scale=request.guidance,
        generator=generators([request.seed])[0], callback=callback, callback_steps=1, output_type="np",
    )
    rate = sample_rate(pipe)
    # Both pipelines cut at int(seconds * rate), which float error can put one sample short
    # (2.3 s * 44100 = 101429.99...); ask for half a sample more and trim to the exact length below.
    asked = request.duration_s + 0.5 / rate
    if stable_audio:
        kwargs["audio_end_in_s"] = min(asked, longest)
    else:
        kwargs["audio_length_in_s"] = asked
    with torch.inference_mode():
        audios = view(**kwargs).audios
    progress.update(request.steps, request.steps, "done")

    samples = np.asarray(audios[0], dtype=np.float32)
    samples = samples[None, :] if samples.ndim == 1 else samples          # (channels, samples)
    samples = np.clip(samples[:, :round(request.duration_s * rate)], -1.0, 1.0)
    params = dict(task=TASK, prompt=request.prompt, negative_prompt=request.negative_prompt,
                  duration_s=request.duration_s, steps=request.steps, guidance=request.guidance, seed=request.seed,
                  loudness_lufs=request.loudness_lufs, sample_rate=rate, channels=int(samples.shape[0]),
                  scheduler_class=type(view.scheduler).__name__, pipeline=type(view).__name__)
    artifact = AudioArtifact(samples=np.ascontiguousarray(samples), sample_rate=rate, params=params,
                             target_lufs=request.loudness_lufs)
    return Result([artifact], notices)


CONTRACT = Task(TASK, Request, artifacts=("audio",))
