"""Video: seconds per generated frame at tiny size, the studio path against the raw diffusers call
on the same loaded model, and how much of a published clip's time is the MP4 encode.

All in one process, interleaved, same seed/steps/size/frames:
- raw: `pipe(prompt or image, ..., output_type="np")` on the pipeline the studio loaded;
- studio run: `pipelines.runner.execute` (request check and plan, per-request scheduler and
  pipeline view, progress callback, crop and uint8 frames, parameters);
- studio publish: `Studio.produce`, the whole path a visitor waits for (run, watermark every
  frame, H.264 encode, detector, C2PA signing, ledger and gallery);
- encode: `provenance.encode.write_video` alone on the same frames.
Ratios use process CPU time too, which other processes on a shared machine do not inflate.

usage: python bench/video.py [--reps N] [--models tiny-ltx,tiny-wan,...] [--dtype fp32|bf16|auto]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import interleave, table

CASES = {  # preset -> (mode, frames, fps)
    "tiny-ltx": ("text", 17, 8),
    "tiny-wan": ("text", 17, 8),
    "tiny-cogvideox": ("text", 17, 8),
    "tiny-svd": ("image", 4, 8),
}
SIZE, STEPS, SEED = 256, 4, 1
PROMPT = "a paper boat drifting down a rainy street"


def case(studio, name: str, reps: int, still: str) -> list:
    import torch

    from pipelines import video
    from pipelines.runner import execute
    from provenance import encode

    mode, frames, fps = CASES[name]
    loaded = studio.models.get("video", name)
    pipe = loaded.pipe.pipes[mode]

    def request():
        return video.Request(prompt=PROMPT if mode == "text" else "", model=name, mode=mode, seed=SEED, steps=STEPS,
                             width=SIZE, height=SIZE, frames=frames, fps=fps,
                             image_path=still if mode == "image" else "", guidance=3.0)

    kwargs = dict(height=SIZE, width=SIZE, num_frames=frames, num_inference_steps=STEPS, output_type="np")
    if mode == "image":
        from PIL import Image

        kwargs.update(image=Image.open(still).convert("RGB").resize((SIZE, SIZE)), max_guidance_scale=3.0, fps=fps)
    else:
        kwargs.update(prompt=PROMPT, guidance_scale=3.0)
        if name == "tiny-cogvideox":
            kwargs["max_sequence_length"] = pipe.transformer.config.max_text_seq_length

    def raw():
        with torch.inference_mode():
            pipe(generator=torch.Generator("cpu").manual_seed(SEED), **kwargs)

    clip = execute(studio.models, "video", request()).artifacts[0]
    out = Path(tempfile.mkdtemp(prefix="bench-video-enc-")) / "clip.mp4"
    res = interleave({
        "raw": raw,
        "run": lambda: execute(studio.models, "video", request()),
        "publish": lambda: studio.produce("video", request(), "bench-video"),
        "encode": lambda: encode.write_video((encode.even_frame(f) for f in clip.frames), clip.fps, out,
                                             size=encode.even_frame(clip.frames[0]).shape[1::-1]),
    }, reps)
    (wr, cr, _), (wu, cu, _), (wp, cp, _), (we, ce, _) = (res[k] for k in ("raw", "run", "publish", "encode"))
    return [f"{name} {mode} {SIZE}px {frames}f {STEPS} steps ({loaded.dtype})", f"{wr / frames:.3f}",
            f"{wp / frames:.3f}", f"{cp / frames:.3f}", f"{wu / wr:.3f}", f"{cu / cr:.3f}", f"{cp / cr:.3f}",
            f"{ce / cp:.1%}", f"{(cp - cu) / cp:.1%}"]


def write_still(path: Path) -> str:
    """A 320x240 gradient picture to animate."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:240, 0:320]
    rgb = np.stack([60 + 120 * x / 320, 80 + 100 * y / 240, 200 - 90 * y / 240], -1).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(path)
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--models", default=",".join(CASES))
    ap.add_argument("--dtype", default="fp32", help="fp32 (as the tests), bf16, or auto (the machine's choice)")
    args = ap.parse_args()

    from studio.service import Studio
    from studio.settings import load_settings

    data = Path(tempfile.mkdtemp(prefix="bench-video-"))
    studio = Studio(load_settings(env={}, data_dir=data, dtype=args.dtype))
    still = write_still(data / "still.png")
    rows = [case(studio, name, args.reps, still) for name in args.models.split(",")]
    print(table(rows, ["case", "raw s/frame", "published s/frame", "published CPU s/frame", "run/raw wall",
                       "run/raw CPU", "published/raw CPU", "encode share", "publish share"]))
    print("run = pipelines.runner.execute; published = Studio.produce (run + watermark + H.264 encode + detector + "
          "C2PA signing + ledger/gallery).\nShares are of the published clip's process CPU time (other processes on "
          "a shared machine inflate wall time, not CPU time): encode = write_video alone, publish = published - run.")


if __name__ == "__main__":
    main()
