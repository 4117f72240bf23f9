"""Text to video and image to video through diffusers (LTX-Video, Wan 2.1/2.2, CogVideoX, SVD).

One task, two modes: "text" (a prompt) and "image" (a still to animate, with an optional prompt).
The preset says which modes a model offers (`limits.modes`), its size multiple and its frame
rule ("8k+1": LTX-Video and CogVideoX; "4k+1": Wan; "any": SVD). What the studio will make is
worked out before the run by `plan` and said openly: a size that is not a multiple of the
model's is generated at the next multiple up and centre-cropped back to the size asked for; a
duration becomes the nearest frame count the model can make; an exact frame count the model
cannot make is refused with the two nearest that it can.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
# torch is imported in the functions that run a model: the web app imports this module for its Request.
from PIL import Image, ImageOps, UnidentifiedImageError

from pipelines.contract import Task, upload
from pipelines.diffusion import generators, make_scheduler, prompt_notices, request_view
from pipelines.checks import whole
from pipelines.errors import InputError, PresetError
from pipelines.media import Result, VideoArtifact
from pipelines.presets import ModelPreset
from pipelines.progress import Progress

TASK = "video"
MODES = {"text": "from text", "image": "from a still"}
MAX_PROMPT_CHARS = 2000
MAX_FPS = 60
MIN_STILL_SIDE = 128              # below this a still carries too little to animate
MAX_STILL_PIXELS = 40_000_000     # checked from the header, before anything is decoded
MAX_STILL_BYTES = 50 * 2**20

# Pipeline class -> the class for each mode it can serve; the other mode's pipeline is made
# with `from_pipe`, so both share one set of weights.
_LTX = {"text": "LTXPipeline", "image": "LTXImageToVideoPipeline"}
_WAN_TI2V = {"text": "WanPipeline", "image": "WanImageToVideoPipeline"}
PIPELINE_MODES: dict[str, dict[str, str]] = {
    "LTXPipeline": _LTX,
    "LTXImageToVideoPipeline": _LTX,
    # LTX-Video 0.9.5+ (the distilled 0.9.7/0.9.8 among them): one pipeline conditions on a still itself.
    "LTXConditionPipeline": {"text": "LTXConditionPipeline", "image": "LTXConditionPipeline"},
    "WanPipeline": {"text": "WanPipeline"},
    "WanImageToVideoPipeline": {"image": "WanImageToVideoPipeline"},
    "CogVideoXPipeline": {"text": "CogVideoXPipeline"},
    "CogVideoXImageToVideoPipeline": {"image": "CogVideoXImageToVideoPipeline"},
    "StableVideoDiffusionPipeline": {"image": "StableVideoDiffusionPipeline"},
}


@dataclass
class Request:
    """One video job. `frames` > 0 asks for an exact frame count; otherwise `duration_s` is used."""

    prompt: str = ""
    model: str = "tiny-ltx"
    mode: str = "text"
    image_path: str = field(default="", metadata=upload("image", flag="still", title="still"))  # mode "image"
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 30
    guidance: float = 3.0
    width: int = 704
    height: int = 480
    frames: int = 0
    duration_s: float = 2.0
    fps: int = 24
    motion: int = 127               # Stable Video Diffusion's motion bucket (1-255)
    # Set by `check`: what will be made (sizes, frame count, notices). Not a request input.
    resolved: Plan | None = field(default=None, init=False, repr=False, compare=False)

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for anything this model cannot take; every message says what to do."""
        self.resolved = plan(self, preset)
        if self.mode == "image":
            load_still(self.image_path)


@dataclass(frozen=True)
class Plan:
    """What a request will make on a given model, known before the run."""

    width: int
    height: int
    gen_width: int
    gen_height: int
    frames: int
    fps: int
    notices: tuple[str, ...] = ()
    # A timestep-distilled model's own schedule (preset `limits.timesteps`), used when the steps
    # asked for are as many as it has; other step counts use the scheduler's spacing.
    timesteps: tuple[float, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    def describe(self) -> str:
        size = f"{self.width}×{self.height}"
        if (self.gen_width, self.gen_height) != (self.width, self.height):
            size += f" (made at {self.gen_width}×{self.gen_height}, centre-cropped)"
        return f"{self.frames} frames · {self.duration_s:.2f} s at {self.fps} fps · {size}"


# ----- checks and the plan -----------------------------------------------------------------------

def parse_frame_rule(rule: str) -> tuple[int, int]:
    """"8k+1" -> (8, 1); "any" -> (1, 0). The model makes step*k + offset frames."""
    if rule == "any":
        return 1, 0
    m = re.fullmatch(r"(\d+)k\+(\d+)", rule.replace(" ", ""))
    if not m or int(m.group(1)) < 1:
        raise PresetError(f"frame_rule {rule!r} is not 'any' or of the form '8k+1'.")
    return int(m.group(1)), int(m.group(2))


def _frame_bounds(preset: ModelPreset) -> tuple[int, int, int, int]:
    step, offset = parse_frame_rule(preset.limit("frame_rule", "any"))
    lowest = offset + step if step > 1 else 2     # a clip is at least two frames (one step of motion)
    return step, offset, lowest, preset.limit("max_frames", 257)


def _valid_near(n: float, preset: ModelPreset) -> tuple[int, int]:
    """The valid frame counts just below and just above `n` (clamped to the model's range)."""
    step, offset, lowest, highest = _frame_bounds(preset)
    below = max(lowest, offset + math.floor((n - offset) / step) * step)
    above = max(lowest, offset + math.ceil((n - offset) / step) * step)
    return min(below, highest), above


def _resolve_frames(request: Request, preset: ModelPreset, fps: int) -> tuple[int, list[str]]:
    step, offset, lowest, highest = _frame_bounds(preset)
    rule = preset.limit("frame_rule", "any")
    frames = whole("The frame count", request.frames if request.frames is not None else 0)
    if frames < 0:
        raise InputError(f"The frame count {frames} is negative; give a count of {lowest} or more, or 0 to use "
                         f"the duration.")
    if frames > 0:
        if frames >= lowest and (frames - offset) % step == 0:
            return frames, []
        below, above = _valid_near(frames, preset)
        options = f"{below} or {above}" if below != above and above <= highest else f"{min(above, below)}"
        raise InputError(f"{preset.label} makes {rule} frames ({lowest}, {lowest + step}, {lowest + 2 * step}, …): "
                         f"{frames} frames is not one of them. Use {options}, or give a duration instead and the "
                         f"studio picks the nearest.")
    duration = request.duration_s
    if not isinstance(duration, (int, float)) or isinstance(duration, bool) or not math.isfinite(duration) \
            or duration <= 0:
        raise InputError("Give a frame count or a duration in seconds (more than 0).")
    target = duration * fps
    below, above = _valid_near(target, preset)
    frames = below if target - below < above - target else above
    notices = []
    if frames != target:
        why = f"this model makes {rule} frames" if step > 1 else "a clip is a whole number of frames"
        if frames == lowest and target < lowest:
            why = f"this model makes at least {lowest} frames"
        notices.append(f"{duration:g} s at {fps} fps is {target:g} frames; {why}, so the clip has {frames} frames "
                       f"({frames / fps:.2f} s).")
    return frames, notices


def _resolve_size(request: Request, preset: ModelPreset) -> tuple[int, int, int, int, list[str]]:
    multiple = preset.limit("size_multiple", 16)
    lo, hi = preset.limit("min_size", 64), preset.limit("max_size", 1280)
    width, height = whole("Width", request.width), whole("Height", request.height)
    for name, value in (("Width", width), ("Height", height)):
        if not lo <= value <= hi:
            raise InputError(f"{name} {value} px is outside this model's range {lo}-{hi} px.")
        if value % 2:
            raise InputError(f"{name} {value} is odd; MP4 video (H.264, yuv420p) needs even sizes: "
                             f"use {value - 1} or {value + 1}.")
    max_pixels = preset.limit("max_pixels")
    if max_pixels and width * height > max_pixels:
        raise InputError(f"{width}×{height} is over this model's limit of {max_pixels:,} pixels per frame on the "
                         f"{preset.tier} tier; lower the size.")
    gen_w, gen_h = (math.ceil(v / multiple) * multiple for v in (width, height))
    notices = []
    if (gen_w, gen_h) != (width, height):
        notices.append(f"This model works in multiples of {multiple} px: the video is made at {gen_w}×{gen_h} "
                       f"and centre-cropped to the {width}×{height} you asked for.")
    return width, height, gen_w, gen_h, notices


def output_plan(preset: ModelPreset, width: Any, height: Any, frames: Any, duration_s: Any, fps: Any) -> Plan:
    """The size, frame count and duration a request will get on this model (the part the UI
    shows before the run); raises `InputError` when the model cannot make it."""
    fps = whole("Frames per second", fps)
    if not 1 <= fps <= MAX_FPS:
        raise InputError(f"Frames per second must be between 1 and {MAX_FPS}, not {fps} "
                         f"(24 is film; these models are trained at 8-30).")
    sizing = Request(width=width, height=height, frames=frames, duration_s=duration_s, fps=fps)
    width, height, gen_w, gen_h, size_notes = _resolve_size(sizing, preset)
    frames, frame_notes = _resolve_frames(sizing, preset, fps)
    highest = preset.limit("max_frames", 257)
    if frames > highest:
        raise InputError(f"{frames} frames is over this model's limit of {highest} frames on the {preset.tier} tier; "
                         f"shorten the clip or lower the fps.")
    max_duration = preset.limit("max_duration_s")
    if max_duration and frames / fps > max_duration + 1e-9:
        raise InputError(f"A {frames / fps:.2f} s clip is over this model's limit of {max_duration:g} s on the "
                         f"{preset.tier} tier; shorten it.")
    return Plan(width, height, gen_w, gen_h, frames, fps, tuple(size_notes + frame_notes))


def distilled_schedule(preset: ModelPreset, steps: int) -> tuple[tuple[float, ...], list[str]]:
    """The timesteps a distilled model was trained on, when `steps` matches them, and a notice
    when it does not (the model still runs, on its scheduler's spacing, usually a little worse)."""
    schedule = tuple(float(t) for t in preset.limit("timesteps", ()))
    if not schedule or steps == len(schedule):
        return schedule, []
    return (), [f"{preset.label} was distilled for {len(schedule)} steps on its own schedule; {steps} steps use the "
                f"scheduler's even spacing instead, which usually looks a little worse."]


def plan(request: Request, preset: ModelPreset) -> Plan:
    """Check a request against a preset and work out exactly what will be made."""
    modes = preset.limit("modes", ["text"])
    if request.mode not in MODES:
        raise InputError(f"Mode {request.mode!r} is not one of: {', '.join(MODES)}.")
    if request.mode not in modes:
        offered = " and ".join(MODES[m] for m in modes)
        raise InputError(f"{preset.label} makes video {offered} only; switch the mode or choose a model that makes "
                         f"video {MODES[request.mode]}.")
    prompt = request.prompt if isinstance(request.prompt, str) else ""
    negative = request.negative_prompt if isinstance(request.negative_prompt, str) else ""
    request.prompt, request.negative_prompt = prompt, negative
    if request.mode == "text" and not prompt.strip():
        raise InputError("The prompt is empty: describe the clip you want.")
    limit = preset.limit("max_prompt_chars", MAX_PROMPT_CHARS)
    if max(len(prompt), len(negative)) > limit:
        raise InputError(f"The prompt is {max(len(prompt), len(negative))} characters; the limit is {limit}.")
    if request.mode == "image" and not request.image_path:
        raise InputError("Choose a still to animate: upload an image or pick one from your gallery.")
    request.seed, request.steps = whole("Seed", request.seed), whole("Steps", request.steps)
    if not 0 <= request.seed < 2**32:
        raise InputError(f"Seed {request.seed} is out of range: use 0 to {2**32 - 1}.")
    max_steps = preset.limit("max_steps", 100)
    if not 1 <= request.steps <= max_steps:
        raise InputError(f"Steps {request.steps} is out of range: use 1 to {max_steps}.")
    if isinstance(request.guidance, bool) or not isinstance(request.guidance, (int, float)) \
            or not math.isfinite(request.guidance) or not 0 <= request.guidance <= 20:
        raise InputError(f"Guidance {request.guidance!r} is out of range: use 0 to 20.")
    request.motion = whole("Motion", request.motion)
    if not 1 <= request.motion <= 255:
        raise InputError(f"Motion {request.motion} is out of range: use 1 to 255 (127 is the model's default).")
    request.fps = whole("Frames per second", request.fps)
    p = output_plan(preset, request.width, request.height, request.frames, request.duration_s, request.fps)
    timesteps, notices = distilled_schedule(preset, request.steps)
    return dataclasses.replace(p, timesteps=timesteps, notices=p.notices + tuple(notices))


def load_still(path: str) -> Image.Image:
    """Open an uploaded still as RGB, refusing what is not a usable image, with what to do instead."""
    p = Path(path or "")
    if not path or not p.is_file():
        raise InputError("The still could not be found; upload it again or pick one from your gallery.")
    if p.stat().st_size > MAX_STILL_BYTES:
        raise InputError(f"The still is {p.stat().st_size / 2**20:.0f} MB; the limit is "
                         f"{MAX_STILL_BYTES // 2**20} MB. Export a smaller JPEG or PNG.")
    try:
        with Image.open(p) as img:
            w, h = img.size  # from the header: nothing decoded yet
            if w * h > MAX_STILL_PIXELS:
                raise InputError(f"The still is {w}×{h} px ({w * h / 1e6:.0f} MP); the limit is "
                                 f"{MAX_STILL_PIXELS / 1e6:.0f} MP. Scale it down first.")
            if min(w, h) < MIN_STILL_SIDE:
                raise InputError(f"The still is too small: only {w}×{h} px; use one at least {MIN_STILL_SIDE} px "
                                 f"on its shorter side.")
            img.load()
            return ImageOps.exif_transpose(img).convert("RGB")
    except InputError:  # a size refusal above is not damage (InputError is a ValueError too)
        raise
    except Image.DecompressionBombError:
        raise InputError(f"The still is far larger than the limit of {MAX_STILL_PIXELS / 1e6:.0f} MP; "
                         f"scale it down first.") from None
    except UnidentifiedImageError:
        raise InputError(f"{p.name} is not an image the studio can read; upload a PNG, JPEG or WebP still.") from None
    except (OSError, SyntaxError, ValueError):  # Pillow's own words stay out of the message
        raise InputError(f"The still {p.name} is damaged or truncated; export it again.") from None


# ----- loading -----------------------------------------------------------------------------------

@dataclass
class VideoModel:
    """A loaded video model: one pipeline per mode it serves, all sharing the same weights."""

    pipes: dict[str, Any]
    decode_chunk_size: int | None = None  # SVD's form of VAE slicing
    preview_every: int = 0                # a live preview of the first frame every N steps (0: off)
    studio_features: dict[str, Any] = field(default_factory=dict)  # speed-ups applied (recorded per output)

    @property
    def modes(self) -> list[str]:
        return list(self.pipes)


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[VideoModel, list[str]]:
    """Load a video pipeline from a hub id or a folder, place it, and make its other mode's pipeline."""
    import torch
    import diffusers

    from pipelines.device import place_pipeline

    pipe = diffusers.DiffusionPipeline.from_pretrained(source, dtype=dtype, **kwargs)  # `torch_dtype` is deprecated
    name = type(pipe).__name__
    if name not in PIPELINE_MODES:
        raise PresetError(f"{source} holds a {name}, which the video task does not run.")
    notices = []
    vae = pipe.vae
    # Some VAEs (SVD's temporal decoder) have no tiling; asking anyway must not stop the load.
    if runtime.vae_tiling and not hasattr(vae, "use_tiling"):
        notices.append(f"VAE tiling is not available for {type(vae).__name__}; lower the size to save memory.")
        runtime = dataclasses.replace(runtime, vae_tiling=False)
    decode_chunk = None
    if name == "StableVideoDiffusionPipeline":
        decode_chunk = 2 if runtime.vae_slicing else None   # SVD decodes frames in chunks instead
        runtime = dataclasses.replace(runtime, vae_slicing=False)
    notices += place_pipeline(pipe, device, runtime)
    modes = dict(PIPELINE_MODES[name])
    if name.startswith("Wan") and pipe.config.get("expand_timesteps"):
        modes = dict(_WAN_TI2V)  # Wan 2.2 TI2V: one model for text and for a still
    pipes = {}
    for mode, cls_name in modes.items():
        # `from_pipe` casts the shared modules to its dtype (float32 unless told), so it is told.
        other = pipe if cls_name == name else getattr(diffusers, cls_name).from_pipe(pipe, dtype=dtype)
        other.set_progress_bar_config(disable=True)
        pipes[mode] = other
    if name.startswith("Wan") and dtype != torch.float32:
        vae.to(torch.float32)  # Wan's VAE is published for fp32 decoding; half precision bands.
    return VideoModel(pipes, decode_chunk, runtime.preview_every,
                      dict(getattr(pipe, "studio_features", {}))), notices


def model_rules(pipe) -> tuple[int, str]:
    """(size multiple, frame rule) that a loaded pipeline imposes, read from its own components."""
    name = type(pipe).__name__
    if name.startswith("LTX"):
        return pipe.vae_spatial_compression_ratio * pipe.transformer_spatial_patch_size, \
            f"{pipe.vae_temporal_compression_ratio}k+1"
    if name.startswith("Wan"):
        return pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1], \
            f"{pipe.vae_scale_factor_temporal}k+1"
    if name.startswith("CogVideoX"):
        # The VAE decodes latent frames two at a time; only an odd latent count gives 4k+1 frames back.
        return pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size, \
            f"{2 * pipe.vae_scale_factor_temporal}k+1"
    levels = len(pipe.unet.config.block_out_channels) - 1
    return pipe.vae_scale_factor * 2**levels, "any"


# ----- running -----------------------------------------------------------------------------------

def _callback(progress: Progress, total: int, p: Plan | None = None, every: int = 0):
    """Report each denoising step, with a preview of the first frame every `every` steps; after
    the last step the VAE decodes, which is its own stage."""
    from pipelines.video_preview import preview_or_none

    def callback(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        preview = None
        if every and p is not None and (step + 1) % every == 0 and step + 1 < total and "latents" in callback_kwargs:
            preview = preview_or_none(pipe, callback_kwargs["latents"], p.gen_height, p.gen_width, p.frames)
        progress.update(step + 1, total, "denoising", preview=preview)
        if step + 1 >= total:
            progress.update(0, 1, "decoding")
        return callback_kwargs

    return callback


def _call_kwargs(view, request: Request, p: Plan, still: Image.Image | None, progress: Progress,
                 model: VideoModel) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The pipeline call for this family, the extra parameters to record, and notices."""
    name = type(view).__name__
    kwargs: dict[str, Any] = dict(height=p.gen_height, width=p.gen_width, num_frames=p.frames,
                                  num_inference_steps=request.steps, generator=generators([request.seed])[0],
                                  output_type="np",
                                  callback_on_step_end=_callback(progress, request.steps, p, model.preview_every))
    extra: dict[str, Any] = {}
    notices: list[str] = []
    if still is not None:
        kwargs["image"] = still
    if name == "StableVideoDiffusionPipeline":
        if request.prompt.strip() or request.negative_prompt.strip():
            notices.append("Stable Video Diffusion animates the still alone; the prompts were not used.")
        # SVD ramps guidance across the frames, from min to max.
        kwargs.update(min_guidance_scale=min(1.0, request.guidance), max_guidance_scale=request.guidance,
                      fps=p.fps, motion_bucket_id=request.motion, noise_aug_strength=0.02,
                      decode_chunk_size=model.decode_chunk_size or p.frames)
        extra.update(motion_bucket_id=request.motion, noise_aug_strength=0.02,
                     min_guidance=kwargs["min_guidance_scale"], decode_chunk_size=kwargs["decode_chunk_size"])
        return kwargs, extra, notices
    kwargs.update(prompt=request.prompt.strip(), guidance_scale=request.guidance)
    if request.negative_prompt.strip():
        kwargs["negative_prompt"] = request.negative_prompt.strip()
    if name.startswith("LTX"):
        max_seq = 128
        kwargs["frame_rate"] = p.fps  # LTX conditions its positional scale on the frame rate
        if view.vae.config.timestep_conditioning:  # LTX 0.9.1+: the published decode settings
            kwargs.update(decode_timestep=0.03, decode_noise_scale=0.025)
        if name == "LTXConditionPipeline":
            # Its default noises the conditioning still by 0.15; the published settings use 0.025.
            kwargs["image_cond_noise_scale"] = 0.025
            extra["image_cond_noise_scale"] = 0.025
        if p.timesteps:
            kwargs.pop("num_inference_steps")
            kwargs["timesteps"] = list(p.timesteps)
            extra["timesteps"] = list(p.timesteps)
    elif name.startswith("CogVideoX"):
        max_seq = view.transformer.config.max_text_seq_length  # fixed by its positional embedding
    else:
        max_seq = 512
    kwargs["max_sequence_length"] = max_seq
    extra["max_sequence_length"] = max_seq
    notices += prompt_notices(view, kwargs["prompt"], max_seq)
    return kwargs, extra, notices


def _to_uint8(video: Any, p: Plan) -> list[np.ndarray]:
    """Float frames in [0, 1] (frames, H, W, 3) -> RGB uint8 frames cropped to the asked size."""
    frames = np.asarray(video[0] if isinstance(video, (list, tuple)) or np.ndim(video) == 5 else video)
    top, left = (frames.shape[1] - p.height) // 2, (frames.shape[2] - p.width) // 2
    frames = frames[:, top:top + p.height, left:left + p.width]
    return [np.ascontiguousarray(f) for f in (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)]


def run(model: VideoModel, request: Request, progress: Progress) -> Result:
    """Make one clip; its artifact carries every parameter that made it."""
    import torch
    progress.check()
    p = request.resolved
    if p is None:
        raise InputError("The request was not checked against a model preset before running.")
    if request.mode not in model.pipes:
        raise PresetError(f"The loaded model serves {', '.join(model.modes)}, not {request.mode!r}; "
                          f"its preset's `modes` is wrong.")
    pipe = model.pipes[request.mode]
    multiple, _ = model_rules(pipe)
    if p.gen_width % multiple or p.gen_height % multiple:
        raise PresetError(f"The preset's size_multiple does not match the model, which needs multiples of {multiple}.")
    still = None
    if request.mode == "image":
        still = ImageOps.fit(load_still(request.image_path), (p.gen_width, p.gen_height), Image.Resampling.LANCZOS)
    view = request_view(pipe, make_scheduler(pipe, "default"))
    kwargs, extra, notices = _call_kwargs(view, request, p, still, progress, model)
    progress.update(0, request.steps, "denoising")
    with torch.inference_mode():
        video = view(**kwargs).frames
    frames = _to_uint8(video, p)
    progress.update(1, 1, "decoding")
    if len(frames) != p.frames:
        raise RuntimeError(f"{type(view).__name__} returned {len(frames)} frames for {p.frames} asked")
    params = dict(task=TASK, mode=request.mode, prompt=request.prompt, negative_prompt=request.negative_prompt,
                  seed=request.seed, steps=request.steps, guidance=request.guidance, width=p.width, height=p.height,
                  generated_width=p.gen_width, generated_height=p.gen_height, frames=p.frames, fps=p.fps,
                  duration_s=round(p.duration_s, 3), frames_asked=request.frames or None,
                  duration_asked_s=None if request.frames else request.duration_s,
                  pipeline=type(view).__name__, scheduler_class=type(view.scheduler).__name__, **extra)
    if still is not None:
        params["still"] = Path(request.image_path).name
    return Result([VideoArtifact(frames=frames, fps=float(p.fps), params=params)], list(p.notices) + notices)


CONTRACT = Task(TASK, Request, artifacts=("video",))
