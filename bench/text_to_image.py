"""Studio text-to-image path vs the raw diffusers call on the same loaded pipeline.

Both run interleaved in one process with the same seed, steps and size: the studio's
`pipelines.runner.execute` (request check, style, per-request scheduler and pipeline view,
progress callback, parameters) against `pipe(prompt, ...)`. Prints the time ratio studio/raw (wall,
and process CPU time, which other processes on a shared machine do not inflate) and each one's
peak extra RSS. Cases: the tiny SD 1.5 at 256 px, and an SD 1.5-sized UNet/VAE/text
encoder with random weights at 512 px for 2 steps (the arithmetic of the real model).

usage: python bench/text_to_image.py [--reps N] [--skip-large]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import interleave, sd15_sized_pipeline, table


def case(manager, preset_name: str, size: int, steps: int, reps: int):
    import torch

    from pipelines.runner import execute
    from pipelines.text_to_image import Request

    loaded = manager.get("text_to_image", preset_name)
    pipe = loaded.pipe
    prompt = "a lighthouse on a cliff at dusk"

    def studio():
        execute(manager, "text_to_image", Request(prompt=prompt, model=preset_name, seed=1, steps=steps, width=size,
                                                  height=size, guidance=7.0))

    def raw():
        pipe(prompt, num_inference_steps=steps, guidance_scale=7.0, width=size, height=size,
             generator=torch.Generator("cpu").manual_seed(1))

    res = interleave({"studio": studio, "raw": raw}, reps)
    (ws, cs, ms), (wr, cr, mr) = res["studio"], res["raw"]
    return [f"{preset_name} {size}px {steps} steps ({loaded.dtype})", f"{wr:.3f}", f"{ws:.3f}", f"{ws / wr:.3f}",
            f"{cs / cr:.3f}", f"{mr / 2**20:.0f}", f"{ms / 2**20:.0f}", f"{(ms - mr) / 2**20:+.0f}"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args()

    from pipelines.models import Loaded, ModelManager
    from pipelines.presets import ModelPreset

    manager = ModelManager(Path(tempfile.mkdtemp(prefix="bench-t2i-")))
    rows = [case(manager, "tiny-sd15", 256, 4, args.reps)]
    if not args.skip_large:
        from pipelines.device import DTYPE_NAMES, pick_dtype

        dtype = pick_dtype("cpu")
        preset = ModelPreset(name="sd15-sized-random", task="text_to_image", label="SD 1.5-sized (random weights)",
                             tier="standard", family="sd15", license="n/a", commercial_use=True, local_dir="(in memory)",
                             limits={"min_size": 256, "max_size": 1024})
        manager.presets("text_to_image")[preset.name] = preset
        pipe = sd15_sized_pipeline(dtype)
        pipe.set_progress_bar_config(disable=True)
        key = ("text_to_image", preset.name, "cpu", DTYPE_NAMES[dtype])
        manager.cache.get_or_load(key, lambda: Loaded(pipe, preset, "cpu", DTYPE_NAMES[dtype]))
        rows.append(case(manager, preset.name, 512, 2, max(1, args.reps - 1)))
    print(table(rows, ["case", "raw wall s", "studio wall s", "wall ratio", "CPU-time ratio", "raw peak MB",
                       "studio peak MB", "extra MB"]))


if __name__ == "__main__":
    main()
