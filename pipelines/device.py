"""Device, dtype and attention choices per machine, and how a loaded diffusers pipeline is placed.

The rules: CUDA runs fp16 (bf16 where the model prefers it); Apple MPS runs fp16; a CPU runs
bf16 when it has native bf16 arithmetic (AVX-512 BF16 or AMX) and fp32 otherwise. Every choice
can be overridden by a setting, and the choice made is recorded in each output's parameters.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
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
    vae = getattr(pipe, "vae", None)
    if runtime.vae_tiling and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if runtime.vae_slicing and vae is not None and hasattr(vae, "enable_slicing"):
        vae.enable_slicing()
    if getattr(pipe, "watermark", None) is not None:
        # diffusers' SDXL watermarker (dwtDct, a fixed message) would overlay a second mark on the
        # studio's own, which provenance/ applies to every output with an id it can look up.
        pipe.watermark = None
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return notices


def free_memory() -> None:
    """Give cached allocator memory back after an eviction or an out-of-memory error."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
