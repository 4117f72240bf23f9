"""Helpers for the benchmarks: interleaved timing and peak-RSS sampling in one process."""
from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, peak RSS above the start in bytes) of one call.

    CPU seconds are the robust figure on a shared machine: other processes inflate wall time.
    """
    base, peak, done = rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes() - base)
            time.sleep(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    done.set()
    t.join()
    return elapsed, cpu, max(peak[0], rss_bytes() - base)


def interleave(candidates: dict, reps: int, warmup: int = 1) -> dict:
    """Run each candidate in turn `reps` times (after warm-up).

    Returns name -> (median wall s, median CPU s, max extra RSS bytes).
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    wall = {k: [] for k in candidates}
    cpu = {k: [] for k in candidates}
    mem = {k: 0 for k in candidates}
    for _ in range(reps):
        for name, fn in candidates.items():
            w, c, extra = measure(fn)
            wall[name].append(w)
            cpu[name].append(c)
            mem[name] = max(mem[name], extra)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k]), mem[k]) for k in candidates}


def table(rows: list[list], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def sd15_sized_pipeline(dtype):
    """SD 1.5's published architecture (UNet 860M, VAE 84M, CLIP-L text encoder) with random weights."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from pipelines.tiny.tokenizers import clip_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                block_out_channels=(320, 640, 1280, 1280), layers_per_block=2)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        sample_size=512)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                        num_attention_heads=12, max_position_embeddings=77, bos_token_id=512,
                                        eos_token_id=513, pad_token_id=513, projection_dim=768))
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                          steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return pipe.to(dtype=dtype)
