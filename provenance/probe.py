"""What kind of file is this, and can it be decoded? Used on files the studio is given.

The type comes from the first bytes, never from the name a visitor gave the file
(pipelines.uploads.sniff_mime: a dozen magic numbers written out rather than libmagic, a system
library the studio does not otherwise need).
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from PIL import Image, UnidentifiedImageError

from pipelines.uploads import kind_of, riff_shortfall, sniff_mime  # noqa: F401 (kind_of, sniff_mime: this module's API)

# Frames pooled when reading a video's watermark, spread over its length.
VIDEO_SAMPLE_FRAMES = 12


@dataclass
class Decoded:
    """The result of decoding a file: pixels to read a watermark from, or why it failed."""

    ok: bool
    problem: str = ""
    width: int = 0
    height: int = 0
    duration_s: float | None = None
    frames: list[np.ndarray] = field(default_factory=list)  # RGB uint8; one for an image


def decode(path: Path, mime: str) -> Decoded:
    """Fully decode an image, video or audio file; a damaged one gives ok=False and a reason."""
    kind = kind_of(mime)
    short = riff_shortfall(path) if mime in ("audio/wav", "image/webp") else 0
    if short:
        return Decoded(False, f"The file is incomplete: {short} bytes are missing from its end.")
    try:
        if kind == "image":
            return _decode_image(path)
        if kind == "video":
            return _decode_video(path)
        if kind == "audio":
            return _decode_audio(path, mime)
    except MemoryError:
        return Decoded(False, "The file is too large to examine.")
    return Decoded(False, "This is not an image, video or audio file.")


def _decode_image(path: Path) -> Decoded:
    try:
        with Image.open(path) as im:
            im.load()
            rgb = np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError:
        return Decoded(False, "The image is too large to examine safely.")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return Decoded(False, f"The image is damaged or incomplete ({_short(exc, path)}).")
    return Decoded(True, width=rgb.shape[1], height=rgb.shape[0], frames=[rgb])


def _decode_video(path: Path) -> Decoded:
    frames: list[np.ndarray] = []
    count = 0
    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                return Decoded(False, "The file has no video track.")
            stream = box.streams.video[0]
            expected = stream.frames or 0
            step = max(1, expected // VIDEO_SAMPLE_FRAMES) if expected else 1
            # Every frame is decoded (that is the integrity check); only a sample is kept.
            for frame in box.decode(stream):
                if count % step == 0 and len(frames) < VIDEO_SAMPLE_FRAMES:
                    frames.append(frame.to_ndarray(format="rgb24"))
                count += 1
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        return Decoded(False, f"The video is damaged or incomplete ({_short(exc, path)}).")
    if not frames:
        return Decoded(False, "The video has no decodable frames (damaged or incomplete).")
    if expected and count < expected:
        return Decoded(False, f"The video is incomplete: {count} of {expected} frames could be decoded.")
    h, w = frames[0].shape[:2]
    return Decoded(True, width=w, height=h, frames=frames)


def _decode_audio(path: Path, mime: str) -> Decoded:
    if mime in ("audio/wav", "audio/flac", "audio/mpeg"):
        try:
            with sf.SoundFile(str(path)) as f:
                declared = f.frames
                data = f.read(dtype="float32")
                rate = f.samplerate
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            return Decoded(False, f"The audio is damaged or incomplete ({_short(exc, path)}).")
        if mime == "audio/wav" and len(data) < declared:
            return Decoded(False, f"The audio is incomplete: {len(data)} of {declared} samples are present.")
        if len(data) == 0:
            return Decoded(False, "The audio file holds no samples.")
        return Decoded(True, duration_s=len(data) / rate)
    try:
        with av.open(str(path)) as box:
            if not box.streams.audio:
                return Decoded(False, "The file has no audio track.")
            n = sum(f.samples for f in box.decode(box.streams.audio[0]))
            rate = box.streams.audio[0].rate or 1
    except (av.error.FFmpegError, ValueError) as exc:
        return Decoded(False, f"The audio is damaged or incomplete ({_short(exc, path)}).")
    return Decoded(n > 0, "" if n else "The audio has no decodable samples.", duration_s=n / rate)


def _short(exc: Exception, path: Path | None = None) -> str:
    """What a message says in place of a decoder's own words: a reference to the server log, where
    the library's text (PyAV's "[Errno ...] Invalid data found", libsndfile's "No 'data' chunk
    marker", Pillow's) is written. The visitor reads the studio's words ("damaged or incomplete")."""
    ref = secrets.token_hex(4)
    logging.getLogger(__name__).warning("could not decode %s (reference %s): %s",
                                        path.name if path is not None else "a file", ref, exc)
    return f"reference {ref} in the server log"
