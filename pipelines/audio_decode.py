"""One way to decode a sound with PyAV (FFmpeg): what browsers record and people upload (WAV, MP3,
FLAC, OGG, M4A, WebM) and the sound track of a video. No torch here: provenance and the studio
decode with it too.

PyAV's errors (`av.error.FFmpegError`, `ValueError`, `OSError`) reach the caller, which says in
its own words what is wrong with the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Decoded:
    samples: np.ndarray   # float32 (channels, n): one channel for mono, at most two otherwise
    rate: int             # samples per second
    cut: bool             # decoding stopped once `max_seconds` were in hand (the file may hold more)
    source_rate: int      # the stream's own rate and channel count (0: not said)
    source_channels: int


def decode_audio(path: str | Path, mono: bool = False, rate: int | None = None,
                 max_seconds: float | None = None) -> Decoded | None:
    """The first audio stream of `path` as float32, mixed to one channel when `mono` (else kept
    mono or made stereo), resampled to `rate` (default: the stream's own), and decoded only until
    `max_seconds` are in hand (a little more may come back: whole frames). None when the file has
    no audio stream."""
    import av

    with av.open(str(path)) as box:
        if not box.streams.audio:
            return None
        stream = box.streams.audio[0]
        source_rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        source_channels = int(stream.channels or 0)
        out_rate = int(rate or source_rate)
        if out_rate <= 0:
            raise ValueError("the audio stream gives no sample rate")
        layout = "mono" if mono or source_channels <= 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_rate)
        cap = None if max_seconds is None else int(max_seconds * out_rate)
        parts, count, cut = [], 0, False
        for frame in box.decode(stream):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray())
                count += parts[-1].shape[-1]
            if cap is not None and count >= cap:
                cut = True
                break
        else:
            parts += [out.to_ndarray() for out in resampler.resample(None)]
    channels = 1 if layout == "mono" else 2
    samples = np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((channels, 0), np.float32)
    return Decoded(samples, out_rate, cut, source_rate, source_channels)
