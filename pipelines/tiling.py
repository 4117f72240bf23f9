"""Tiled inference for image-to-image work (upscalers, a creative image-to-image pass): bounded
memory, no seams.

The source is cut into a grid of tiles; each is read with `overlap` extra source pixels on every
side it shares with a neighbour, so the network sees context there. In each shared strip the two
tiles' outputs are blended with linear ramps that sum to one (a partition of unity, separable in
x and y), so nothing changes abruptly at a border. Rows of tiles are accumulated one band at a
time in float32 and finished rows are written to the result, so the working memory is one band
of the result, never a float copy of all of it.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np
from PIL import Image

from pipelines.progress import Progress


class Tile(NamedTuple):
    """A tile's core on the source grid (right/bottom excluded) and the context read around it."""

    x0: int
    y0: int
    x1: int
    y1: int
    left: int       # context pixels read to the left (0 at the image's edge)
    top: int
    right: int
    bottom: int


def _cuts(length: int, tile: int) -> list[int]:
    n = max(1, math.ceil(length / tile))
    return [round(i * length / n) for i in range(n + 1)]


def tile_plan(width: int, height: int, tile: int, overlap: int) -> list[list[Tile]]:
    """Rows of tiles covering a width×height source, each core at most `tile` px a side."""
    xs, ys = _cuts(width, tile), _cuts(height, tile)
    rows = []
    for j in range(len(ys) - 1):
        row = []
        for i in range(len(xs) - 1):
            row.append(Tile(xs[i], ys[j], xs[i + 1], ys[j + 1],
                            overlap if i > 0 else 0, overlap if j > 0 else 0,
                            overlap if i < len(xs) - 2 else 0, overlap if j < len(ys) - 2 else 0))
        rows.append(row)
    return rows


def ramp_weights(lo: int, hi: int, core_lo: int, core_hi: int, before: int, after: int, f: float) -> np.ndarray:
    """Blend weights along one axis for a tile read over source [lo, hi), its core [core_lo, core_hi):
    1 inside, rising over the strip shared with the previous tile and falling over the next one's.
    Positions are in result pixels (source × f), computed from global coordinates, so the two
    tiles sharing a strip get weights that add up to exactly one."""
    out_lo = round(lo * f)
    u = np.arange(out_lo, round(hi * f), dtype=np.float64) + 0.5
    w = np.ones_like(u)
    if before:
        a, b = round((core_lo - before) * f), round((core_lo + before) * f)
        w = np.where(u < b, np.clip((u - a) / (b - a), 0, 1), w)
    if after:
        a, b = round((core_hi - after) * f), round((core_hi + after) * f)
        w = np.where(u >= a, w * np.clip(1 - (u - a) / (b - a), 0, 1), w)
    return w.astype(np.float32)


def run_tile(pipe: Any, pixels: np.ndarray, out_size: tuple[int, int]) -> Any:
    """The network's output for one tile of uint8 RGB `pixels`: a float32 CPU tensor (h, w, 3) in
    [0, 255], scaled to `out_size` (w, h) when the network's factor differs from the pass's."""
    import torch
    import torch.nn.functional as F

    param = next(pipe.net.parameters())
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].to(param.device, param.dtype) / 255.0
    h, w = x.shape[-2:]
    # Sides padded (by repeating the edge) to what the architecture needs, cropped off after.
    need_h = max(pipe.minimum, math.ceil(h / pipe.multiple_of) * pipe.multiple_of)
    need_w = max(pipe.minimum, math.ceil(w / pipe.multiple_of) * pipe.multiple_of)
    if (need_h, need_w) != (h, w):
        x = F.pad(x, (0, need_w - w, 0, need_h - h), mode="replicate")
    with torch.inference_mode():
        y = pipe.net(x)[..., : h * pipe.scale, : w * pipe.scale].float()
        if (y.shape[-1], y.shape[-2]) != out_size:
            y = F.interpolate(y, size=(out_size[1], out_size[0]), mode="bicubic", antialias=True, align_corners=False)
        y = y[0].cpu().clamp_(0, 1).mul_(255.0).permute(1, 2, 0)
    return y


def upscale_tiled(pipe: Any, source: Image.Image, factor: float, tile: int, overlap: int,
                  progress: Progress, done: int = 0, total: int | None = None) -> tuple[Image.Image, int]:
    """`source` enlarged `factor` times by `pipe` (an Upscaler), tile by tile; progress per tile,
    and a cancel is honoured between tiles. Returns the image and the number of tiles run."""
    return blend_tiled(source, factor, tile, overlap, lambda pixels, size: run_tile(pipe, pixels, size),
                       progress, done, total, "upscaling tile")


# render(pixels: uint8 (h, w, 3) array of a tile with its context, out_size: (w, h)) -> a float32
# CPU tensor (h', w', 3) in [0, 255] of out_size: what one tile becomes.
Render = Callable[[np.ndarray, tuple[int, int]], Any]


def blend_tiled(source: Image.Image, factor: float, tile: int, overlap: int, render: Render, progress: Progress,
                done: int = 0, total: int | None = None, stage: str = "tile") -> tuple[Image.Image, int]:
    """`source` made `factor` times larger (1: the same size) by `render`, tile by tile, the tiles'
    outputs blended across their overlaps; progress per tile ("<stage> 3/12"), and a cancel is
    honoured between tiles. Returns the image and the number of tiles run."""
    import torch

    with torch.inference_mode():   # the tiles' outputs are inference tensors, added in place
        return _blend(source, float(factor), tile, overlap, render, progress, done, total, stage)


def _blend(source: Image.Image, f: float, tile: int, overlap: int, render: Render, progress: Progress,
           done: int, total: int | None, stage: str) -> tuple[Image.Image, int]:
    import torch

    w, h = source.size
    out_w, out_h = round(w * f), round(h * f)
    src = np.asarray(source.convert("RGB"))
    rows = tile_plan(w, h, tile, overlap)
    total = total or sum(len(r) for r in rows)
    result = Image.new("RGB", (out_w, out_h))
    # One band buffer, as tall as the tallest row of tiles, reused for every row.
    tallest = max(round((r[0].y1 + r[0].bottom) * f) - round((r[0].y0 - r[0].top) * f) for r in rows)
    buffer = torch.empty((tallest, out_w, 3), dtype=torch.float32)
    carry, count = None, 0
    for row in rows:
        t0 = row[0]
        band_lo, band_hi = round((t0.y0 - t0.top) * f), round((t0.y1 + t0.bottom) * f)
        band = buffer[: band_hi - band_lo]
        band.zero_()
        if carry is not None:
            band[: carry.shape[0]] += carry
        for t in row:
            progress.check()
            lo_x, hi_x, lo_y, hi_y = t.x0 - t.left, t.x1 + t.right, t.y0 - t.top, t.y1 + t.bottom
            ox0, ox1 = round(lo_x * f), round(hi_x * f)
            wy = ramp_weights(lo_y, hi_y, t.y0, t.y1, t.top, t.bottom, f)
            wx = ramp_weights(lo_x, hi_x, t.x0, t.x1, t.left, t.right, f)
            weights = torch.from_numpy(np.outer(wy, wx))[..., None]
            band[:, ox0:ox1] += render(src[lo_y:hi_y, lo_x:hi_x], (ox1 - ox0, band_hi - band_lo)).mul_(weights)
            count += 1
            progress.update(done + count, total, f"{stage} {done + count}/{total}")
        # Rows above the strip shared with the next band are final.
        final_hi = round((t0.y1 - t0.bottom) * f) - band_lo
        finished = band[:final_hi].clamp_(0, 255).add_(0.5).to(torch.uint8).numpy()
        result.paste(Image.fromarray(finished, "RGB"), (0, band_lo))
        carry = band[final_hi:].clone() if t0.bottom else None
        del finished
    return result, count
