"""Video live previews: what one preview costs against the full decode it stands in for.

A video preview (pipelines/video_preview.py) decodes the first latent frame with the model's own
VAE. This measures, at the published VAE architectures with random weights (the arithmetic is
the same as with trained ones), in one process, interleaved:
- full: the clip's final decode, `vae.decode` of every latent frame;
- preview: the preview's decode of the first latent frame alone (half size from 32 latent px up).
The ratio says how many previews cost one final decode.

usage: python bench/video_preview.py [--reps N] [--size 512x320] [--frames 25]
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _common import interleave, table


def vaes():
    """The published VAE architectures: LTX-Video 0.9 (diffusers' defaults) and Wan 2.1."""
    from diffusers import AutoencoderKLLTXVideo, AutoencoderKLWan

    torch.manual_seed(0)
    return {"LTX-Video 0.9 VAE": (AutoencoderKLLTXVideo().eval(), 32, 8),
            "Wan 2.1 VAE": (AutoencoderKLWan().eval(), 8, 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--size", default="512x320")
    ap.add_argument("--frames", type=int, default=25)
    args = ap.parse_args()
    width, height = map(int, args.size.split("x"))
    torch.set_grad_enabled(False)
    rows = []
    for name, (vae, spatial, temporal) in vaes().items():
        latent_frames = (args.frames - 1) // temporal + 1
        channels = vae.config.latent_channels if hasattr(vae.config, "latent_channels") else vae.config.z_dim
        z = torch.randn(1, channels, latent_frames, height // spatial, width // spatial)
        first = z[:, :, :1]
        if min(first.shape[-2:]) >= 32:  # as pipelines.video_preview does
            pooled = F.avg_pool2d(first.flatten(0, -3), 2)
            first = pooled.view(*first.shape[:-2], *pooled.shape[-2:])
        result = interleave({"full": lambda: vae.decode(z), "preview": lambda: vae.decode(first)}, args.reps)
        (fw, fc, _), (pw, pc, _) = result["full"], result["preview"]
        rows.append([name, f"{width}x{height}, {args.frames} frames ({latent_frames} latent)", f"{fw:.2f} s",
                     f"{pw:.3f} s", f"{fc / pc:.1f}x (CPU {fc:.1f} / {pc:.2f} s)"])
    print(table(rows, ["VAE", "clip", "full decode", "one preview", "previews per full decode"]))


if __name__ == "__main__":
    main()
