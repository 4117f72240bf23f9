"""Upscaling: result pixels per second and peak memory (RSS above the start) at several tile sizes,
against the network run on the whole picture at once, in one process and one run.

    .venv/bin/python bench/upscale.py [--size 1000x700] [--model tiny-compact-x4] [--reps 2]
        [--creative tiny-sd15 --creative-tile 256 --creative-steps 4 --creative-strength 0.3]

The tiny twins have random weights but the real architectures' operations, so the ratios between
tile sizes (and against one untiled pass) hold for the real checkpoints; absolute speed does not.
The creative upscale (the tiled image-to-image pass over the result, on a variation preset's
pipeline) is timed beside the plain one at the largest tile; its cost is printed as a ratio to the
plain upscale (empty --creative: not run). The last line compares the smallest tile with the
untiled pass.
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
    ap.add_argument("--creative", default="tiny-sd15", help="variation preset of the creative pass ('' for none)")
    ap.add_argument("--creative-tile", type=int, default=256)
    ap.add_argument("--creative-steps", type=int, default=4)
    ap.add_argument("--creative-strength", type=float, default=0.3)
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
    largest = max(int(t) for t in args.tiles.split(","))
    if args.creative:
        candidates["creative"] = creative_case(manager, args, pipe, source, largest)
    results = interleave(candidates, args.reps)
    rows = [[name, f"{wall:.2f}", f"{cpu:.2f}", f"{out_pixels / wall / 1e6:.2f}", f"{mem / 2**20:.0f}"]
            for name, (wall, cpu, mem) in results.items()]
    print(f"{args.model} ({pipe.architecture}, {pipe.scale}x) on a {w}×{h} source -> "
          f"{w * pipe.scale}×{h * pipe.scale}, fp32 CPU, median of {args.reps}")
    print(table(rows, ["case", "wall s", "CPU s", "Mpixel/s", "peak RSS MB"]))
    if args.creative:
        plain = results[f"tile {largest}"]
        print(f"creative pass ({args.creative}, strength {args.creative_strength:g}, {args.creative_steps} steps, "
              f"{args.creative_tile} px tiles) + upscale / plain upscale (tile {largest}): time "
              f"{results['creative'][0] / plain[0]:.2f}x, peak memory {results['creative'][2] / max(plain[2], 1):.2f}x")
    smallest = min((k for k in results if k.startswith("tile ")), key=lambda k: int(k.split()[1]))
    base, tiled = results["untiled"], results[smallest]
    print(f"ratio {smallest} / untiled: speed {base[0] / tiled[0]:.2f}x, peak memory {tiled[2] / max(base[2], 1):.2f}x")


def creative_case(manager, args, pipe, source, tile: int):
    """The plain upscale at `tile` followed by the creative pass, as one run does it."""
    from pipelines.creative_pass import creative_pass, tile_count
    from pipelines.progress import Progress
    from pipelines.tiling import upscale_tiled
    from pipelines.upscale import Request

    img2img = manager.get("variation", args.creative).pipe
    request = Request(image=source, creative_model=args.creative, creative_strength=args.creative_strength,
                      creative_steps=args.creative_steps, creative_tile=args.creative_tile)

    def run():
        plain, done = upscale_tiled(pipe, source, pipe.scale, tile, min(16, tile // 4), Progress())
        total = done + tile_count(plain.size, args.creative_tile)
        creative_pass(img2img, plain, request, Progress(), done, total)

    return run


if __name__ == "__main__":
    main()
