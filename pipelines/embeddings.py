"""A cache of encoded prompts, keyed by the loaded text encoders and the text.

Storyboards and batch runs repeat a style prefix or a whole prompt; encoding it again costs a
text-encoder pass (for T5-XXL models, more than a denoising step on a CPU). Entries are tied
to the encoder objects by weak reference, so a reloaded model never receives stale tensors.
The cache is shared by visitors, like the loaded models; set its budget to 0 to turn it off.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

# torch is imported in the functions that use it: the web app imports the task modules that import this one.


def _encoders(pipe) -> list:
    return [getattr(pipe, n) for n in ("text_encoder", "text_encoder_2", "text_encoder_3") if getattr(pipe, n, None) is not None]


def _nbytes(value: Any) -> int:
    import torch
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


class EmbeddingCache:
    """LRU of `encode_prompt` outputs under a byte budget; thread-safe."""

    def __init__(self, budget_bytes: int = 512 * 2**20):
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[tuple, tuple[list, Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, pipe, key: tuple, compute):
        """The cached encoding of `key` for this pipeline's text encoders, computing it on a miss."""
        encoders = _encoders(pipe)
        full_key = (tuple(id(e) for e in encoders), *key)
        if self.budget_bytes > 0:
            with self._lock:
                entry = self._entries.get(full_key)
                if entry and all(ref() is enc for ref, enc in zip(entry[0], encoders)):
                    self._entries.move_to_end(full_key)
                    self.hits += 1
                    return entry[1]
        value = compute()
        self.misses += 1
        size = _nbytes(value)
        if 0 < size <= self.budget_bytes:
            with self._lock:
                self._entries[full_key] = ([weakref.ref(e) for e in encoders], value, size)
                while sum(e[2] for e in self._entries.values()) > self.budget_bytes:
                    self._entries.popitem(last=False)
        return value


def prompt_embeddings(pipe, cache: EmbeddingCache | None, prompt: str, negative: str | None, guidance: float,
                      max_sequence_length: int | None) -> dict[str, torch.Tensor] | None:
    """Keyword arguments carrying the encoded prompt for one image, or None for unknown pipelines.

    The pipeline's own `encode_prompt` is called with the arguments its `__call__` would use,
    so the tensors are exactly those it would compute itself.
    """
    if cache is None:
        return None
    name = type(pipe).__name__
    device = pipe._execution_device
    cfg = guidance > 1.0
    if name.startswith("Flux"):
        key = ("flux", prompt, max_sequence_length)
        pe, pooled, _ = cache.get(pipe, key, lambda: pipe.encode_prompt(
            prompt=prompt, prompt_2=None, device=device, num_images_per_prompt=1,
            max_sequence_length=max_sequence_length or 512))
        return {"prompt_embeds": pe, "pooled_prompt_embeds": pooled}
    if name.startswith("StableDiffusion3"):
        key = ("sd3", prompt, negative, cfg, max_sequence_length)
        pe, npe, pooled, npooled = cache.get(pipe, key, lambda: pipe.encode_prompt(
            prompt=prompt, prompt_2=None, prompt_3=None, device=device, num_images_per_prompt=1,
            do_classifier_free_guidance=cfg, negative_prompt=negative or None,
            max_sequence_length=max_sequence_length or 256))
        out = {"prompt_embeds": pe, "pooled_prompt_embeds": pooled}
        if cfg:
            out.update(negative_prompt_embeds=npe, negative_pooled_prompt_embeds=npooled)
        return out
    if name.startswith("StableDiffusionXL"):
        key = ("sdxl", prompt, negative, cfg)
        pe, npe, pooled, npooled = cache.get(pipe, key, lambda: pipe.encode_prompt(
            prompt=prompt, device=device, num_images_per_prompt=1, do_classifier_free_guidance=cfg,
            negative_prompt=negative or None))
        out = {"prompt_embeds": pe, "pooled_prompt_embeds": pooled}
        if cfg:
            out.update(negative_prompt_embeds=npe, negative_pooled_prompt_embeds=npooled)
        return out
    if name.startswith("StableDiffusion"):
        # SD 1.x/2.x: no guidance embedding in the UNet (LCM-style UNets set time_cond_proj_dim)
        cfg = cfg and getattr(pipe.unet.config, "time_cond_proj_dim", None) is None
        key = ("sd", prompt, negative, cfg)
        pe, npe = cache.get(pipe, key, lambda: pipe.encode_prompt(
            prompt, device, 1, cfg, negative_prompt=negative or None))
        out = {"prompt_embeds": pe}
        if cfg:
            out["negative_prompt_embeds"] = npe
        return out
    return None


def repeat_for_batch(embeds: dict[str, torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
    return {k: v.repeat(batch, *([1] * (v.ndim - 1))) for k, v in embeds.items()}
