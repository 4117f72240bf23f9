"""Upscaling: result pixels per second and peak memory (RSS above the start) at several tile sizes,
against the network run on the whole picture at once, in one process and one run.

    .venv/bin/python bench/upscale.py [--size 1000x700] [--model tiny-compact-x4] [--reps 2]

The tiny twins have random weights but the real architectures' operations, so the ratios between
tile sizes (and against one untiled pass) hold for the real checkpoints; absolute speed does not.
The last line compares the smallest tile with the untiled pass.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import interleave, table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1000x700", help="source width x height")
    ap.add_argument("--model", default="tiny-compact-x4")
    ap.add_argument("--tiles", default="128,256,512")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from pipelines.models import ModelManager
    from pipelines.progress import Progress
    from pipelines.tiling import upscale_tiled

    w, h = (int(v) for v in args.size.lower().split("x"))
    manager = ModelManager(Path(tempfile.mkdtemp(prefix="bench-upscale-")))
    pipe = manager.get("upscale", args.model).pipe
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    source = Image.fromarray(np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], -1).astype(np.uint8))
    out_pixels = w * h * pipe.scale ** 2

    def untiled():
        t = torch.from_numpy(np.array(source)).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            out = (pipe.net(t).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        Image.fromarray(out, "RGB")

    candidates = {"untiled": untiled}
    for tile in (int(t) for t in args.tiles.split(",")):
        candidates[f"tile {tile}"] = (lambda t=tile: upscale_tiled(pipe, source, pipe.scale, t, min(16, t // 4),
                                                                   Progress()))
    results = interleave(candidates, args.reps)
    rows = [[name, f"{wall:.2f}", f"{cpu:.2f}", f"{out_pixels / wall / 1e6:.2f}", f"{mem / 2**20:.0f}"]
            for name, (wall, cpu, mem) in results.items()]
    print(f"{args.model} ({pipe.architecture}, {pipe.scale}x) on a {w}×{h} source -> "
          f"{w * pipe.scale}×{h * pipe.scale}, fp32 CPU, median of {args.reps}")
    print(table(rows, ["case", "wall s", "CPU s", "Mpixel/s", "peak RSS MB"]))
    smallest = min((k for k in results if k != "untiled"), key=lambda k: int(k.split()[1]))
    base, tiled = results["untiled"], results[smallest]
    print(f"ratio {smallest} / untiled: speed {base[0] / tiled[0]:.2f}x, peak memory {tiled[2] / max(base[2], 1):.2f}x")


if __name__ == "__main__":
    main()
