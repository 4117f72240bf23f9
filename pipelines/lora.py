"""Few-step presets: a LoRA (LCM-LoRA, SDXL-Lightning, Hyper-SD) fused into a preset's pipeline.

A preset's `lora` table names the adapter like any weights — `repo` + `weight_name` (HF cache),
`local_dir`, or `tiny` (built here) — and its `scale`. The fused pipeline is that preset's own
cache entry, so the base preset's pipeline is never changed.
"""
from __future__ import annotations

from typing import Any

from pipelines.errors import ModelMissingError, PresetError, weights_missing

LORA_KEYS = {"repo", "revision", "weight_name", "local_dir", "tiny", "scale", "label", "license"}


def lora_source(preset, manager) -> tuple[str, dict[str, Any]]:
    """(path or hub id, load_lora_weights kwargs) of a preset's LoRA."""
    spec = preset.lora
    unknown = set(spec) - LORA_KEYS
    if unknown:
        raise PresetError(f"preset {preset.name!r}: unknown lora keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    if spec.get("weight_name"):
        kwargs["weight_name"] = spec["weight_name"]
    if spec.get("tiny"):
        from pipelines.tiny import ensure_built

        return str(ensure_built(spec["tiny"], manager.data_dir / "models" / "tiny")), kwargs
    if spec.get("local_dir"):
        return spec["local_dir"], kwargs
    if not spec.get("repo"):
        raise PresetError(f"preset {preset.name!r}: its lora needs repo, local_dir or tiny")
    kwargs["revision"] = spec.get("revision", "main")
    if manager.offline:
        kwargs["local_files_only"] = True
    return spec["repo"], kwargs


def apply_lora(pipe, preset, manager) -> list[str]:
    """Load, fuse and unload the preset's LoRA into `pipe` (its weights now include the adapter)."""
    source, kwargs = lora_source(preset, manager)
    try:
        pipe.load_lora_weights(source, adapter_name="fast", **kwargs)
    except (OSError, ValueError) as e:
        if weights_missing(e, kwargs):
            raise ModelMissingError(
                f"The adapter of “{preset.label}” ({source}, {kwargs.get('weight_name', '')}) is not on this machine. "
                f"On a connected machine run `studio models pull {preset.name}`.") from e
        raise
    pipe.fuse_lora(lora_scale=float(preset.lora.get("scale", 1.0)))
    pipe.unload_lora_weights()  # keep the fused weights, drop the adapter layers
    return []
