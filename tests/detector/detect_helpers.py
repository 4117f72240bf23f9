"""Media makers shared by the detector tests (imported by name: pytest puts this folder on sys.path)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def picture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB picture with mild noise: what a photograph looks like to a watermark reader."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    channels = [128 + 60 * np.sin(x / (17.0 + 5 * c + seed) + c) + 40 * np.cos(y / (11.0 + 3 * c)) for c in range(3)]
    return np.clip(np.stack(channels, -1) + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)


def speech_like(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-paced signal (harmonics under a 4 Hz envelope plus breath noise), mono float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.2 * voiced * envelope + 0.005 * rng.standard_normal(t.shape)).astype(np.float32)


def write_video(path: Path, frames: list[np.ndarray], fps: int = 8) -> Path:
    """An H.264 MP4 of RGB frames, written with PyAV."""
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return path
