"""Helpers for the video tests: deterministic stills, running a clip through the production path
(ModelManager -> pipelines.video.load -> runner.execute), and reading MP4 files back."""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from pipelines import video
from pipelines.progress import Progress

PROMPT = "a paper boat drifting down a rainy street"


def picture(w: int, h: int, seed: int = 0) -> Image.Image:
    """A picture with gradients, a shape and some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([60 + 120 * x / w, 80 + 100 * y / h, 200 - 90 * y / h], -1) + rng.normal(0, 10, (h, w, 3))
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    ImageDraw.Draw(im).ellipse((w // 4, h // 4, w // 2, h // 2), fill=(220, 60, 40))
    return im


def request(**fields) -> video.Request:
    """A small, fast request (2 steps, 256×256, 9 frames at 8 fps) with `fields` on top."""
    base = dict(prompt=PROMPT, model="tiny-ltx", seed=3, steps=2, guidance=3.0, width=256, height=256, frames=9,
                fps=8)
    return video.Request(**{**base, **fields})


def run_clip(studio, events: list | None = None, progress: Progress | None = None, **fields):
    """Run one request through the runner, as the studio does; returns the Result."""
    from pipelines.runner import execute

    progress = progress or (Progress(listener=events.append) if events is not None else Progress())
    return execute(studio.models, "video", request(**fields), progress)


def read_mp4(path: str | Path) -> dict:
    """What a player sees in an MP4: codec, pixel format, size, frame rate, decoded frame count."""
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in box.decode(stream)]
        return dict(codec=stream.codec_context.name, pix_fmt=stream.codec_context.pix_fmt,
                    width=stream.codec_context.width, height=stream.codec_context.height,
                    fps=Fraction(stream.average_rate), frames=len(frames), first=frames[0])


def top_level_boxes(path: str | Path) -> list[str]:
    """The ISO-BMFF top-level box types in file order (to check faststart and no fragments)."""
    data, types, pos = Path(path).read_bytes(), [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        types.append(kind.decode("latin-1"))
        pos += size
    return types
