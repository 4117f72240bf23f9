"""Device, dtype and attention choices per machine, and how a loaded diffusers pipeline is placed.

The rules: CUDA runs fp16 (bf16 where the model prefers it); Apple MPS runs fp16; a CPU runs
bf16 when it has native bf16 arithmetic (AVX-512 BF16 or AMX) and fp32 otherwise. Every choice
can be overridden by a setting, and the choice made is recorded in each output's parameters.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


@dataclass(frozen=True)
class Runtime:
    """How pipelines are placed on this machine. Strings come from the studio's settings."""

    device: str = "auto"        # auto, cpu, cuda, cuda:1, mps
    dtype: str = "auto"         # auto, fp32, fp16, bf16
    attention: str = "auto"     # auto (SDPA), sdpa, xformers
    offload: str = "none"       # none, model, sequential (CUDA only)
    vae_tiling: bool = False
    vae_slicing: bool = False
    preview_every: int = 0      # decode a live preview every N steps with a tiny autoencoder (0: off)
    draft_decode: bool = False  # decode the final image with the tiny autoencoder too (a labelled draft)
    compile: str = "off"        # off, regional (torch.compile of the denoiser's repeated blocks; CUDA)
    cache_hook: str = "off"     # off, first_block, faster, pab (diffusers' caching hooks; transformer models)
    channels_last: bool = False # channels-last memory format for convolutional UNets and VAEs
    safety_checker: bool = True # run the safety checker a model ships (SD 1.x); off: loaded without it
    cpu_backend: str = "pytorch"  # auto, pytorch, openvino (SD-family image presets on a CPU)
    export_dir: str = ""        # OpenVINO export cache ("": ~/.cache/studio/openvino)


# What each caching hook trades, shown to operators (README) and recorded in notices.
CACHE_HOOKS = {
    "first_block": "First-block cache: when the first transformer block's output barely changes between steps "
                   "(threshold 0.2), the remaining blocks' result is reused; about 1.5-2x faster, slight loss "
                   "of fine detail.",
    "faster": "FasterCache: reuses attention outputs across steps and skips part of the unconditional batch; "
              "about 1.5x faster, small changes in texture.",
    "pab": "Pyramid attention broadcast: reuses spatial attention every other step in the middle of the "
           "schedule; about 1.3x faster, nearly lossless for video models.",
}

# The model cache's budget with model_cache_gb = "auto" (README, Settings): on CUDA the card's
# memory less room for activations, the VAE decode and the CUDA context; on a CPU or Apple
# unified memory a share of RAM, leaving the rest to the system, the studio and activations.
GPU_HEADROOM_BYTES = 2 * 2**30
GPU_HEADROOM_SHARE = 0.10
RAM_CACHE_SHARE = 0.6
# Without CUDA there is no CPU offload: a model over this share of RAM would swap, so it is refused.
RAM_LOADABLE_SHARE = 0.85


def total_ram_bytes() -> int:
    """Physical memory, or the container's memory limit when that is lower (cgroup v2)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): /proc/meminfo, else a guess
        ram = _meminfo_total() or 16 * 2**30
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit.isdigit():
            ram = min(ram, int(limit))
    except OSError:
        pass
    return ram


def _meminfo_total() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            line = next((x for x in f if x.startswith("MemTotal:")), "")
        return int(line.split()[1]) * 1024 if line else None
    except (OSError, ValueError, IndexError):
        return None


def device_memory_bytes(device: str) -> int:
    """Memory of the device models run on: the CUDA card's, or RAM (CPU, Apple unified memory)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    return total_ram_bytes()


def auto_cache_budget(device: str) -> int:
    """The model cache budget for `model_cache_gb = "auto"` on `device`, in bytes."""
    total = device_memory_bytes(device)
    if device.startswith("cuda"):
        return max(int(total - GPU_HEADROOM_BYTES - GPU_HEADROOM_SHARE * total), total // 4)
    return int(total * RAM_CACHE_SHARE)


def cache_budget_bytes(setting, device_setting: str = "auto") -> int:
    """The model cache budget in bytes: "auto" (from the device) or a number of gigabytes."""
    from pipelines.cache import parse_budget_gb

    gb = parse_budget_gb(setting)
    if gb != "auto":
        return int(gb * 2**30)
    try:
        device = pick_device(device_setting)
    except RuntimeError:  # the device asked for is absent: loading says so; size by RAM until then
        device = "cpu"
    return auto_cache_budget(device)


def largest_loadable_bytes(device: str) -> int | None:
    """The largest model a device without CPU offload can hold (None on CUDA, which offloads)."""
    if device.startswith("cuda"):
        return None
    return int(total_ram_bytes() * RAM_LOADABLE_SHARE)


def pick_device(setting: str = "auto") -> str:
    """The device to run on: the setting if it is usable, else the best one present."""
    if setting != "auto":
        if setting.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {setting!r} was asked for but CUDA is not available")
        if setting == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' was asked for but Apple MPS is not available")
        return setting
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU does bf16 arithmetic natively (AVX-512 BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def pick_dtype(device: str, preferred: str = "auto", setting: str = "auto") -> torch.dtype:
    """Choose the compute dtype.

    setting: the operator's override (wins when not "auto"). preferred: the model preset's
    dtype on a GPU ("bf16" for Flux, say).
    """
    if setting != "auto":
        if setting not in DTYPES:
            raise ValueError(f"dtype setting {setting!r} is not one of auto, {', '.join(DTYPES)}")
        return DTYPES[setting]
    if device.startswith("cuda"):
        if preferred == "bf16" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32 if preferred == "fp32" else torch.float16
    if device == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def xformers_available() -> bool:
    return importlib.util.find_spec("xformers") is not None


def place_pipeline(pipe, device: str, runtime: Runtime) -> list[str]:
    """Move a diffusers pipeline to its device and apply attention, offload and VAE settings.

    Returns notices for settings that this device cannot honour (they are skipped, not fatal).
    """
    notices = []
    cuda = device.startswith("cuda")
    if runtime.offload != "none" and not cuda:
        notices.append(f"CPU offload ({runtime.offload}) needs CUDA; running fully on {device}.")
    if cuda and runtime.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif cuda and runtime.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if runtime.attention == "xformers" or (runtime.attention == "auto" and cuda and xformers_available()):
        if cuda and xformers_available():
            pipe.enable_xformers_memory_efficient_attention()
        else:
            notices.append("xformers attention needs CUDA and the xformers package; using PyTorch SDPA.")
    notices += apply_speedups(pipe, device, runtime)
    vae = getattr(pipe, "vae", None)
    for wanted, method in ((runtime.vae_tiling, "enable_tiling"), (runtime.vae_slicing, "enable_slicing")):
        if wanted and vae is not None and hasattr(vae, method):
            try:
                getattr(vae, method)()
            except NotImplementedError:  # e.g. SVD's temporal decoder declares but lacks tiling
                notices.append(f"VAE {method.split('_')[1]} is not available for {type(vae).__name__}; decoding whole.")
    if getattr(pipe, "watermark", None) is not None:
        # diffusers' SDXL watermarker (dwtDct, a fixed message) would overlay a second mark on the
        # studio's own, which provenance/ applies to every output with an id it can look up.
        pipe.watermark = None
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return notices


def denoiser_of(pipe):
    return getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)


def apply_speedups(pipe, device: str, runtime: Runtime) -> list[str]:
    """channels-last, regional torch.compile (CUDA) and a caching hook, as the settings ask.

    What was applied is recorded on the pipeline (`studio_features`) and so in every output's
    parameters; what this device or model cannot use gives a notice instead of an error.
    """
    notices: list[str] = []
    features = {"attention": "xformers" if runtime.attention == "xformers" and device.startswith("cuda") else "sdpa"}
    denoiser = denoiser_of(pipe)
    cuda = device.startswith("cuda")
    if runtime.channels_last:
        for module in (getattr(pipe, "unet", None), getattr(pipe, "vae", None)):
            if module is not None:
                module.to(memory_format=torch.channels_last)
        features["channels_last"] = True
    if runtime.compile not in ("off", "regional"):
        raise ValueError(f"compile setting {runtime.compile!r} is not one of off, regional")
    if runtime.compile == "regional":
        if not cuda:
            notices.append(f"torch.compile is set but used on CUDA only; running uncompiled on {device}.")
        elif denoiser is None or not getattr(denoiser, "_repeated_blocks", None):
            notices.append("torch.compile: this model declares no repeated blocks to compile; running uncompiled.")
        else:
            denoiser.compile_repeated_blocks(fullgraph=True)
            features["compile"] = "regional"
    if runtime.cache_hook != "off":
        if runtime.cache_hook not in CACHE_HOOKS:
            raise ValueError(f"cache_hook setting {runtime.cache_hook!r} is not one of off, {', '.join(CACHE_HOOKS)}")
        if denoiser is None or not hasattr(denoiser, "enable_cache"):
            notices.append(f"The {runtime.cache_hook} cache hook works with transformer models; "
                           f"{type(denoiser).__name__} runs without it.")
        else:
            denoiser.enable_cache(_cache_config(runtime.cache_hook))
            features["cache_hook"] = runtime.cache_hook
            notices.append(CACHE_HOOKS[runtime.cache_hook])
    pipe.studio_features = features
    return notices


def _cache_config(name: str):
    from diffusers import FasterCacheConfig, FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

    from pipelines.diffusion import current_timestep

    if name == "first_block":
        return FirstBlockCacheConfig(threshold=0.2)
    if name == "faster":
        return FasterCacheConfig(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
                                 current_timestep_callback=current_timestep, attention_weight_callback=lambda _: 0.3,
                                 unconditional_batch_skip_range=5, unconditional_batch_timestep_skip_range=(-1, 781),
                                 tensor_format="BCHW")
    return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                           spatial_attention_timestep_skip_range=(100, 800),
                                           current_timestep_callback=current_timestep)


def free_memory() -> None:
    """Give cached allocator memory back after an eviction or an out-of-memory error."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
