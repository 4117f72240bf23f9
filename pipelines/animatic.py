"""An animatic: panel images held for their durations, with an optional slow pan or zoom, and one
sound track mixing the voice-over takes with a music bed ducked under them.

No model and no torch: numpy, Pillow and scipy. Steps of `build`:

1. timeline: shot boundaries on the frame grid from the running sum of durations, so rounding
   never accumulates and the film lasts the sum of its shots to within one frame;
2. frames: a lazy sequence rendering each frame when the encoder asks for it (a 10-minute
   animatic at 24 fps would be gigabytes as arrays); a still shot renders once;
3. sound: every take resampled to one rate and placed at its time, the music looped or trimmed
   to the length, faded, and lowered under the voices; exactly as long as the frames;
4. subtitles: each take's words timed from where its sound starts and ends on the timeline
   (pipelines.subtitles), carried as the MP4's soft subtitle track, or burnt into the frames.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PIL import Image

from pipelines import subtitles
from pipelines.errors import InputError
from pipelines.media import AudioArtifact, VideoArtifact

MOTIONS = ("none", "zoom_in", "zoom_out", "pan_left", "pan_right")
ZOOM = 1.12            # a zoom ends 12% closer (or starts there, zooming out): slow, as animatics do
PAN_ZOOM = 1.10        # a pan looks through a 10% closer window moving across the panel
MIX_RATE = 48000       # AAC's usual rate; every track is resampled to it
FADE_S = 0.02          # edges of every take, against clicks
MUSIC_FADE_S = 0.5
DUCK_RAMP_S = 0.25     # how fast the music dips under a voice and comes back
MAX_FPS = 60


@dataclass
class Clip:
    """One shot of the animatic: its panel, how long it is held, and the move over it."""

    image: Image.Image
    duration_s: float
    motion: str = "none"


@dataclass
class Track:
    """A sound placed on the timeline: float (channels, samples) audio starting at `start_s`."""

    samples: np.ndarray
    sample_rate: int
    start_s: float = 0.0
    text: str = ""   # what a voice take says: its subtitle ("" for music, or no subtitle)


def boundaries(durations: Sequence[float], fps: float) -> list[int]:
    """Frame index where each shot starts, then the total frame count (len = shots + 1)."""
    edges, t = [0], 0.0
    for d in durations:
        t += d
        edges.append(int(round(t * fps)))
    return edges


def cover_box(size: tuple[int, int], out: tuple[int, int]) -> tuple[float, float, float, float]:
    """The largest centred box of an image of `size` with the aspect of `out` (cropping, no bars)."""
    w, h = size
    aspect = out[0] / out[1]
    if w / h > aspect:
        cw = h * aspect
        return ((w - cw) / 2, 0.0, (w + cw) / 2, float(h))
    ch = w / aspect
    return (0.0, (h - ch) / 2, float(w), (h + ch) / 2)


def motion_box(base: tuple[float, float, float, float], motion: str, t: float) -> tuple[float, ...]:
    """The part of `base` shown at time t (0..1 through the shot) for a move."""
    x0, y0, x1, y1 = base
    w, h = x1 - x0, y1 - y0
    ease = t * t * (3 - 2 * t)  # smoothstep: starts and ends gently, as a camera operator would
    if motion in ("zoom_in", "zoom_out"):
        progress = ease if motion == "zoom_in" else 1 - ease
        scale = 1 / (1 + (ZOOM - 1) * progress)
        cx, cy = x0 + w / 2, y0 + h / 2
        return (cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2)
    if motion in ("pan_left", "pan_right"):
        sw, sh = w / PAN_ZOOM, h / PAN_ZOOM
        travel = w - sw
        # pan_right: the view travels right across the panel (the scene slides left)
        left = x0 + travel * (ease if motion == "pan_right" else 1 - ease)
        top = y0 + (h - sh) / 2
        return (left, top, left + sw, top + sh)
    return base


class Frames(Sequence):
    """The animatic's frames, rendered on demand; `on_frame(i, n)` hears of each one rendered."""

    def __init__(self, clips: Sequence[Clip], fps: float, size: tuple[int, int],
                 on_frame: Callable[[int, int], None] | None = None):
        self.clips, self.size, self.on_frame = list(clips), size, on_frame
        self.edges = boundaries([c.duration_s for c in clips], fps)
        self._images = [c.image.convert("RGB") for c in self.clips]
        self._bases = [cover_box(im.size, size) for im in self._images]
        self._still: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.edges[-1]

    def shot_at(self, i: int) -> int:
        return bisect.bisect_right(self.edges, i) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if self.on_frame is not None:
            self.on_frame(i, len(self))
        k = self.shot_at(i)
        motion = self.clips[k].motion
        if motion == "none":
            if k not in self._still:
                self._still[k] = self._render(k, self._bases[k])
            return self._still[k]
        first, last = self.edges[k], self.edges[k + 1]
        t = (i - first) / max(1, last - first - 1)
        return self._render(k, motion_box(self._bases[k], motion, t))

    def _render(self, k: int, box) -> np.ndarray:
        # Pillow resamples a fractional box exactly, so slow moves glide instead of stepping by pixels.
        return np.asarray(self._images[k].resize(self.size, Image.Resampling.BICUBIC, box=box))


def resample(samples: np.ndarray, rate: int, to: int) -> np.ndarray:
    """(channels, n) float audio at `to` Hz (polyphase filtering, scipy)."""
    if rate == to:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(rate, to)
    return resample_poly(samples, to // g, rate // g, axis=-1).astype(np.float32)


def _fade(x: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    x = x.copy()
    n_in, n_out = min(n_in, x.shape[-1] // 2), min(n_out, x.shape[-1] // 2)
    if n_in:
        x[..., :n_in] *= np.linspace(0.0, 1.0, n_in, dtype=np.float32)
    if n_out:
        x[..., -n_out:] *= np.linspace(1.0, 0.0, n_out, dtype=np.float32)
    return x


def _smooth(mask: np.ndarray, n: int) -> np.ndarray:
    """Moving average of a 0/1 mask over n samples (cumulative sums: linear time on long tracks)."""
    if n < 2:
        return mask
    c = np.concatenate([[0.0], np.cumsum(mask, dtype=np.float64)])
    half = n // 2
    idx = np.arange(mask.size)
    lo, hi = np.clip(idx - half, 0, mask.size), np.clip(idx + half + 1, 0, mask.size)
    return ((c[hi] - c[lo]) / (hi - lo)).astype(np.float32)


def loop_to(samples: np.ndarray, n: int, rate: int) -> np.ndarray:
    """Music trimmed to n samples, or looped with a short crossfade when it is shorter."""
    if samples.shape[-1] >= n:
        return samples[..., :n]
    cross = min(int(MUSIC_FADE_S * rate), samples.shape[-1] // 4)
    out = samples.copy()
    while out.shape[-1] < n:
        head = samples.copy()
        if cross:
            ramp = np.linspace(0.0, 1.0, cross, dtype=np.float32)
            out[..., -cross:] = out[..., -cross:] * (1 - ramp) + head[..., :cross] * ramp
            head = head[..., cross:]
        out = np.concatenate([out, head], axis=-1)
    return out[..., :n]


def mix(voices: Sequence[Track], music: Track | None, duration_s: float, *, rate: int = MIX_RATE,
        music_db: float = -12.0, duck_db: float = -10.0) -> np.ndarray:
    """One (channels, n) track of exactly `duration_s`: takes at their times, music looped or trimmed,
    faded in and out, `music_db` below its own level, and `duck_db` lower still under a voice."""
    n = int(round(duration_s * rate))
    channels = max([t.samples.shape[0] for t in [*voices, *([music] if music else [])]] or [1])
    out = np.zeros((channels, n), np.float32)
    speaking = np.zeros(n, np.float32)
    edge = int(FADE_S * rate)
    for track in voices:
        take = _fade(resample(np.atleast_2d(track.samples), track.sample_rate, rate), edge, edge)
        start = int(round(track.start_s * rate))
        if start >= n:
            continue
        piece = take[..., : n - start]
        out[:, start:start + piece.shape[-1]] += piece if piece.shape[0] == channels else piece.mean(0)
        speaking[start:start + piece.shape[-1]] = 1.0
    if music is not None:
        bed = loop_to(resample(np.atleast_2d(music.samples), music.sample_rate, rate), n, rate)
        fade = int(MUSIC_FADE_S * rate)
        bed = _fade(bed, fade, fade)
        duck = 10 ** (duck_db / 20)
        gain = 10 ** (music_db / 20) * (1 - (1 - duck) * _smooth(speaking, int(DUCK_RAMP_S * rate)))
        out += (bed if bed.shape[0] == channels else np.repeat(bed.mean(0, keepdims=True), channels, 0)) * gain
    peak = float(np.abs(out).max()) if out.size else 0.0
    if peak > 0.999:  # the loudness step scales the level anyway; this keeps the sum from clipping first
        out *= 0.999 / peak
    return out


def voice_times(starts: Sequence[float], takes: Sequence[Sequence[float]], lead_s: float = 0.3,
                gap_s: float = 0.15) -> list[list[float]]:
    """When each take of each shot starts: `lead_s` into its shot, one after another."""
    times = []
    for start, durations in zip(starts, takes):
        t, shot_times = start + lead_s, []
        for d in durations:
            shot_times.append(t)
            t += d + gap_s
        times.append(shot_times)
    return times


def subtitle_cues(voices: Sequence[Track], duration_s: float, rules: subtitles.Rules) -> list[subtitles.Cue]:
    """Cues for the takes that have text, each timed from its first to its last audible 10 ms on the timeline."""
    spans = []
    for track in voices:
        if track.text.strip():
            found = subtitles.speech_span(np.atleast_2d(track.samples).mean(0), track.sample_rate, track.start_s)
            if found and found[0] < duration_s:
                spans.append(subtitles.Span(found[0], min(found[1], duration_s), track.text))
    return subtitles.build_cues(spans, rules, end_s=duration_s)


class CaptionedFrames(Sequence):
    """Frames with the cue on screen at each frame's time drawn in (burnt-in subtitles)."""

    def __init__(self, frames: Sequence, fps: float, cues: Sequence[subtitles.Cue]):
        self.frames, self.fps, self.cues = frames, fps, list(cues)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        frame = self.frames[i]
        t = (i % len(self) if i < 0 else i) / self.fps
        cue = next((c for c in self.cues if c.start_s <= t < c.end_s), None)
        return frame if cue is None else burn(frame, cue.text)


def burn(frame: np.ndarray, text: str) -> np.ndarray:
    """`text` drawn centred near the bottom of an RGB frame, white on a translucent dark box."""
    from PIL import ImageDraw, ImageFont

    image = Image.fromarray(frame).convert("RGBA")
    height = image.height
    font = ImageFont.load_default(size=max(10, height // 18))
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    box = draw.multiline_textbbox((0, 0), text, font=font, align="center")
    w, h = box[2] - box[0], box[3] - box[1]
    x, y = (image.width - w) / 2, height - h - max(4, height // 14)
    pad = max(2, height // 60)
    draw.rectangle((x - pad, y - pad + box[1], x + w + pad, y + h + pad + box[1]), fill=(0, 0, 0, 150))
    draw.multiline_text((x, y), text, font=font, fill=(255, 255, 255, 255), align="center")
    return np.asarray(Image.alpha_composite(image, layer).convert("RGB"))


def build(clips: Sequence[Clip], *, fps: float, size: tuple[int, int], voices: Sequence[Track] = (),
          music: Track | None = None, params: dict[str, Any] | None = None, music_db: float = -12.0,
          target_lufs: float | None = -16.0, on_frame: Callable[[int, int], None] | None = None,
          subtitle_rules: subtitles.Rules | None = subtitles.Rules(), burn_subtitles: bool = False,
          subtitle_language: str = "und") -> VideoArtifact:
    """The animatic as a VideoArtifact (frames rendered lazily) with its mixed sound, if any, and the
    takes' words as a soft subtitle track (or burnt in; `subtitle_rules=None`: no subtitles)."""
    if not clips:
        raise InputError("An animatic needs at least one shot with a panel.")
    if not 1 <= fps <= MAX_FPS:
        raise InputError(f"The frame rate {fps:g} is out of range: use 1 to {MAX_FPS} frames per second.")
    for k, clip in enumerate(clips, start=1):
        if clip.motion not in MOTIONS:
            raise InputError(f"Shot {k}: the camera move {clip.motion!r} is not one of {', '.join(MOTIONS)}.")
        if not clip.duration_s > 0:
            raise InputError(f"Shot {k} lasts {clip.duration_s:g} s; every shot needs a positive duration.")
    width, height = (int(v) + int(v) % 2 for v in size)  # H.264 4:2:0 needs even sizes
    frames = Frames(clips, fps, (width, height), on_frame)
    duration = len(frames) / fps
    audio = None
    if voices or music is not None:
        sound = mix(voices, music, duration, music_db=music_db)
        audio = AudioArtifact(sound, MIX_RATE, {"mixed": True}, target_lufs=target_lufs)
    info = dict(params or {})
    info.update(fps=fps, width=width, height=height, frames=len(frames), duration_s=round(duration, 4),
                shot_frames=[b - a for a, b in zip(frames.edges, frames.edges[1:])],
                voice_takes=len(voices), music=music is not None, audio_rate=MIX_RATE if audio else None,
                music_db=music_db if music is not None else None, target_lufs=target_lufs if audio else None)
    cues = subtitle_cues(voices, duration, subtitle_rules) if subtitle_rules is not None else []
    info.update(subtitles=("burnt in" if burn_subtitles else "soft track") if cues else None,
                subtitle_cues=len(cues))
    if audio is not None:
        audio.params = dict(info)
    shown = CaptionedFrames(frames, fps, cues) if cues and burn_subtitles else frames
    return VideoArtifact(frames=shown, fps=fps, params=info, audio=audio,  # type: ignore[arg-type]
                         subtitles=subtitles.to_srt(cues) if cues and not burn_subtitles else None,
                         subtitle_language=subtitle_language)
