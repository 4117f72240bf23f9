"""Each model family at its real size on a CUDA GPU: load time, seconds per step, peak memory, reloads.

Every pipeline is assembled from the published configs in presets/configs (pipelines/real_sizes.py)
with random weights, in the dtype its preset runs in on a GPU (fp16, or bf16 where the preset says
so); the arithmetic and memory are those of the trained weights. Per family:
- load: the random-weight pipeline is saved as safetensors, then timed through the production path,
  `from_pretrained(..., torch_dtype=...)` and `.to("cuda")` (skipped past --max-disk-gb: the bytes
  would not fit this machine's disk; the build time is shown instead);
- s/step: median time between denoising steps (callback_on_step_end, CUDA-synchronised), after
  the first step;
- peak: torch.cuda.max_memory_allocated over one generation;
- reloads: 5 requests through the studio's PipelineCache (budget: the GPU's memory less 10 %),
  each holding the model while its preview decoder runs, then the image detector at publish.

On a machine without CUDA it says so and exits 0. `--dry-run` assembles every family on the meta
device instead (no memory, no GPU): a check that the pipelines are put together right.

usage: python bench/gpu_check.py [--families sd15,sdxl,...] [--steps 4] [--dry-run]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

from _common import table

GIB = 2**30


@dataclass(frozen=True)
class Family:
    task: str
    preset: str
    pipeline: str                 # diffusers pipeline class
    scheduler: str                # diffusers scheduler class
    scheduler_config: dict        # the published scheduler settings (as the tiny twins in pipelines/tiny use)
    tokenizers: dict = field(default_factory=dict)   # name -> (kind, max length)
    call: dict = field(default_factory=dict)         # generation kwargs besides prompt and steps


CLIP = ("clip", 77)
SD_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
FAMILIES = {
    "sd15": Family("text_to_image", "sd15", "StableDiffusionPipeline", "PNDMScheduler",
                   dict(SD_BETAS, skip_prk_steps=True, steps_offset=1), {"tokenizer": CLIP},
                   dict(height=512, width=512)),
    "sdxl": Family("text_to_image", "sdxl", "StableDiffusionXLPipeline", "EulerDiscreteScheduler",
                   dict(SD_BETAS, steps_offset=1, timestep_spacing="leading"),
                   {"tokenizer": CLIP, "tokenizer_2": ("clip!", 77)}, dict(height=1024, width=1024)),
    "sd3": Family("text_to_image", "sd35-medium", "StableDiffusion3Pipeline", "FlowMatchEulerDiscreteScheduler",
                  dict(shift=3.0), {"tokenizer": CLIP, "tokenizer_2": ("clip!", 77), "tokenizer_3": ("t5", 256)},
                  dict(height=1024, width=1024)),
    "flux": Family("text_to_image", "flux-dev", "FluxPipeline", "FlowMatchEulerDiscreteScheduler",
                   dict(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
                        max_image_seq_len=4096), {"tokenizer": CLIP, "tokenizer_2": ("t5", 512)},
                   dict(height=1024, width=1024)),
    "ltx": Family("video", "ltx-video", "LTXPipeline", "FlowMatchEulerDiscreteScheduler",
                  dict(base_image_seq_len=1024, base_shift=0.95, max_image_seq_len=4096, max_shift=2.05, shift=1.0,
                       shift_terminal=0.1, use_dynamic_shifting=True), {"tokenizer": ("t5", 128)},
                  dict(height=480, width=704, num_frames=25, output_type="latent")),
    "wan": Family("video", "wan21-t2v-1-3b", "WanPipeline", "UniPCMultistepScheduler",
                  dict(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0),
                  {"tokenizer": ("t5", 512)}, dict(height=480, width=832, num_frames=17, output_type="latent")),
    "cogvideox": Family("video", "cogvideox-2b", "CogVideoXPipeline", "CogVideoXDDIMScheduler",
                        dict(SD_BETAS, clip_sample=False, prediction_type="v_prediction", rescale_betas_zero_snr=True,
                             set_alpha_to_one=True, snr_shift_scale=3.0, timestep_spacing="trailing"),
                        {"tokenizer": ("t5", 226)}, dict(height=480, width=720, num_frames=9, output_type="latent")),
    "svd": Family("video", "svd-xt", "StableVideoDiffusionPipeline", "EulerDiscreteScheduler",
                  dict(SD_BETAS, interpolation_type="linear", prediction_type="v_prediction", sigma_max=700.0,
                       sigma_min=0.002, steps_offset=1, timestep_spacing="leading", timestep_type="continuous",
                       use_karras_sigmas=True), {},
                  dict(height=576, width=1024, num_frames=14, decode_chunk_size=2, output_type="latent")),
}
EXTRA_COMPONENTS = {  # pipeline arguments the configs do not cover
    "StableDiffusionPipeline": {"requires_safety_checker": True},
    "StableDiffusionXLPipeline": {"image_encoder": None, "feature_extractor": None},
    "StableDiffusion3Pipeline": {"image_encoder": None, "feature_extractor": None},
    "FluxPipeline": {"image_encoder": None, "feature_extractor": None},
}


def tokenizer(kind: str, max_length: int):
    from pipelines.tiny.tokenizers import clip_tokenizer, t5_tokenizer

    if kind.startswith("clip"):
        return clip_tokenizer(max_length, pad_token="!" if kind == "clip!" else "<|endoftext|>")
    return t5_tokenizer(max_length)


def build_pipeline(family: Family, device: str, dtype):
    """The family's pipeline from its published configs, random weights, on `device` at `dtype`."""
    import diffusers
    import torch
    from transformers import CLIPImageProcessor

    from pipelines.presets import load_presets
    from pipelines.real_sizes import build_model, build_on_meta, component_configs

    preset = load_presets(family.task)[family.preset]
    parts = {}
    for name, config in component_configs(preset.repo).items():
        if device == "meta":
            parts[name] = build_on_meta(config)
            continue
        with torch.device(device):      # random init straight on the GPU, then cast: one component at a time
            parts[name] = build_model(config).to(dtype).eval()
    parts |= {name: tokenizer(*spec) for name, spec in family.tokenizers.items()}
    parts["scheduler"] = getattr(diffusers, family.scheduler)(**family.scheduler_config)
    if family.pipeline in ("StableDiffusionPipeline", "StableVideoDiffusionPipeline"):
        parts["feature_extractor"] = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    parts |= EXTRA_COMPONENTS.get(family.pipeline, {})
    return getattr(diffusers, family.pipeline)(**parts)


def generation_kwargs(family: Family, steps: int, device: str) -> dict:
    import torch
    from PIL import Image

    kwargs = dict(family.call, num_inference_steps=steps, generator=torch.Generator(device).manual_seed(0))
    if family.pipeline == "StableVideoDiffusionPipeline":
        kwargs["image"] = Image.new("RGB", (family.call["width"], family.call["height"]), (120, 90, 60))
    else:
        kwargs["prompt"] = "a lighthouse on a cliff at dusk, waves, gulls"
    return kwargs


def run_once(pipe, family: Family, steps: int) -> tuple[float, int]:
    """(median seconds per step after the first, peak bytes) of one generation."""
    import torch

    stamps = []

    def on_step(_pipe, _i, _t, kwargs):
        torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return kwargs

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        pipe(**generation_kwargs(family, steps, "cuda"), callback_on_step_end=on_step)
    torch.cuda.synchronize()
    deltas = [b - a for a, b in zip(stamps, stamps[1:])]
    return (statistics.median(deltas) if deltas else float("nan")), torch.cuda.max_memory_allocated()


def timed_load(pipe, family: Family, dtype, max_disk_gb: float) -> tuple[float, str, object]:
    """Save the random-weight pipeline, then load it as production does; (seconds, how, pipe)."""
    import diffusers
    import torch

    from pipelines.cache import estimate_bytes

    if estimate_bytes(pipe) / GIB > max_disk_gb:
        return float("nan"), "too big for this disk", pipe
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        pipe.save_pretrained(folder)
        del pipe
        torch.cuda.empty_cache()
        t0 = time.perf_counter()
        loaded = getattr(diffusers, family.pipeline).from_pretrained(folder, torch_dtype=dtype).to("cuda")
        torch.cuda.synchronize()
        return time.perf_counter() - t0, "from_pretrained + to(cuda)", loaded


def reloads_over_requests(pipe, family: Family, requests: int = 5) -> int:
    """Reloads of the model across `requests` requests through the studio's cache (0 is right)."""
    import torch

    from pipelines.cache import PipelineCache
    from pipelines.presets import load_presets

    budget = int(torch.cuda.get_device_properties(0).total_memory * 0.9)
    cache = PipelineCache(budget)
    preview = load_presets(family.task)[family.preset].preview
    side = {"detector": build_side("detect_image", "sdxl-detector")}
    if preview:
        side["preview"] = build_side("preview_decoder", preview)
    for _ in range(requests):
        with cache.lease(("model", family.preset), lambda: pipe):
            if preview:
                with cache.lease(("preview", preview), lambda: side["preview"]):
                    pass
        with cache.lease(("detector",), lambda: side["detector"]):
            pass
    return cache.stats.loads - len(cache.keys())


def build_side(task: str, name: str):
    import torch

    from pipelines.presets import load_presets
    from pipelines.real_sizes import build_model, component_configs

    config = component_configs(load_presets(task)[name].repo)["model"]
    with torch.device("cuda"):
        return build_model(config).to(torch.float16).eval()


def check(name: str, family: Family, steps: int, max_disk_gb: float) -> list:
    import torch

    from pipelines.device import DTYPES
    from pipelines.presets import load_presets
    from pipelines.real_sizes import gpu_dtype

    dtype_name = gpu_dtype(load_presets(family.task)[family.preset])
    dtype = DTYPES[dtype_name]
    t0 = time.perf_counter()
    pipe = build_pipeline(family, "cuda", dtype)
    torch.cuda.synchronize()
    built = time.perf_counter() - t0
    load_s, how, pipe = timed_load(pipe, family, dtype, max_disk_gb)
    step_s, peak = run_once(pipe, family, steps)
    reloads = reloads_over_requests(pipe, family)
    del pipe
    torch.cuda.empty_cache()
    load = f"{load_s:.1f} s" if load_s == load_s else f"n/a ({how}; built in {built:.1f} s)"
    return [name, f"{family.preset} {dtype_name}", load, f"{step_s:.3f} s", f"{peak / GIB:.1f} GB", reloads]


def dry_run(names: list[str]) -> None:
    """Assemble every family on the meta device: the pipelines are put together as on the GPU."""
    from pipelines.cache import estimate_bytes

    for name in names:
        pipe = build_pipeline(FAMILIES[name], "meta", None)
        print(f"{name}: {type(pipe).__name__} assembled, {estimate_bytes(pipe) / GIB:.1f} GB of fp32 tensors")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--max-disk-gb", type=float, default=40.0, help="skip the disk round trip above this size")
    ap.add_argument("--dry-run", action="store_true", help="assemble every family on the meta device and stop")
    args = ap.parse_args()
    names = [n for n in args.families.split(",") if n]
    unknown = set(names) - set(FAMILIES)
    if unknown:
        sys.exit(f"unknown families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    if args.dry_run:
        dry_run(names)
        return
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here, nothing measured. Run it on a machine with an NVIDIA GPU "
              "(python bench/gpu_check.py); `--dry-run` checks the assembly without one.")
        return
    print(f"{torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / GIB:.0f} GB; "
          f"random weights at real size, {args.steps} steps")
    rows = [check(name, FAMILIES[name], args.steps, args.max_disk_gb) for name in names]
    print(table(rows, ["family", "preset", "load", "s/step", "peak", "reloads in 5 requests"]))


if __name__ == "__main__":
    main()
