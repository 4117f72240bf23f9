"""Speed figures at real model sizes with random weights (the arithmetic of trained ones), each
a ratio measured in one run:

1. SD 1.5 UNet step with guidance (batch 2, 512 px): bf16 vs fp32, and achieved FLOP/s as a
   share of this CPU's measured 2048x2048 matmul ceiling in the same dtype;
2. tiny-autoencoder (TAESD-sized) decode vs the full SD VAE decode of one 512 px image;
3. live-preview overhead (a preview every step) as a share of a whole 4-step generation;
4. prompt-embedding cache hit vs miss (SD 1.5's CLIP-L text encoder).

usage: python bench/speed.py [--reps N] [--skip-generation]
"""
from __future__ import annotations

import argparse
import time

from _common import sd15_sized_pipeline, table


def best_of(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_gflops(dtype, reps: int) -> float:
    import torch

    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    return 2 * 2048**3 / best_of(lambda: a @ b, reps * 3) / 1e9


def unet_step(dtype, reps: int) -> tuple[float, float]:
    """(seconds per step, FLOPs per step) of an SD 1.5-sized UNet, batch 2 at 64x64 latents."""
    import torch
    from diffusers import UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                block_out_channels=(320, 640, 1280, 1280), layers_per_block=2).to(dtype).eval()
    x = torch.randn(2, 4, 64, 64, dtype=dtype)
    t = torch.tensor([500, 500])
    ctx = torch.randn(2, 77, 768, dtype=dtype)
    with torch.inference_mode():
        step = lambda: unet(x, t, encoder_hidden_states=ctx)
        with FlopCounterMode(display=False) as counter:
            step()
        return best_of(step, reps), counter.get_total_flops()


def decoders(reps: int) -> tuple[float, float]:
    """(full VAE decode s, tiny autoencoder decode s) for one 512 px image, fp32."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny

    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4).eval()
    taesd = AutoencoderTiny().eval()  # TAESD's published geometry
    z = torch.randn(1, 4, 64, 64)
    with torch.inference_mode():
        return best_of(lambda: vae.decode(z), max(1, reps - 1)), best_of(lambda: taesd.decode(z), reps * 3)


def preview_overhead(reps: int) -> tuple[float, float]:
    """(4-step generation s without previews, with a preview every step), SD 1.5-sized, bf16 if native."""
    import torch
    from diffusers import AutoencoderTiny

    from pipelines.device import pick_dtype
    from pipelines.diffusion import Previewer, step_callback
    from pipelines.progress import Progress

    dtype = pick_dtype("cpu")
    pipe = sd15_sized_pipeline(dtype)
    pipe.set_progress_bar_config(disable=True)
    previewer = Previewer(AutoencoderTiny().to(dtype).eval(), every=1)

    def run(with_preview: bool):
        progress = Progress()
        progress.previewer = previewer if with_preview else None
        pipe("a lighthouse", num_inference_steps=4, width=512, height=512, generator=torch.Generator().manual_seed(0),
             callback_on_step_end=step_callback(progress, 4, size=(512, 512)))

    plain = [best_of(lambda: run(False), 1) for _ in range(reps)]
    with_previews = [best_of(lambda: run(True), 1) for _ in range(reps)]
    return min(plain), min(with_previews)


def embedding_cache(reps: int) -> tuple[float, float]:
    """(miss s, hit s) of encoding a prompt with SD 1.5's text encoder through the cache."""
    from pipelines.embeddings import EmbeddingCache, prompt_embeddings

    import torch

    pipe = sd15_sized_pipeline(torch.float32)
    prompt = "cinematic film still of a lighthouse on a cliff at dusk, dramatic lighting"
    miss = best_of(lambda: prompt_embeddings(pipe, EmbeddingCache(), prompt, "blurry", 7.0, None), reps)
    cache = EmbeddingCache()
    prompt_embeddings(pipe, cache, prompt, "blurry", 7.0, None)
    hit = best_of(lambda: prompt_embeddings(pipe, cache, prompt, "blurry", 7.0, None), reps * 10)
    return miss, hit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip-generation", action="store_true", help="skip the 4-step generations (slowest part)")
    args = ap.parse_args()
    import torch

    from pipelines.device import cpu_has_bf16

    rows = []
    ceil32, ceil16 = matmul_gflops(torch.float32, args.reps), matmul_gflops(torch.bfloat16, args.reps)
    s32, flops = unet_step(torch.float32, args.reps)
    s16, _ = unet_step(torch.bfloat16, args.reps)
    rows.append(["matmul 2048² ceiling", f"fp32 {ceil32:.0f} GFLOP/s, bf16 {ceil16:.0f} GFLOP/s",
                 f"native bf16: {cpu_has_bf16()}", ""])
    rows.append(["SD 1.5 UNet step (b2, 512 px)", f"fp32 {s32:.2f} s, bf16 {s16:.2f} s ({flops / 1e12:.2f} TFLOP)",
                 f"bf16 speed-up {s32 / s16:.2f}x", "goal >= 1.6x"])
    rows.append(["  achieved / ceiling", f"fp32 {flops / s32 / 1e9 / ceil32:.0%}, bf16 {flops / s16 / 1e9 / ceil16:.0%}",
                 "", "goal bf16 >= 80%"])
    full, tiny = decoders(args.reps)
    rows.append(["512 px decode", f"full VAE {full:.2f} s, tiny AE {tiny * 1000:.0f} ms", f"{full / tiny:.0f}x faster",
                 "goal >= 50x"])
    if not args.skip_generation:
        plain, previews = preview_overhead(max(1, args.reps - 2))
        rows.append(["4-step generation, preview every step", f"{plain:.1f} s vs {previews:.1f} s",
                     f"overhead {(previews - plain) / plain:+.1%}", "goal <= 5%"])
    miss, hit = embedding_cache(args.reps)
    rows.append(["prompt embedding", f"miss {miss * 1000:.1f} ms, hit {hit * 1e6:.0f} µs", f"{miss / hit:.0f}x", ""])
    print(table(rows, ["figure", "measured", "ratio", "goal"]))


if __name__ == "__main__":
    main()
