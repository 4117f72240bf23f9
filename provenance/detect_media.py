"""Turn a file into what the detector's classifiers read: pictures (an image, or frames
sampled over a video) or a mono clip. Anything that cannot be judged gets a reason instead.

The type comes from the file's bytes (provenance.probe.sniff_mime), never from its name.
Nothing here raises for a bad file: a damaged, empty, tiny, silent or one-frame file comes
back with `problem` set to a sentence the visitor can read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from PIL import Image, ImageOps, UnidentifiedImageError

from pipelines.audio_decode import decode_audio
from provenance.probe import kind_of, sniff_mime
from provenance.probe import _short  # one place keeps decoders' own words off the page

# A clip quieter than this RMS level (-80 dBFS) carries nothing a classifier can judge.
SILENCE_RMS = 1e-4
# Longer sound is cut here: the classifier reads a few windows spread over what was decoded.
MAX_AUDIO_S = 600.0
# Frames decoded at most from a video (10 minutes at 30 frames/s); the sample spans those.
MAX_VIDEO_FRAMES = 18000


@dataclass
class MediaInput:
    """One file, ready for a classifier, or the reason it cannot be judged."""

    name: str
    mime: str | None = None
    kind: str | None = None               # image | audio | video
    images: list[Image.Image] = field(default_factory=list, repr=False)
    clip: np.ndarray | None = field(default=None, repr=False)
    sample_rate: int = 0
    duration_s: float | None = None
    frames_decoded: int | None = None     # video only
    width: int | None = None
    height: int | None = None
    problem: str = ""                     # why it cannot be judged ("" when it can)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem


def read_media(path: Path, *, min_size: int, min_duration_s: float, video_frames: int = 8) -> MediaInput:
    """Decode `path` for the classifiers. `min_size` (pixels per side) and `min_duration_s`
    come from the presets' limits; `video_frames` is how many frames a video is judged by."""
    path = Path(path)
    media = MediaInput(name=path.name)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        media.problem = f"the file could not be opened ({exc.strerror or 'not found'})"
        return media
    if not head:
        media.problem = "the file is empty"
        return media
    media.mime = sniff_mime(head)
    media.kind = kind_of(media.mime)
    if media.kind is None:
        media.problem = "this is not an image, audio or video format the detector reads"
        return media
    try:
        if media.kind == "image":
            _read_image(path, media, min_size)
        elif media.kind == "video":
            _read_video(path, media, min_size, video_frames, min_duration_s)
        else:
            _read_audio(path, media, min_duration_s)
    except MemoryError:
        media.problem = "the file is too large to examine"
    return media


def _read_image(path: Path, media: MediaInput, min_size: int) -> None:
    try:
        with Image.open(path) as im:
            im.seek(0)  # the first frame of an animation
            image = ImageOps.exif_transpose(im.convert("RGB"))
    except Image.DecompressionBombError:
        media.problem = "the image is too large to examine safely"
        return
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        media.problem = f"the image is damaged or incomplete ({_short(exc, path)})"
        return
    media.width, media.height = image.size
    if min(image.size) < min_size:
        media.problem = (f"the image is {image.width}×{image.height} pixels; the detector needs at least "
                         f"{min_size} pixels on each side")
        return
    media.images = [image]


def _read_video(path: Path, media: MediaInput, min_size: int, video_frames: int, min_duration_s: float) -> None:
    kept: list[np.ndarray] = []
    step, count = 1, 0
    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                if box.streams.audio:  # an audio-only MP4 (brand "isom", no picture): judge the sound
                    media.kind = "audio"
                    _read_audio(path, media, min_duration_s)
                    return
                media.problem = "the file has no video or audio track"
                return
            stream = box.streams.video[0]
            # Keep every `step`-th frame; when twice the wanted count is kept, drop every other
            # one and double the step. This spreads the sample over the whole video without
            # knowing its frame count first (containers do not always declare it).
            for frame in box.decode(stream):
                if count % step == 0:
                    kept.append(frame.to_ndarray(format="rgb24"))
                    if len(kept) >= 2 * video_frames:
                        kept, step = kept[::2], step * 2
                count += 1
                if count >= MAX_VIDEO_FRAMES:
                    media.notes.append(f"only the first {MAX_VIDEO_FRAMES} frames were sampled")
                    break
            rate = float(stream.average_rate) if stream.average_rate else 0.0
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        media.problem = f"the video is damaged or incomplete ({_short(exc, path)})"
        return
    media.frames_decoded = count
    media.duration_s = round(count / rate, 3) if rate else None
    if count == 0:
        media.problem = "the video has no decodable frames"
        return
    media.height, media.width = kept[0].shape[:2]
    if count < 2:
        media.problem = ("the video has a single frame; a video is judged on frames sampled over time "
                         "(check the still as an image instead)")
        return
    if min(media.width, media.height) < min_size:
        media.problem = (f"the video is {media.width}×{media.height} pixels; the detector needs at least "
                         f"{min_size} pixels on each side")
        return
    picks = np.linspace(0, len(kept) - 1, min(video_frames, len(kept))).round().astype(int)
    media.images = [Image.fromarray(kept[i]) for i in sorted(set(picks.tolist()))]


def _read_audio(path: Path, media: MediaInput, min_duration_s: float) -> None:
    if media.mime in ("audio/wav", "audio/flac", "audio/mpeg"):
        clip, rate = _read_soundfile(path, media)
    else:
        clip, rate = _read_av_audio(path, media)
    if clip is None:
        return
    media.sample_rate = rate
    media.duration_s = round(clip.shape[0] / rate, 3)
    if clip.shape[0] == 0:
        media.problem = "the audio holds no samples"
        return
    if clip.shape[0] / rate < min_duration_s:
        media.problem = (f"the audio lasts {clip.shape[0] / rate:.2f} s; the detector needs at least "
                         f"{min_duration_s:g} s")
        return
    if not np.isfinite(clip).all():
        media.problem = "the audio holds samples that are not numbers"
        return
    if float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) < SILENCE_RMS:
        media.problem = "the audio is silent (below -80 dBFS)"
        return
    media.clip = clip


def _read_soundfile(path: Path, media: MediaInput) -> tuple[np.ndarray | None, int]:
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            limit = int(MAX_AUDIO_S * rate)
            if f.frames > limit:
                media.notes.append(f"only the first {MAX_AUDIO_S:g} s were examined")
            data = f.read(frames=min(f.frames, limit) if f.frames > 0 else limit, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        media.problem = f"the audio is damaged or incomplete ({_short(exc, path)})"
        return None, 0
    return data.mean(axis=1), rate


def _read_av_audio(path: Path, media: MediaInput) -> tuple[np.ndarray | None, int]:
    try:
        sound = decode_audio(path, mono=True, max_seconds=MAX_AUDIO_S)
    except (av.error.FFmpegError, ValueError) as exc:
        media.problem = f"the audio is damaged or incomplete ({_short(exc, path)})"
        return None, 0
    if sound is None:
        media.problem = "the file has no audio track"
        return None, 0
    if sound.cut:
        media.notes.append(f"only the first {MAX_AUDIO_S:g} s were examined")
    return sound.samples[0], sound.rate
