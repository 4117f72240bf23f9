"""Music through transformers' MusicGen (text) and MusicGen Melody (text + a reference tune).

The published audiocraft MusicGen weights, served by transformers (audiocraft itself pins torch
2.1 and cannot be installed beside the rest). Steps of `run`:

1. read the melody (if any) and the text conditioning;
2. plan windows: a generate call covers at most the model's window (30 s for the published
   models: generation_config.max_length tokens); longer pieces are continued window by window,
   each new window conditioned on the tail of the audio so far (re-encoded with the model's own
   EnCodec, as transformers' audio-prompted generation does) and crossfaded onto it;
3. sample every token with this request's own `torch.Generator` (see `SeededSampler`);
4. trim to the exact requested length and hand over float audio with its loudness target.

Seeding: transformers' `generate` samples with the global torch RNG, which every thread shares,
so seeding it would make runs depend on whatever else runs at the same time (and would disturb
them). Instead generate runs greedy over logits that `SeededSampler` has already sampled: it
applies guidance, temperature and top-k, draws the token from a per-request generator, and
returns a one-hot row that greedy picking turns back into that token. No global state is read
or written, and the same seed gives the same music.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
# torch is imported in the functions that run a model: the web app imports this module for its Request.

from pipelines.audio_decode import decode_audio
from pipelines.checks import number, whole
from pipelines.contract import Task, upload
from pipelines.errors import InputError, PresetError
from pipelines.media import AudioArtifact, Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress
from pipelines.uploads import AUDIO_KINDS, probe_upload

TASK = "music"
MAX_PROMPT_CHARS = 1000
MIN_DURATION_S = 0.5
# Of each continued window, this share is the previous audio given as context: audiocraft's
# extended generation keeps 12 s of its 30-s window (extend_stride 18 s).
CONTEXT_FRACTION = 0.4
# The join is crossfaded over this long (at most half the context), ending where new audio starts.
CROSSFADE_S = 0.5
MIN_MELODY_S = 1.0
SILENCE_DBFS = -60.0
# Sampled tokens get 0, the rest this: finite, so that guidance's affine mix of two equal rows
# (transformers applies its CFG after our sampler) gives the same row back exactly.
_NOT_CHOSEN = -1.0e4


@dataclass
class Request:
    """One music job. `seed` is resolved (never None) before it reaches `run`."""

    prompt: str
    model: str = "tiny-musicgen"
    duration_s: float = 10.0
    seed: int = 0
    guidance: float = 3.0
    temperature: float = 1.0
    top_k: int = 250
    melody_path: str = field(default="",  # an uploaded or recorded tune (MusicGen Melody presets)
                             metadata=upload("audio", flag="melody", title="melody"))
    loudness_lufs: float | None = -14.0  # the published file's loudness; None keeps the level

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for anything this model cannot take; every message says what to do."""
        takes_melody = preset.family == "musicgen-melody"
        self.prompt = self.prompt if isinstance(self.prompt, str) else ""
        self.melody_path = self.melody_path or ""
        if self.melody_path and not takes_melody:
            raise InputError(f"“{preset.label}” does not take a melody: choose a MusicGen Melody preset, "
                             f"or remove the melody.")
        if not self.prompt.strip() and not self.melody_path:
            raise InputError("The prompt is empty: describe the music (genre, mood, instruments, tempo)"
                             + (", or give a melody." if takes_melody else "."))
        limit = preset.limit("max_prompt_chars", MAX_PROMPT_CHARS)
        if len(self.prompt) > limit:
            raise InputError(f"The prompt is {len(self.prompt)} characters; the limit is {limit}.")
        self.duration_s = number("Duration", self.duration_s)
        max_duration = float(preset.limit("max_duration_s", 30.0))
        if not MIN_DURATION_S <= self.duration_s <= max_duration:
            raise InputError(f"Duration {self.duration_s:g} s is out of range: use {MIN_DURATION_S:g} to "
                             f"{max_duration:g} seconds with this model.")
        self.seed = whole("Seed", self.seed)
        if not 0 <= self.seed < 2**32:
            raise InputError(f"Seed {self.seed} is out of range: use 0 to {2**32 - 1}.")
        self.guidance = number("Guidance", self.guidance)
        if not 1.0 <= self.guidance <= 15.0:
            raise InputError(f"Guidance {self.guidance:g} is out of range: use 1 (none) to 15 (3 is typical).")
        self.temperature = number("Temperature", self.temperature)
        if not 0.05 <= self.temperature <= 3.0:
            raise InputError(f"Temperature {self.temperature:g} is out of range: use 0.05 to 3 (1 is typical).")
        self.top_k = whole("Top-k", self.top_k)
        if not 0 <= self.top_k <= 10000:
            raise InputError(f"Top-k {self.top_k} is out of range: use 0 (off) to 10000 (250 is typical).")
        if self.loudness_lufs is not None:
            self.loudness_lufs = number("Loudness", self.loudness_lufs)
            if not -40.0 <= self.loudness_lufs <= -5.0:
                raise InputError(f"Loudness {self.loudness_lufs:g} LUFS is out of range: use -40 to -5 "
                                 f"(-14 suits music for streaming).")
        if self.melody_path:
            read_melody(self.melody_path)


# ---------------------------------------------------------------------------------- the melody

def read_audio(path: str) -> tuple[np.ndarray, int]:
    """Decode an audio file to float32 (channels, samples): soundfile first, PyAV for the rest.

    soundfile (libsndfile) reads WAV, FLAC, OGG and MP3 exactly; browsers' recordings (WebM/Opus)
    and AAC/M4A need FFmpeg, which PyAV carries.
    """
    import soundfile as sf

    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.T), int(rate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass
    import av

    try:
        sound = decode_audio(path)
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise InputError("not audio") from e
    if sound is None or not sound.samples.shape[-1]:
        raise InputError("no audio")
    return sound.samples, sound.rate


def read_melody(path: str) -> tuple[np.ndarray, int]:
    """The reference tune as float32 (channels, samples); `InputError` saying what is wrong otherwise."""
    p = Path(path)
    name = p.name
    # Type and damage from the header first (the studio also holds it to its duration limit there).
    probe_upload(p, AUDIO_KINDS, title=f"melody file “{name}”")
    try:
        samples, rate = read_audio(str(p))
    except InputError:
        raise InputError(f"The melody file “{name}” could not be read as audio: upload a WAV, FLAC, MP3, OGG or "
                         f"M4A recording of the tune.") from None
    if samples.size == 0:
        raise InputError(f"The melody file “{name}” contains no audio (it may be cut off): "
                         f"export or record it again.")
    if samples.shape[1] < MIN_MELODY_S * rate:
        raise InputError(f"The melody “{name}” is {samples.shape[1] / rate:.2f} s long; give at least "
                         f"{MIN_MELODY_S:g} s of the tune.")
    if not np.isfinite(samples).all():
        raise InputError(f"The melody file “{name}” is damaged (it decodes to invalid samples): export it again.")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms <= 10 ** (SILENCE_DBFS / 20):
        raise InputError(f"The melody “{name}” is silent: record or upload the tune again, louder.")
    return samples, rate


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------- loading

@dataclass
class MusicPipe:
    """A loaded MusicGen model and its processor (tokenizer, and chroma extractor for Melody)."""

    model: Any
    processor: Any
    takes_melody: bool


_MODEL_CLASSES = {"musicgen": "MusicgenForConditionalGeneration",
                  "musicgen_melody": "MusicgenMelodyForConditionalGeneration"}


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[MusicPipe, list[str]]:
    """Load a MusicGen or MusicGen Melody checkpoint from a hub id or a folder."""
    import transformers

    # revision/local_files_only apply to every file; `variant` names weight files only.
    where = {k: v for k, v in kwargs.items() if k in ("revision", "local_files_only")}
    config = transformers.AutoConfig.from_pretrained(source, **where)
    if config.model_type not in _MODEL_CLASSES:
        raise PresetError(f"{source} is a {config.model_type!r} model, not MusicGen; fix the preset.")
    cls = getattr(transformers, _MODEL_CLASSES[config.model_type])
    model = cls.from_pretrained(source, dtype=dtype, **kwargs).to(device).eval()
    processor = transformers.AutoProcessor.from_pretrained(source, **where)
    notices = []
    if runtime.offload != "none":
        notices.append("CPU offload applies to diffusers pipelines; MusicGen runs fully on the device.")
    return MusicPipe(model, processor, config.model_type == "musicgen_melody"), notices


# ---------------------------------------------------------------------------------- sampling

class SeededSampler:
    """A logits processor that samples each token from a per-request `torch.Generator`.

    transformers' MusicGen generate appends its classifier-free-guidance processor after custom
    ones, so the scores arrive here still doubled (conditional rows, then unconditional): guidance
    is applied here with the same formula, and the one-hot result is doubled back so that the
    library's guidance step leaves it as it is. Also reports progress (and so stops on Cancel).
    """

    def __init__(self, generator: torch.Generator, guidance: float, temperature: float, top_k: int,
                 on_step: Callable[[], None]):
        self.generator, self.guidance, self.temperature, self.top_k = generator, guidance, temperature, top_k
        self.on_step = on_step

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import torch
        self.on_step()
        logits = scores.float()
        doubled = logits.shape[0] == 2 * input_ids.shape[0]
        if doubled:
            cond, uncond = logits.split(input_ids.shape[0], dim=0)
            logits = uncond + (cond - uncond) * self.guidance
        logits = logits / self.temperature
        if 0 < self.top_k < logits.shape[-1]:
            kth = torch.topk(logits, self.top_k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        tokens = torch.multinomial(probs.cpu(), 1, generator=self.generator).to(logits.device)
        chosen = torch.full_like(logits, _NOT_CHOSEN).scatter_(1, tokens, 0.0)
        if doubled:
            chosen = torch.cat([chosen, chosen], dim=0)
        return chosen.to(scores.dtype)


# ---------------------------------------------------------------------------------- windows

@dataclass(frozen=True)
class Geometry:
    """The model's audio layout: rates, hop, codebook delays and its context window."""

    sample_rate: int
    frame_rate: float
    hop: int
    channels: int
    delays: int            # codebook delay-pattern length (codebooks per channel)
    window_frames: int     # audio frames one generate call can cover

    @classmethod
    def of(cls, model) -> "Geometry":
        codec = model.config.audio_encoder
        decoder = model.config.decoder
        hop = int(np.prod(codec.upsampling_ratios))
        channels = decoder.audio_channels
        delays = decoder.num_codebooks // channels
        # Past max_position_embeddings the decoder would grow its shared position table in place.
        tokens = min(int(model.generation_config.max_length or 1500), int(decoder.max_position_embeddings))
        return cls(codec.sampling_rate, codec.sampling_rate / hop, hop, channels, delays, tokens - delays)


def plan_windows(total_frames: int, window_frames: int,
                 context_fraction: float = CONTEXT_FRACTION) -> list[tuple[int, int]]:
    """(context_frames, new_frames) per generate call: the first has no context; the rest continue."""
    first = min(total_frames, window_frames)
    plan = [(0, first)]
    context = max(1, round(window_frames * context_fraction))
    stride = window_frames - context
    done = first
    while done < total_frames:
        new = min(stride, total_frames - done)
        plan.append((context, new))
        done += new
    return plan


def crossfade_join(so_far: np.ndarray, window: np.ndarray, context: int, fade: int) -> np.ndarray:
    """Append a continued window (whose first `context` samples re-make the tail of `so_far`).

    Over the last `fade` samples of the context the old audio fades linearly into the window's
    own rendering of it (the two are near copies, so a linear fade keeps the level); after the
    join only the window plays. The result is as long as `so_far` plus the window's new part.
    """
    fade = min(fade, context, so_far.shape[-1])
    if fade <= 0:
        return np.concatenate([so_far, window[:, context:]], axis=-1)
    ramp = np.linspace(0.0, 1.0, fade + 2, dtype=np.float32)[1:-1]
    mixed = so_far[:, -fade:] * (1.0 - ramp) + window[:, context - fade:context] * ramp
    return np.concatenate([so_far[:, :-fade], mixed, window[:, context:]], axis=-1)


def _encode_tail(model, tail: np.ndarray) -> tuple[torch.Tensor, Any]:
    """EnCodec codes of the tail, shaped as generate's decoder_input_ids (interleaved for stereo)."""
    import torch
    param = next(model.audio_encoder.parameters())
    x = torch.from_numpy(tail).to(param.device, param.dtype)[None]          # (1, channels, samples)
    parts, scales = [], []
    per_channel = model.config.decoder.num_codebooks // x.shape[1]
    for ch in range(x.shape[1]):
        out = model.audio_encoder.encode(x[:, ch:ch + 1], return_dict=True)
        parts.append(out.audio_codes[0][:, :per_channel])                    # (1, codebooks, frames)
        scales.append(out.audio_scales)
    codes = torch.stack(parts, dim=2).flatten(1, 2) if len(parts) > 1 else parts[0]   # L/R interleaved
    frames = codes.shape[-1]
    audio_scales = scales[0] if len(scales) == 1 else [None]
    return codes.reshape(-1, frames), audio_scales


def _melody_features(pipe: MusicPipe, melody: np.ndarray, start_s: float, window_s: float) -> np.ndarray:
    """The melody under one window (mono, at the chroma extractor's rate), looped as audiocraft does."""
    rate = pipe.processor.feature_extractor.sampling_rate
    first = int(start_s * rate)
    positions = np.arange(first, first + int(window_s * rate)) % melody.shape[-1]
    return melody[positions]


def _prepare_melody(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    import torch
    import torchaudio

    mono = torch.from_numpy(samples.mean(axis=0))
    if rate != target_rate:
        mono = torchaudio.functional.resample(mono, rate, target_rate)
    return mono.numpy().astype(np.float32)


# ---------------------------------------------------------------------------------- run

def run(pipe: MusicPipe, request: Request, progress: Progress) -> Result:
    """Generate `request.duration_s` seconds of music; the artifact carries every parameter."""
    import torch
    progress.check()
    geo = Geometry.of(pipe.model)
    total_frames = math.ceil(request.duration_s * geo.frame_rate - 1e-9)
    total_s = round(total_frames / geo.frame_rate, 2)
    plan = plan_windows(total_frames, geo.window_frames)
    window_s = geo.window_frames / geo.frame_rate
    fade = crossfade_samples(plan, geo)

    melody = None
    if request.melody_path:
        samples, rate = read_melody(request.melody_path)
        melody = _prepare_melody(samples, rate, pipe.processor.feature_extractor.sampling_rate)

    generator = torch.Generator("cpu").manual_seed(request.seed)
    audio = np.zeros((geo.channels, 0), dtype=np.float32)
    frames_done = 0
    for context, new in plan:
        steps = new + geo.delays - 1          # the delay pattern needs delays - 1 extra steps per call
        on_step = _seconds_reporter(progress, geo, frames_done, new, steps, total_s)
        sampler = SeededSampler(generator, request.guidance, request.temperature, request.top_k, on_step)
        tail = audio[:, audio.shape[-1] - context * geo.hop:] if context else None
        segment = None
        if melody is not None:
            start_s = audio.shape[-1] / geo.sample_rate - context / geo.frame_rate
            segment = _melody_features(pipe, melody, max(start_s, 0.0), window_s)
        window = _generate_window(pipe, request.prompt.strip(), sampler, steps, tail, segment)
        audio = crossfade_join(audio, window, context * geo.hop, fade) if context else window
        frames_done += new
    audio = np.clip(audio[:, :round(request.duration_s * geo.sample_rate)], -1.0, 1.0)
    progress.update(total_s, total_s, "done")

    params = _params(request, pipe, geo, plan, fade)
    artifact = AudioArtifact(samples=np.ascontiguousarray(audio, dtype=np.float32), sample_rate=geo.sample_rate,
                             params=params, target_lufs=request.loudness_lufs)
    notices = []
    if len(plan) > 1:
        notices.append(f"Longer than the model's {window_s:g}-s window: made in {len(plan)} windows, each continuing "
                       f"the last {plan[1][0] / geo.frame_rate:g} s of the one before.")
    return Result([artifact], notices)


def _seconds_reporter(progress: Progress, geo: Geometry, base: int, new: int, steps: int,
                      total_s: float) -> Callable[[], None]:
    """Called once per generated token: reports the seconds of music made so far (raises on Cancel)."""
    count = itertools.count(1)

    def on_step() -> None:
        done_s = (base + new * min(next(count), steps) / steps) / geo.frame_rate
        progress.update(round(done_s, 2), total_s, "seconds of music")

    return on_step


def crossfade_samples(plan: list[tuple[int, int]], geo: Geometry) -> int:
    """The crossfade at each join: CROSSFADE_S, at most half the context."""
    if len(plan) < 2:
        return 0
    return min(round(CROSSFADE_S * geo.sample_rate), plan[1][0] * geo.hop // 2)


def _generate_window(pipe: MusicPipe, prompt: str, sampler: SeededSampler, steps: int, tail: np.ndarray | None,
                     melody: np.ndarray | None) -> np.ndarray:
    """One generate call: float (channels, samples) covering the tail's re-rendering and the new audio."""
    import torch
    model, processor = pipe.model, pipe.processor
    device = next(model.parameters()).device
    text: dict[str, Any] = {"text": [prompt], "padding": True, "return_tensors": "pt"}
    if melody is not None:
        text.update(audio=melody, sampling_rate=processor.feature_extractor.sampling_rate)
    inputs = {k: (v.to(device, model.dtype) if v.is_floating_point() else v.to(device))
              for k, v in processor(**text).items()}
    # do_sample=False: SeededSampler has already drawn each token (see the module docstring).
    kwargs: dict[str, Any] = dict(max_new_tokens=steps, do_sample=False, guidance_scale=sampler.guidance,
                                  logits_processor=[sampler], top_k=None, temperature=None)
    if tail is not None:
        codes, scales = _encode_tail(model, tail)
        kwargs["decoder_input_ids"] = codes.to(device)
        if scales is not None and scales != [None]:
            kwargs["audio_scales"] = scales
    with torch.inference_mode():
        return model.generate(**inputs, **kwargs)[0].float().cpu().numpy()


def _params(request: Request, pipe: MusicPipe, geo: Geometry, plan: list[tuple[int, int]],
            fade: int) -> dict[str, Any]:
    params: dict[str, Any] = dict(
        task=TASK, prompt=request.prompt, duration_s=request.duration_s, seed=request.seed,
        guidance=request.guidance, temperature=request.temperature, top_k=request.top_k,
        loudness_lufs=request.loudness_lufs, sample_rate=geo.sample_rate, channels=geo.channels,
        sampling="per-request torch.Generator (SeededSampler)", windows=len(plan),
        window_s=round(geo.window_frames / geo.frame_rate, 3),
        context_s=round(plan[1][0] / geo.frame_rate, 3) if len(plan) > 1 else 0.0,
        crossfade_s=round(fade / geo.sample_rate, 4), pipeline=type(pipe.model).__name__,
    )
    if request.melody_path:
        params.update(melody=Path(request.melody_path).name, melody_sha256=file_sha256(request.melody_path))
    return params


CONTRACT = Task(TASK, Request, artifacts=("audio",))
