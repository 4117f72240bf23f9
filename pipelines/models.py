"""The model layer: one loader for every task, through the HF cache, a local folder or the tiny tier.

`ModelManager.get(task, preset_name)` returns a loaded pipeline from the shared cache, loading
it once. Missing weights raise `ModelMissingError` with what to do about it; the studio keeps
running either way.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import registry
from pipelines.cache import PipelineCache
from pipelines.errors import ModelMissingError, PresetError
from pipelines.presets import ModelPreset, load_presets

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    """A loaded pipeline with where it runs; shared read-only between visitors."""

    pipe: Any
    preset: ModelPreset
    device: str
    dtype: str                      # "fp32", "fp16", "bf16"
    notices: list[str] = field(default_factory=list)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


class ModelManager:
    """Loads presets' models onto this machine's device and keeps them in an LRU cache."""

    def __init__(self, data_dir: Path, runtime=None, cache_budget_gb: float = 12.0,
                 model_dir: Path | None = None, offline: bool | None = None, embedding_cache_mb: float = 512):
        from pipelines.device import Runtime, free_memory
        from pipelines.embeddings import EmbeddingCache

        self.data_dir = Path(data_dir)
        self.runtime = runtime or Runtime()
        self.model_dir = Path(model_dir) if model_dir else None
        self.offline = hub_offline() if offline is None else offline
        self.cache = PipelineCache(int(cache_budget_gb * 2**30), on_evict=lambda k, v: free_memory())
        self.embeddings = EmbeddingCache(int(embedding_cache_mb * 2**20))
        self._presets: dict[str, dict[str, ModelPreset]] = {}

    # ---- presets
    def presets(self, task: str) -> dict[str, ModelPreset]:
        """The task's presets (read once, checked against the task's request fields)."""
        if task not in self._presets:
            self._presets[task] = load_presets(task, registry.request_fields(task))
        return self._presets[task]

    def preset(self, task: str, name: str) -> ModelPreset:
        presets = self.presets(task)
        if name not in presets:
            raise PresetError(f"Unknown model preset {name!r} for {task.replace('_', ' ')}; "
                              f"choose one of: {', '.join(presets)}.")
        return presets[name]

    # ---- weights
    def local_folder(self, preset: ModelPreset) -> Path | None:
        """A folder holding the preset's weights on disk, if configured and present."""
        candidates = []
        if preset.local_dir:
            candidates.append(Path(preset.local_dir).expanduser())
        if self.model_dir:
            candidates.append(self.model_dir / preset.name)
        return next((c for c in candidates if c.is_dir()), None)

    def source(self, preset: ModelPreset) -> tuple[str, dict[str, Any]]:
        """(path or hub id, extra from_pretrained kwargs) to load the preset's weights from."""
        if preset.tiny:
            from pipelines.tiny import ensure_built

            return str(ensure_built(preset.tiny, self.data_dir / "models" / "tiny")), {}
        folder = self.local_folder(preset)
        if folder:
            return str(folder), {}
        if preset.local_dir:
            raise ModelMissingError(self.missing_message(preset))
        kwargs: dict[str, Any] = {"revision": preset.revision}
        if preset.variant:
            kwargs["variant"] = preset.variant
        if self.offline:
            kwargs["local_files_only"] = True
        return preset.repo, kwargs

    def missing_message(self, preset: ModelPreset) -> str:
        where = f"the folder {preset.local_dir}" if preset.local_dir and not preset.repo else f"{preset.repo} (revision {preset.revision})"
        return (f"The model “{preset.label}” is not on this machine: {where} could not be found"
                f"{' and the hub is offline' if self.offline else ''}. "
                f"On a connected machine run `studio models pull {preset.name}`, "
                f"or put the weights in a folder and set STUDIO_MODEL_DIR (one sub-folder per preset name), "
                f"or choose a tiny-tier preset for an offline demo.")

    def is_available(self, preset: ModelPreset) -> bool:
        """True when loading will not need the network (tiny, local folder, or in the HF cache)."""
        if preset.tiny or self.local_folder(preset):
            return True
        if preset.local_dir:
            return False
        downloaded = getattr(registry.task_module(preset.task), "is_downloaded", None)
        if downloaded is not None:  # the task's library keeps its own cache (Coqui TTS model names)
            return bool(downloaded(preset))
        try:
            from huggingface_hub import snapshot_download

            snapshot_download(preset.repo, revision=preset.revision, local_files_only=True)
            return True
        except Exception:
            return False

    # ---- loading
    def get(self, task: str, preset_name: str) -> Loaded:
        """The loaded pipeline for (task, preset), from the cache or loaded now."""
        preset = self.preset(task, preset_name)
        from pipelines.device import DTYPE_NAMES, DTYPES, pick_device, pick_dtype

        device = pick_device(self.runtime.device)
        dtype = pick_dtype(device, preset.dtype, self.runtime.dtype)
        supported = getattr(registry.task_module(task), "SUPPORTED_DTYPES", None)
        if supported and DTYPE_NAMES[dtype] not in supported:  # a library that breaks in other precisions
            dtype = DTYPES[supported[0]]
        key = (task, preset.name, device, DTYPE_NAMES[dtype])

        def load() -> Loaded:
            module = registry.task_module(task)
            base = self.base_preset(task, preset)
            if base is not None:
                shared = self.get(module.BASE_TASK, base)
                if (shared.device, shared.dtype) == (device, DTYPE_NAMES[dtype]):
                    return Loaded(module.from_base(shared.pipe), preset, device, DTYPE_NAMES[dtype],
                                  [*shared.notices, f"Runs on the loaded {module.BASE_TASK.replace('_', ' ')} model "
                                                    f"“{shared.preset.label}” (weights shared, not copied)."])
            path, kwargs = self.source(preset)
            log.info("loading %s for %s from %s on %s/%s", preset.name, task, path, device, DTYPE_NAMES[dtype])
            try:
                pipe, notices = module.load(path, device, dtype, self.runtime, **kwargs)
            except (OSError, ValueError) as e:
                if _looks_missing(e):
                    raise ModelMissingError(self.missing_message(preset)) from e
                raise
            if preset.lora:
                from pipelines.lora import apply_lora

                notices += apply_lora(pipe, preset, self)
            if preset.ip_adapter:  # its own cache entry: the plain preset's pipeline keeps its processors
                from pipelines.ip_adapter import apply_ip_adapter

                notices += apply_ip_adapter(pipe, preset, self, device)
            return Loaded(pipe, preset, device, DTYPE_NAMES[dtype], notices)

        return self.cache.get_or_load(key, load)

    def base_preset(self, task: str, preset: ModelPreset) -> str | None:
        """The preset of the task's BASE_TASK naming the same weights, when the task module can
        build its pipeline from that loaded one (`from_base`): fill reuses a text-to-image model."""
        module = registry.task_module(task)
        if not getattr(module, "BASE_TASK", None) or not hasattr(module, "from_base"):
            return None
        weights = lambda p: (p.repo, p.revision, p.variant, p.local_dir, p.tiny, sorted(p.lora.items()),  # noqa: E731
                             sorted(p.ip_adapter.items()))
        return next((p.name for p in self.presets(module.BASE_TASK).values() if weights(p) == weights(preset)), None)

    def pull(self, task: str, preset_name: str) -> str:
        """Download a preset's weights into the HF cache (for `studio models pull`)."""
        preset = self.preset(task, preset_name)
        if preset.tiny:
            return self.source(preset)[0]
        if not preset.repo:
            raise ModelMissingError(f"{preset.name} is a local folder preset ({preset.local_dir}); there is nothing to pull.")
        module = registry.task_module(task)
        download = getattr(module, "download", None)
        if download is not None:
            return str(download(preset))
        from huggingface_hub import snapshot_download

        if preset.ip_adapter:
            from pipelines.ip_adapter import download as download_adapter

            download_adapter(preset)
        return snapshot_download(preset.repo, revision=preset.revision)


def _looks_missing(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(s in text for s in ("does not appear to have", "not found", "couldn't connect", "offline",
                                   "no such file", "localentrynotfound", "cannot find", "is not a local folder",
                                   "repository not found", "outgoing traffic has been disabled"))
