"""The model layer: one loader for every task, through the HF cache, a local folder or the tiny tier.

`ModelManager.lease(task, preset_name)` holds a loaded pipeline from the shared cache for one
job, loading it once; `get` is the same without holding it. Missing weights raise
`ModelMissingError` with what to do about it; the studio keeps running either way.

Before a load the manager plans it from the weight files on disk (`weight_bytes`): the bytes
to make room for in the cache, and, for a model larger than the whole cache budget, CPU offload
on CUDA (loaded once and kept, never reloaded per request) or a refusal on a machine without
one when it is larger than the memory the machine can give it.

One job at a time per loaded pipeline: each `Loaded` carries a `run_lock` that the runner holds
for the run. Sharing one pipeline between concurrent jobs is not safe: diffusers' SDXL pipeline
casts its VAE to fp32 and back inside `__call__` (fp16 upcast), and CPU-offload and caching
hooks (`cache_hook`) keep per-run state on the shared modules. Jobs on different models still
run at once (up to the setting `jobs_per_device`).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pipelines import registry
from pipelines.cache import PipelineCache, estimate_bytes
from pipelines.downloads import DownloadControl, GatedModelError, download_files, repo_storage
from pipelines.errors import ModelMissingError, OutOfMemory, PresetError, StudioError
from pipelines.model_files import LOCAL, READY, TINY, ModelFiles, PresetState
from pipelines.presets import PRESETS_DIR, ModelPreset, load_presets

log = logging.getLogger(__name__)
# One load (or tiny build) at a time in this process: transformers and accelerate build models inside
# init_empty_weights, which patches torch.nn.Module for every thread while it lasts, so a model another
# thread builds meanwhile (the Library's background tagger beside a visitor's load) gets meta tensors.
_LOADING = threading.RLock()

# Tasks whose loaders place a diffusers pipeline with `device.place_pipeline`, and so can be
# loaded with CPU offload when they do not fit the cache budget.
OFFLOADABLE_TASKS = frozenset({"text_to_image", "fill", "video", "sound_effects"})


class ModelTooLarge(OutOfMemory):
    """A model larger than the memory this machine can give it, refused before loading."""


@dataclass
class Loaded:
    """A loaded pipeline with where it runs; shared read-only between visitors."""

    pipe: Any
    preset: ModelPreset
    device: str
    dtype: str                      # "fp32", "fp16", "bf16"
    notices: list[str] = field(default_factory=list)
    offload: str = "none"           # CPU offload it was loaded with: none, model, sequential (CUDA)
    # held by the job running the pipeline (see the module docstring); views share their base's
    run_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # pipelines of other tasks made over these weights (fill over text-to-image), made once
    views: dict = field(default_factory=dict, repr=False, compare=False)


def charged_bytes(loaded: Any) -> int:
    """What a loaded value costs the cache: every component it holds on the device (denoiser,
    VAE, text encoders, adapters, fused LoRA); with model CPU offload only the largest part,
    which is on the device while it runs; with sequential offload its largest layer."""
    if isinstance(loaded, Loaded) and loaded.offload == "sequential":
        return largest_layer_bytes(loaded.pipe)
    if isinstance(loaded, Loaded) and loaded.offload == "model":
        return largest_part_bytes(loaded.pipe)
    return estimate_bytes(loaded)


def largest_part_bytes(obj: Any) -> int:
    """Bytes of the largest model (torch module) inside a pipeline or a container of pipelines."""
    return max((estimate_bytes(m) for m in _modules(obj)), default=0)


def largest_layer_bytes(obj: Any) -> int:
    """Bytes of the largest leaf module (a layer) inside a pipeline: what sequential offload
    puts on the device at a time."""
    return max((sum(t.numel() * t.element_size() for t in [*m.parameters(recurse=False), *m.buffers(recurse=False)])
                for top in _modules(obj) for m in top.modules() if not any(True for _ in m.children())), default=0)


def _modules(obj: Any) -> list:
    """The torch modules (components) inside a pipeline, a container of pipelines, or `Loaded`."""
    if hasattr(obj, "parameters") and hasattr(obj, "buffers"):
        return [obj]
    if hasattr(obj, "components") and isinstance(getattr(obj, "components"), dict):
        return [m for v in obj.components.values() for m in _modules(v)]
    if isinstance(obj, dict):
        return [m for v in obj.values() for m in _modules(v)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [m for f in dataclasses.fields(obj) for m in _modules(getattr(obj, f.name))]
    return []


# ---- sizes from the files on disk
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt")
_VARIANT_MARK = re.compile(r"\.(fp16|bf16|fp32|non_ema|ema)(?=[.-])")
_ITEMSIZE = {"fp32": 4, "fp16": 2, "bf16": 2}
_FLOAT_ST = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}
_OTHER_ST = {"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
# model_index.json classes that hold no weights
_NO_WEIGHTS = re.compile(r"Tokenizer|Scheduler|FeatureExtractor|Processor")


def weight_bytes(folder: Path, dtype: str, variant: str | None = None) -> dict[str, int]:
    """Bytes each component's weights take at `dtype` ("" for a model saved at the folder's
    root), from the weight files: safetensors headers give exact tensor sizes, other formats
    are scaled from their file size. A diffusers folder counts only the components its
    model_index.json names (not single-file checkpoints or ONNX copies beside them).

    Raises ModelMissingError naming the files a partial download lacks (a shard named by an
    index, or a component with no weights at all).
    """
    folder = Path(folder)
    index = folder / "model_index.json"
    if index.is_file():
        spec = json.loads(index.read_text())
        parts = {name: folder / name for name, value in spec.items()
                 if isinstance(value, list) and value[0] and not _NO_WEIGHTS.search(str(value[1]))}
    else:
        parts = {"": folder}
    sizes, missing = {}, []
    for name, sub in parts.items():
        files = _weight_files(sub, variant)
        missing += _missing_files(sub, files)
        if name and not files:  # a diffusers component whose folder holds no weights at all
            missing.append(f"{name}/ (its weights)")
        sizes[name] = sum(_file_bytes(f, dtype) for f in files if f.exists())
    if missing:
        raise ModelMissingError(f"The weights in {folder} are incomplete (a partial download?): missing "
                                f"{', '.join(missing)}. Download them again (`studio models pull <preset>`).")
    return sizes


def _weight_files(folder: Path, variant: str | None) -> list[Path]:
    """The weight files a loader reads from `folder`: the variant's when it has them, the plain
    ones otherwise; safetensors when both formats are there."""
    files = sorted(f for f in folder.glob("*") if f.name.endswith(WEIGHT_SUFFIXES)) if folder.is_dir() else []
    marked = [f for f in files if variant and f".{variant}" in f.name and _VARIANT_MARK.search(f.name)]
    chosen = marked or [f for f in files if not _VARIANT_MARK.search(f.name)]
    safetensors = [f for f in chosen if f.suffix == ".safetensors"]
    return safetensors or chosen


def _missing_files(folder: Path, files: list[Path]) -> list[str]:
    """Chosen weight files that are links to blobs never downloaded, and shards named by the
    folder's *.index.json (of the chosen format and variant) that are not there."""
    names = {f.name for f in files}
    missing = {f.name for f in files if not f.exists()}
    for index in folder.glob("*.index.json") if folder.is_dir() else []:
        shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        if shards & names:
            missing |= shards - names
    return [f"{folder.name}/{m}" for m in sorted(missing)]


def _file_bytes(path: Path, dtype: str) -> int:
    target = _ITEMSIZE[dtype]
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        total = 0
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                piece = f.get_slice(name)
                numel = 1
                for n in piece.get_shape():
                    numel *= n
                kind = piece.get_dtype()
                total += numel * (target if kind in _FLOAT_ST else _OTHER_ST.get(kind, 4))
        return total
    stored = 2 if re.search(r"\.(fp16|bf16)(?=[.-])", path.name) else 4
    return os.path.getsize(path) * target // stored


# ---- the load decision
@dataclass(frozen=True)
class LoadPlan:
    """How one preset is loaded: with which CPU offload, and how many bytes to make room for."""

    offload: str = "none"          # none, model, sequential
    charge: int | None = None      # bytes the cache makes room for first (None: not known before loading)
    forced: bool = False           # offload chosen because the model is larger than the budget
    notices: tuple[str, ...] = ()


def plan_load(preset: ModelPreset, sizes: dict[str, int] | None, device: str, dtype: str, offload_setting: str,
              budget_bytes: int, offloadable: bool, loadable_bytes: int | None) -> LoadPlan:
    """Decide how to load a model of `sizes` bytes per component.

    CUDA: the operator's offload setting when set; else no offload when the whole model fits the
    budget, model CPU offload when its largest part does, sequential offload when not even that.
    CPU/MPS (no offload there): refused (`ModelTooLarge`) above `loadable_bytes`, the memory the
    machine can give a model; loaded alone (the rest evicted) when only over the budget.
    """
    cuda = device.startswith("cuda")
    effective = offload_setting if cuda and offloadable else "none"
    if not sizes:
        return LoadPlan(effective)
    total, largest = sum(sizes.values()), max(sizes.values())
    gb = lambda n: f"{n / 2**30:.1f} GB"  # noqa: E731
    if loadable_bytes is not None and total > loadable_bytes:
        raise ModelTooLarge(f"“{preset.label}” needs about {gb(total)} of memory in {dtype}, more than this "
                            f"{device} can give a model ({gb(loadable_bytes)}); loading it would swap for minutes. "
                            "Choose a smaller model, or run the studio on a machine with a GPU or more memory.")
    if effective != "none":
        return LoadPlan(effective, largest if effective == "model" else 0)  # sequential: a layer, known once loaded
    if total <= budget_bytes:
        return LoadPlan("none", total)
    over = f"“{preset.label}” ({gb(total)} in {dtype}) is larger than the model cache ({gb(budget_bytes)})"
    if cuda and offloadable and largest <= budget_bytes:
        return LoadPlan("model", largest, True, (f"{over}: it stays loaded with model CPU offload (each part moves "
                                                 "to the GPU while it runs; slower steps, no reloads).",))
    if cuda and offloadable:
        return LoadPlan("sequential", 0, True, (f"{over}, and so is its largest part ({gb(largest)}): it stays loaded "
                                                "with sequential CPU offload (layer by layer; much slower steps, no reloads).",))
    return LoadPlan("none", total, False, (f"{over}: the other models were unloaded to make room for it.",))


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


class ModelManager:
    """Loads presets' models onto this machine's device and keeps them in an LRU cache."""

    def __init__(self, data_dir: Path, runtime=None, cache_budget_gb: float | str = "auto",
                 model_dir: Path | None = None, offline: bool | None = None, embedding_cache_mb: float = 512,
                 presets_dir: Path | None = None):
        from pipelines.device import Runtime, cache_budget_bytes, free_memory
        from pipelines.embeddings import EmbeddingCache

        self.data_dir = Path(data_dir)
        self.runtime = runtime or Runtime()
        self.model_dir = Path(model_dir) if model_dir else None
        self.offline = hub_offline() if offline is None else offline
        self.cache = PipelineCache(cache_budget_bytes(cache_budget_gb, self.runtime.device),
                                   on_evict=lambda k, v: free_memory(), size_of=charged_bytes)
        self._sizes: dict[tuple, dict[str, int] | None] = {}   # expected bytes per (task, preset, dtype)
        self._views_lock = threading.Lock()
        self.embeddings = EmbeddingCache(int(embedding_cache_mb * 2**20))
        self._presets: dict[str, dict[str, ModelPreset]] = {}
        self.presets_dir = Path(presets_dir) if presets_dir else PRESETS_DIR
        self.files = ModelFiles(self.data_dir)        # which files presets read, their state, removal
        self.downloads: dict[tuple, DownloadControl] = {}   # in progress, by the weights they fetch
        self._downloads_lock = threading.Lock()

    # ---- presets
    def presets(self, task: str) -> dict[str, ModelPreset]:
        """The task's presets (read once, checked against the task's request fields)."""
        if task not in self._presets:
            self._presets[task] = load_presets(task, registry.request_fields(task), self.presets_dir)
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
        if preset.weight_file:
            kwargs["weight_file"] = preset.weight_file
        if self.offline:
            kwargs["local_files_only"] = True
        return preset.repo, kwargs

    def missing_message(self, preset: ModelPreset) -> str:
        where = f"the folder {preset.local_dir}" if preset.local_dir and not preset.repo else f"{preset.repo} (revision {preset.revision})"
        return (f"The model “{preset.label}” is not on this machine: {where} could not be found"
                f"{' and the hub is offline' if self.offline else ''}. "
                f"On a connected machine download it in the Models tab or run `studio models pull {preset.name}`, "
                f"or put the weights in a folder and set STUDIO_MODEL_DIR (one sub-folder per preset name), "
                f"or choose a tiny-tier preset for an offline demo.")

    def is_available(self, preset: ModelPreset) -> bool:
        """True when loading will not need the network: tiny, a local folder, or every file the
        loader reads in the HF cache (at the hub's listed size, where a listing was recorded)."""
        return self.weights_state(preset, online=False).state in (READY, LOCAL, TINY)

    def weights_state(self, preset: ModelPreset, online: bool | None = None) -> PresetState:
        """Tier, licence, access, sizes and state of the preset's weights (the Models tab's row);
        `online` (default: unless offline) asks the hub for its listing."""
        online = not self.offline if online is None else online
        try:
            return self.files.state(preset, self.local_folder(preset), online)
        except GatedModelError:  # listed as what is here; downloading says what to do
            return dataclasses.replace(self.files.state(preset, self.local_folder(preset), False), gated=True)
        except Exception as e:  # noqa: BLE001 - the hub unreachable (httpx and OS errors): what this machine knows
            if not online or isinstance(e, StudioError):
                raise
            log.warning("no listing of %s from the hub (%s); showing the local state", preset.repo, type(e).__name__)
            return self.files.state(preset, self.local_folder(preset), False)

    def all_presets(self) -> list[ModelPreset]:
        """Every preset of every task, in registry order."""
        return [p for task in registry.TASKS for p in self.presets(task).values()]

    # ---- loading
    def get(self, task: str, preset_name: str) -> Loaded:
        """The loaded pipeline for (task, preset), from the cache or loaded now. Not held: it may
        be evicted once this returns; a job running it uses `lease` (as the runner does)."""
        with self.lease(task, preset_name) as loaded:
            return loaded

    @contextmanager
    def lease(self, task: str, preset_name: str) -> Iterator[Loaded]:
        """The loaded pipeline for (task, preset), held in the cache (never evicted) for the block.

        A preset that runs on another task's loaded model (fill on a text-to-image model) holds
        that model's entry and gets a view over it: the same weights and the same `run_lock`.
        """
        preset = self.preset(task, preset_name)
        device, dtype = self.placement(task, preset)
        base = self.base_preset(task, preset)
        if base is not None:
            with self.lease(registry.contract(task).base_task, base) as shared:
                if (shared.device, shared.dtype) == (device, dtype):
                    yield self._view(task, preset, shared)
                    return
        key = (task, preset.name, device, dtype)
        # Planned before the load so that a model too large for this machine is refused before
        # anything is read, and room is made for it first. A key already loaded (or put in the
        # cache by hand, as the benches do) needs no plan.
        plan = None if key in self.cache.keys() else self.plan(task, preset, device, dtype)
        load = lambda: self._load(task, preset, device, dtype, plan or self.plan(task, preset, device, dtype))  # noqa: E731
        with self.cache.lease(key, load, plan.charge if plan else None) as loaded:
            yield loaded

    def placement(self, task: str, preset: ModelPreset) -> tuple[str, str]:
        """(device, dtype name) the preset loads with on this machine."""
        from pipelines.device import DTYPE_NAMES, DTYPES, pick_device, pick_dtype

        device = pick_device(self.runtime.device)
        dtype = pick_dtype(device, preset.dtype, self.runtime.dtype)
        supported = registry.contract(task).dtypes
        if supported and DTYPE_NAMES[dtype] not in supported:  # a library that breaks in other precisions
            dtype = DTYPES[supported[0]]
        return device, DTYPE_NAMES[dtype]

    def plan(self, task: str, preset: ModelPreset, device: str, dtype: str) -> LoadPlan:
        """How the preset will be loaded given its size on disk, the cache budget and the device."""
        from pipelines.device import largest_loadable_bytes

        memo = (task, preset.name, dtype)
        if memo not in self._sizes:
            self._sizes[memo] = self.expected_sizes(preset, dtype)
        return plan_load(preset, self._sizes[memo], device, dtype, self.runtime.offload, self.cache.budget_bytes,
                         offloadable=task in OFFLOADABLE_TASKS, loadable_bytes=largest_loadable_bytes(device))

    def expected_sizes(self, preset: ModelPreset, dtype: str) -> dict[str, int] | None:
        """Bytes per component the preset's weights take at `dtype`, read from the files on disk;
        None when they are not on disk (the load then says what is missing)."""
        folder = self.weights_folder(preset)
        return weight_bytes(folder, dtype, preset.variant) if folder else None

    def weights_folder(self, preset: ModelPreset) -> Path | None:
        """The folder the preset's weights load from, when it is on this machine."""
        try:
            path, _ = self.source(preset)
        except ModelMissingError:
            return None
        if Path(path).is_dir():
            return Path(path)
        if registry.contract(preset.task).is_downloaded is not None:
            return None  # the task's library keeps its own cache (Coqui TTS model names)
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(preset.repo, revision=preset.revision, local_files_only=True))
        except Exception:  # not downloaded (or not a hub id): the load reports it
            return None

    def _load(self, task: str, preset: ModelPreset, device: str, dtype: str, plan: LoadPlan) -> Loaded:
        with _LOADING:
            return self._load_now(task, preset, device, dtype, plan)

    def _load_now(self, task: str, preset: ModelPreset, device: str, dtype: str, plan: LoadPlan) -> Loaded:
        from pipelines.device import DTYPES

        module = registry.task_module(task)
        path, kwargs = self.source(preset)
        runtime = dataclasses.replace(self.runtime, offload=plan.offload) if plan.forced else self.runtime
        log.info("loading %s for %s from %s on %s/%s (offload: %s)", preset.name, task, path, device, dtype, plan.offload)
        try:
            pipe, notices = module.load(path, device, DTYPES[dtype], runtime, **kwargs)
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
        if preset.openvino:  # used when the pipeline runs through OpenVINO (cpu_backend), else ignored
            from pipelines.openvino_backend import configure

            configure(pipe, preset.openvino)
        return Loaded(pipe, preset, device, dtype, [*plan.notices, *notices], offload=plan.offload)

    def _view(self, task: str, preset: ModelPreset, shared: Loaded) -> Loaded:
        """The task's pipeline over `shared`'s modules, made once and kept with `shared`."""
        with self._views_lock:
            view = shared.views.get((task, preset.name))
            if view is None:
                contract = registry.contract(task)
                view = Loaded(contract.from_base(shared.pipe), preset, shared.device, shared.dtype,
                              [*shared.notices, f"Runs on the loaded {contract.base_task.replace('_', ' ')} model "
                                                f"“{shared.preset.label}” (weights shared, not copied)."],
                              offload=shared.offload, run_lock=shared.run_lock)
                shared.views[(task, preset.name)] = view
        return view

    def base_preset(self, task: str, preset: ModelPreset) -> str | None:
        """The preset of the task's declared base task naming the same weights, when the task can
        build its pipeline from that loaded one (`from_base`): fill reuses a text-to-image model."""
        contract = registry.contract(task)
        if contract.base_task is None:
            return None
        weights = lambda p: (p.repo, p.revision, p.variant, p.local_dir, p.tiny, sorted(p.lora.items()),  # noqa: E731
                             sorted(p.ip_adapter.items()))
        return next((p.name for p in self.presets(contract.base_task).values() if weights(p) == weights(preset)), None)

    def pull(self, task: str, preset_name: str, control: DownloadControl | None = None) -> str:
        """Download the files the preset's loader reads into the HF cache (`studio models pull`, the
        Models tab), reporting progress to `control`; a second pull of a preset already downloading
        is refused. Returns where the weights are."""
        preset = self.preset(task, preset_name)
        if preset.tiny:
            return self.source(preset)[0]
        if not preset.repo:
            raise ModelMissingError(f"{preset.name} is a local folder preset ({preset.local_dir}); there is nothing to pull.")
        download = registry.contract(task).download
        if download is not None:  # the task's library fetches its own (Coqui TTS model names)
            return str(download(preset))
        key = (preset.repo, preset.revision, preset.variant, str(preset.lora), str(preset.ip_adapter))
        with self._downloads_lock:
            if key in self.downloads:
                raise ModelMissingError(f"“{preset.label}” is already being downloaded.")
            self.downloads[key] = control = control or DownloadControl()
        try:
            found = self.files.preset_files(preset, online=True)
            download_files(list(found.files), control, preset.label, preset.license)
        finally:
            with self._downloads_lock:
                self.downloads.pop(key, None)
        return str(repo_storage(preset.repo) / "snapshots")

    def cancel_download(self, task: str, preset_name: str) -> bool:
        """Stop a download of the preset in progress (its parts stay for the next try)."""
        preset = self.preset(task, preset_name)
        key = (preset.repo, preset.revision, preset.variant, str(preset.lora), str(preset.ip_adapter))
        with self._downloads_lock:
            control = self.downloads.get(key)
        if control:
            control.cancel.set()
        return control is not None

    def removal(self, task: str, preset_name: str) -> tuple[list[Path], int]:
        """(files, bytes) removing the preset's weights would delete and free: none another preset reads."""
        return self.files.removal(self.preset(task, preset_name), self.all_presets())

    def remove(self, task: str, preset_name: str) -> int:
        """Delete the preset's files that no other preset reads; returns the bytes freed."""
        preset = self.preset(task, preset_name)
        blobs, freed = self.removal(task, preset_name)
        self.files.remove(preset, blobs)
        self._sizes = {k: v for k, v in self._sizes.items() if k[1] != preset_name}
        return freed


def _looks_missing(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(s in text for s in ("does not appear to have", "not found", "couldn't connect", "offline",
                                   "no such file", "localentrynotfound", "cannot find", "is not a local folder",
                                   "repository not found", "outgoing traffic has been disabled"))
