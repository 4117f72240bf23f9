"""Reference-image presets: an IP-Adapter loaded into a preset's own pipeline at load time.

A preset's `ip_adapter` table names the adapter like any weights — `repo` (+ `revision`),
`local_dir` or `tiny` — and where in it the files are, in the layout of h94/IP-Adapter:
`subfolder` ("models"), `weight_name` ("ip-adapter_sd15.safetensors", keys `image_proj.*` and
`ip_adapter.*`) and `image_encoder` (the CLIP vision folder, relative to `subfolder` when it has
no slash). Loading an adapter replaces the UNet's cross-attention processors in place, so an
adapter preset is a pipeline of its own in the model cache: the plain preset on the same weights,
which other visitors use, is never touched.

How strongly the reference steers a run is that request's own setting: the adapter's processors
read it from the calling thread (`reference_strength`), never from a value set on the shared
pipeline, so two visitors' runs with different strengths cannot mix.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

from pipelines.errors import ModelMissingError, PresetError, weights_missing

IP_ADAPTER_KEYS = {"repo", "revision", "local_dir", "tiny", "subfolder", "weight_name", "image_encoder", "label",
                   "license"}


def check_spec(where: str, spec: Any) -> None:
    """Raise `PresetError` for an `ip_adapter` table that could not load."""
    if not isinstance(spec, dict):
        raise PresetError(f"{where}: ip_adapter must be a table")
    unknown = set(spec) - IP_ADAPTER_KEYS
    if unknown:
        raise PresetError(f"{where}: unknown ip_adapter keys {sorted(unknown)}; known: {sorted(IP_ADAPTER_KEYS)}")
    sources = [k for k in ("repo", "local_dir", "tiny") if spec.get(k)]
    if len(sources) != 1:
        raise PresetError(f"{where}: its ip_adapter needs exactly one of repo, local_dir, tiny")
    for key in ("subfolder", "weight_name", "image_encoder"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise PresetError(f"{where}: its ip_adapter needs {key} (e.g. subfolder = \"models\", "
                              f"weight_name = \"ip-adapter_sd15.safetensors\", image_encoder = \"image_encoder\")")


def adapter_source(preset, manager) -> tuple[str, dict[str, Any]]:
    """(path or hub id, load_ip_adapter kwargs) of a preset's adapter."""
    spec = preset.ip_adapter
    kwargs: dict[str, Any] = dict(subfolder=spec["subfolder"], weight_name=spec["weight_name"],
                                  image_encoder_folder=spec["image_encoder"])
    if spec.get("tiny"):
        from pipelines.tiny import ensure_built

        return str(ensure_built(spec["tiny"], manager.data_dir / "models" / "tiny")), kwargs
    if spec.get("local_dir"):
        return spec["local_dir"], kwargs
    kwargs["revision"] = spec.get("revision", "main")
    if manager.offline:
        kwargs["local_files_only"] = True
    return spec["repo"], kwargs


def apply_ip_adapter(pipe, preset, manager, device: str) -> list[str]:
    """Load the preset's IP-Adapter (and its image encoder) into `pipe`, whose strength each request sets."""
    source, kwargs = adapter_source(preset, manager)
    if not hasattr(pipe, "load_ip_adapter"):
        raise PresetError(f"preset {preset.name!r}: {type(pipe).__name__} cannot take an IP-Adapter")
    try:
        pipe.load_ip_adapter(source, **kwargs)
    except (OSError, ValueError) as e:
        if weights_missing(e, kwargs):
            raise ModelMissingError(
                f"The reference adapter of “{preset.label}” ({source}, {kwargs['subfolder']}/{kwargs['weight_name']}) "
                f"is not on this machine. On a connected machine run `studio models pull {preset.name}`.") from e
        raise
    processors = _scale_per_request(pipe.unet)
    if not processors:
        raise PresetError(f"preset {preset.name!r}: the adapter added no image-attention layers to the model")
    runtime = manager.runtime
    if device.startswith("cuda") and runtime.offload in ("model", "sequential"):
        # the image encoder arrived after offloading was set up; set it up again to include it
        getattr(pipe, f"enable_{runtime.offload}_cpu_offload")(device=device)
    return []


def download(preset) -> None:
    """Fetch the adapter's weight file and image encoder into the HF cache (`studio models pull`)."""
    spec = preset.ip_adapter
    if not spec.get("repo"):
        return
    from huggingface_hub import snapshot_download

    encoder = spec["image_encoder"] if "/" in spec["image_encoder"] else f"{spec['subfolder']}/{spec['image_encoder']}"
    snapshot_download(spec["repo"], revision=spec.get("revision", "main"),
                      allow_patterns=[f"{spec['subfolder']}/{spec['weight_name']}", f"{encoder}/*.json",
                                      f"{encoder}/*.safetensors"])


# ---- per-request strength ------------------------------------------------------------------------

_strength = threading.local()


@contextlib.contextmanager
def reference_strength(strength: float) -> Iterator[None]:
    """Within this block, the adapter layers run in this thread weigh the reference by `strength`."""
    before = getattr(_strength, "value", None)
    _strength.value = float(strength)
    try:
        yield
    finally:
        _strength.value = before


class _RequestScale:
    """Mixin for diffusers' IP-Adapter attention processors: `scale` is the calling request's strength
    (one entry per adapter), so nothing per request is stored on the shared processor."""

    @property
    def scale(self) -> list[float]:
        value = getattr(_strength, "value", None)
        return [1.0 if value is None else value] * len(self.num_tokens)

    @scale.setter
    def scale(self, value) -> None:  # diffusers' __init__ sets it; the request decides instead
        pass


_SCALED: dict[type, type] = {}


def _scale_per_request(unet) -> list:
    """Give every IP-Adapter processor of `unet` the request-scaled `scale` (same weights, same forward)."""
    from diffusers.models.attention_processor import (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0,
                                                      IPAdapterXFormersAttnProcessor)

    found = []
    for processor in unet.attn_processors.values():
        cls = type(processor)
        if cls in _SCALED.values():
            found.append(processor)
        elif cls in (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0, IPAdapterXFormersAttnProcessor):
            if cls not in _SCALED:
                _SCALED[cls] = type(f"RequestScaled{cls.__name__}", (_RequestScale, cls), {})
            processor.__class__ = _SCALED[cls]
            found.append(processor)
    return found
