"""Generative fill: the studio path against the raw diffusers call, and what crop-and-paste saves.

1. Inpaint at tiny size: `pipelines.runner.execute` (request check, image reading, crop plan,
   per-request scheduler and view, feathered composite, parameters) against
   `pipe(prompt, image=..., mask_image=...)` on the same loaded tiny SD 1.5 inpainting pipeline,
   same seed, steps and size, interleaved in one process. Ratio studio/raw.
2. A 2048 px image with a 256 px mask: the studio with its crop around the mask against the
   same request diffusing the whole image at full size (`crop=False`). Ratio full/crop, for the
   tiny preset (working size 128) and for the same weights at SD 1.5's working size of 512 px.

Prints ratios of wall and process-CPU time (CPU time is not inflated by other processes).

usage: python bench/fill.py [--reps N] [--dtype fp32|bf16|auto]
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

from _common import interleave, table


def picture(w: int, h: int):
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([60 + 120 * x / w, 80 + 100 * y / h, 200 - 90 * y / h], -1)
    arr = arr + np.random.default_rng(0).normal(0, 12, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def rect_mask(size, box):
    from PIL import Image

    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


def studio_call(manager, **fields):
    from pipelines.fill import Request
    from pipelines.runner import execute

    return lambda: execute(manager, "fill", Request(**fields))


def inpaint_case(manager, reps: int) -> list:
    import torch

    loaded = manager.get("fill", "tiny-sd15-inpaint")
    pipe = loaded.pipe
    src, mask = picture(128, 128), rect_mask((128, 128), (40, 40, 88, 88))
    prompt, steps = "a red kite", 4

    def raw():
        pipe(prompt, image=src, mask_image=mask, height=128, width=128, num_inference_steps=steps, strength=1.0,
             guidance_scale=6.0, generator=torch.Generator("cpu").manual_seed(1))

    studio = studio_call(manager, image=src, mask=mask, prompt=prompt, model="tiny-sd15-inpaint", steps=steps,
                         guidance=6.0, seed=1)
    res = interleave({"studio": studio, "raw": raw}, reps)
    (ws, cs, _), (wr, cr, _) = res["studio"], res["raw"]
    return ["inpaint 128 px, 4 steps: studio / raw diffusers", f"{wr:.3f}", f"{ws:.3f}", f"{ws / wr:.2f}",
            f"{cs / cr:.2f}"]


def crop_cases(manager, presets: list[str], reps: int) -> list[list]:
    """One full-size run (it does not depend on the working size) against the crop of each preset."""
    big = picture(2048, 2048)
    mask = rect_mask(big.size, (1200, 700, 1456, 956))  # 256 px
    fields = dict(image=big, mask=mask, prompt="a red kite", steps=2, seed=1)
    candidates = {name: studio_call(manager, **fields, model=name) for name in presets}
    crops = interleave(candidates, reps)
    full = interleave({"full": studio_call(manager, **fields, model=presets[0], crop=False)}, 1, warmup=0)["full"]
    rows = []
    for name in presets:
        (wc, cc, _), (wf, cf, _) = crops[name], full
        work = manager.preset("fill", name).limit("work_size")
        rows.append([f"2048 px image, 256 px mask: full size / crop at work size {work}", f"{wc:.3f}", f"{wf:.3f}",
                     f"{wf / wc:.1f}", f"{cf / cc:.1f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dtype", default="fp32", help="fp32 (default: bf16 is slower for the tiny model's shapes here), bf16 or auto")
    args = ap.parse_args()

    from pipelines.device import Runtime
    from pipelines.models import Loaded, ModelManager

    manager = ModelManager(Path(tempfile.mkdtemp(prefix="bench-fill-")), Runtime(dtype=args.dtype))
    rows = [inpaint_case(manager, args.reps)]
    # The same tiny weights planned at SD 1.5's working size: the crop is 512 px, as with the real model.
    base = manager.get("fill", "tiny-sd15-inpaint")
    preset = dataclasses.replace(base.preset, name="tiny-sd15-inpaint-512", limits={**base.preset.limits, "work_size": 512})
    manager.presets("fill")[preset.name] = preset
    manager.cache.get_or_load(("fill", preset.name, base.device, base.dtype),
                              lambda: Loaded(base.pipe, preset, base.device, base.dtype))
    rows += crop_cases(manager, ["tiny-sd15-inpaint", preset.name], args.reps)
    print(f"tiny SD 1.5 inpainting, {base.dtype} on {base.device}")
    print(table(rows, ["case", "baseline wall s", "compared wall s", "wall ratio", "CPU-time ratio"]))
    print("baseline = raw diffusers (row 1) or the crop (rows 2-3); ratio = compared / baseline; "
          "the full-size run is timed once.")


if __name__ == "__main__":
    main()
