"""Step 1 of publish: turn in-memory media into the files handed out (before signing).

Images with Pillow, video with PyAV (H.264 yuv420p, moov up front, not fragmented, the sound
track as AAC), audio with soundfile (WAV, FLAC, MP3) after loudness normalisation with
pyloudnorm.
"""
from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np
import pyloudnorm
import soundfile as sf
from PIL import Image

from pipelines.errors import ProvenanceError

IMAGE_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac"}
EXTENSION = {"png": "png", "jpeg": "jpg", "webp": "webp", "wav": "wav", "mp3": "mp3", "flac": "flac", "mp4": "mp4"}
# Below one gating block (400 ms) BS.1770 loudness is undefined.
_MIN_LOUDNESS_SECONDS = 0.4
_PEAK_CEILING = 0.999


def write_image(image: Image.Image, fmt: str, path: Path, *, jpeg_quality: int = 95, webp_quality: int = 95) -> None:
    """Encode an image as PNG, JPEG or WebP (no metadata is copied from the source image)."""
    if fmt == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    options = {"png": {"optimize": False}, "jpeg": {"quality": jpeg_quality},
               "webp": {"quality": webp_quality}}[fmt]
    image.save(path, format=fmt.upper(), **options)


# ----- audio -------------------------------------------------------------------------------------

def normalise_loudness(samples: np.ndarray, sample_rate: int, target_lufs: float | None) -> tuple[np.ndarray, dict]:
    """Scale (channels, samples) audio to `target_lufs`; returns the audio and what was done.

    Silent or very short audio is left as it is (its loudness is undefined). When reaching
    the target would clip, the gain is lowered so the peak stays just below full scale.
    """
    info: dict = {"target_lufs": target_lufs}
    if target_lufs is None:
        return samples, {}
    if samples.shape[-1] < _MIN_LOUDNESS_SECONDS * sample_rate:
        return samples, {**info, "applied": False, "reason": "shorter than 0.4 s"}
    meter = pyloudnorm.Meter(sample_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns on clipping; handled below
        measured = float(meter.integrated_loudness(samples.T.astype(np.float64)))
    if not np.isfinite(measured):
        return samples, {**info, "applied": False, "reason": "silent"}
    gain = 10.0 ** ((target_lufs - measured) / 20.0)
    peak = float(np.abs(samples).max())
    limited = peak * gain > _PEAK_CEILING
    if limited:
        gain = _PEAK_CEILING / peak
    out = (samples * gain).astype(np.float32)
    return out, {**info, "applied": True, "measured_lufs": round(measured, 2),
                 "gain_db": round(20 * np.log10(gain), 2), "peak_limited": limited}


def write_audio(samples: np.ndarray, sample_rate: int, fmt: str, path: Path) -> None:
    """Write (channels, samples) float audio as WAV (16-bit), FLAC (16-bit) or MP3."""
    data = np.clip(samples, -1.0, 1.0).T
    subtype = {"wav": "PCM_16", "flac": "PCM_16", "mp3": "MPEG_LAYER_III"}[fmt]
    try:
        sf.write(str(path), data, sample_rate, format={"wav": "WAV", "flac": "FLAC", "mp3": "MP3"}[fmt],
                 subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise ProvenanceError(f"Could not encode the audio as {fmt.upper()} at {sample_rate} Hz: {exc}") from None


def check_audio(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Validate an AudioArtifact's samples: float (channels, samples), 1 or 2 channels."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[None, :]
    if samples.ndim != 2 or samples.shape[0] not in (1, 2) or samples.shape[1] == 0:
        raise ProvenanceError(f"Audio must be shaped (channels, samples) with 1 or 2 channels, got {samples.shape}.")
    if sample_rate <= 0:
        raise ProvenanceError(f"Audio sample rate must be positive, got {sample_rate}.")
    return samples.astype(np.float32, copy=False)


# ----- video -------------------------------------------------------------------------------------

def even_frame(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: repeat the last row/column where a size is odd."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


def check_frames(frames: list[np.ndarray]) -> None:
    """Validate a VideoArtifact's frames: a non-empty list of same-size RGB uint8 arrays."""
    if not frames:
        raise ProvenanceError("A video needs at least one frame.")
    shape = frames[0].shape
    for frame in frames:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.shape != shape:
            raise ProvenanceError("Video frames must all be RGB uint8 arrays of one size.")


def write_video(frames: Iterable[np.ndarray], fps: float, path: Path, *, size: tuple[int, int],
                audio: np.ndarray | None = None, audio_rate: int = 0, crf: int = 18) -> None:
    """Encode frames (RGB uint8 arrays of `size` = (width, height), both even) as MP4: H.264
    yuv420p with the moov box before the media data (+faststart), not fragmented, and
    optionally an AAC sound track from (channels, samples) float audio."""
    rate = Fraction(fps).limit_denominator(1001)
    try:
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as box:
            video = box.add_stream("libx264", rate=rate)
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(crf), "preset": "medium"}
            sound = _add_audio_stream(box, audio, audio_rate) if audio is not None else None
            for frame in frames:
                for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    box.mux(packet)
            for packet in video.encode():
                box.mux(packet)
            if sound is not None:
                _encode_audio(box, sound, audio, audio_rate)
    except (av.error.FFmpegError, ValueError) as exc:
        raise ProvenanceError(f"Could not encode the video: {exc}") from None


def _add_audio_stream(box, audio: np.ndarray, rate: int):
    stream = box.add_stream("aac", rate=rate)
    stream.layout = "mono" if audio.shape[0] == 1 else "stereo"
    return stream


def _encode_audio(box, stream, audio: np.ndarray, rate: int) -> None:
    planar = np.ascontiguousarray(np.clip(audio, -1.0, 1.0).astype(np.float32))
    chunk = 1024 * 16
    for start in range(0, planar.shape[1], chunk):
        frame = av.AudioFrame.from_ndarray(planar[:, start:start + chunk], format="fltp",
                                           layout=stream.layout.name)
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            box.mux(packet)
    for packet in stream.encode(None):
        box.mux(packet)
