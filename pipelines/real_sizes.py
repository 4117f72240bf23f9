"""Real-size model footprints without the memory: published configs built on the meta device.

presets/configs/<org>--<name>/<component>/config.json holds the component configs a hub
repository publishes (unet or transformer, vae, text encoders, safety checker; `model` for a
single-model repository), each folder with a SOURCE.toml naming where the files were copied
from. `preset_footprint` builds every component with accelerate's `init_empty_weights` (the
real classes of diffusers and transformers, no tensor allocated) and returns its parameter
count and its bytes at the dtype the preset runs in on a GPU. Tests and bench/model_cache.py
drive the model cache with these sizes; bench/gpu_check.py builds the same configs for real.
"""
from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.presets import PRESETS_DIR, ModelPreset

CONFIGS_DIR = PRESETS_DIR / "configs"
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
# transformers classes that live in diffusers (a pipeline component with a transformers config)
_DIFFUSERS_TRANSFORMERS_CLASSES = {"StableDiffusionSafetyChecker"}


class MissingConfig(LookupError):
    """A preset whose published configs are not in presets/configs (the message says which)."""


@dataclass(frozen=True)
class ComponentSize:
    """One loaded component at real size."""

    name: str            # folder in the repository: unet, transformer, vae, text_encoder_2, model
    class_name: str      # the library class built from its config
    parameters: int      # unique parameters (tied weights counted once)
    nbytes: int          # parameters and buffers at the preset's dtype
    largest_leaf: int    # bytes of the largest module's own tensors: what sequential offload keeps resident


@dataclass(frozen=True)
class Footprint:
    """What loading one preset puts in memory."""

    preset: str
    repo: str
    dtype: str
    components: tuple[ComponentSize, ...]

    @property
    def parameters(self) -> int:
        return sum(c.parameters for c in self.components)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.components)

    def component(self, name: str) -> ComponentSize:
        """The component called `name` (KeyError when the repository has none)."""
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(f"{self.repo} has no component {name!r}")


def gpu_dtype(preset: ModelPreset) -> str:
    """The dtype a preset runs in on a CUDA GPU: its own preference, else fp16 (pipelines/device.py's
    rule on a GPU with bf16 support)."""
    return preset.dtype if preset.dtype in DTYPE_BYTES else "fp16"


def config_folder(repo: str) -> Path:
    """presets/configs/<org>--<name> for a hub repository id."""
    return CONFIGS_DIR / repo.replace("/", "--")


def has_configs(repo: str | None) -> bool:
    """True when the published configs of `repo` are copied into presets/configs."""
    return bool(repo) and any(config_folder(repo).glob("*/config.json"))


def component_configs(repo: str) -> dict[str, dict[str, Any]]:
    """Component name -> its published config, for every component folder of `repo`."""
    folder = config_folder(repo)
    configs = {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob("*/config.json"))}
    if not configs:
        raise MissingConfig(f"no published configs for {repo} in {folder}")
    return configs


def source_note(repo: str) -> dict[str, Any]:
    """The SOURCE.toml of `repo`'s configs: hub revision and where each file was copied from."""
    with open(config_folder(repo) / "SOURCE.toml", "rb") as f:
        return tomllib.load(f)


def build_on_meta(config: dict[str, Any]):
    """The real model class of `config`, built with empty (meta) weights: no memory, real shapes."""
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=True):
        return build_model(config)


def build_model(config: dict[str, Any]):
    """The real model class of a published config (diffusers or transformers), random weights,
    allocated on the current default device (bench/gpu_check.py builds under torch.device('cuda'))."""
    if "_class_name" in config:          # a diffusers model folder
        import diffusers

        return getattr(diffusers, config["_class_name"]).from_config(config)
    return _transformers_model(config)


def _transformers_model(config: dict[str, Any]):
    import transformers

    architecture = config["architectures"][0]
    fields = {k: v for k, v in config.items() if k not in ("architectures", "model_type")}
    model_config = transformers.AutoConfig.for_model(config["model_type"], **fields)
    if architecture in _DIFFUSERS_TRANSFORMERS_CLASSES:
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

        return StableDiffusionSafetyChecker(model_config)
    return getattr(transformers, architecture)(model_config)


def _tensor_bytes(tensors, width: int) -> int:
    """Bytes of tensors stored at a float width `width`; integer tensors keep their own width."""
    return sum(t.numel() * (width if t.is_floating_point() else t.element_size()) for t in tensors)


def measure(module, dtype: str) -> tuple[int, int, int]:
    """(unique parameters, bytes at `dtype`, largest single module's own bytes) of a module."""
    width = DTYPE_BYTES[dtype]
    params = {id(p): p for p in module.parameters()}
    buffers = {id(b): b for b in module.buffers()}
    n_params = sum(p.numel() for p in params.values())
    nbytes = _tensor_bytes(params.values(), width) + _tensor_bytes(buffers.values(), width)
    leaf = max(_tensor_bytes([*m.parameters(recurse=False), *m.buffers(recurse=False)], width)
               for m in module.modules())
    return n_params, nbytes, leaf


@functools.lru_cache(maxsize=None)
def _built(config_json: str):
    """A published config built once per process (T5-XXL recurs); meta tensors hold no memory."""
    return build_on_meta(json.loads(config_json))


def _component_size(config_json: str, dtype: str) -> tuple[str, int, int, int]:
    module = _built(config_json)
    return (type(module).__name__, *measure(module, dtype))


@functools.lru_cache(maxsize=None)
def repo_footprint(repo: str, dtype: str, preset_name: str = "") -> Footprint:
    """Every published component of `repo` built on the meta device, measured at `dtype`."""
    components = []
    for name, config in component_configs(repo).items():
        components.append(ComponentSize(name, *_component_size(json.dumps(config, sort_keys=True), dtype)))
    return Footprint(preset_name or repo, repo, dtype, tuple(components))


def preset_footprint(preset: ModelPreset, dtype: str | None = None) -> Footprint:
    """The loaded size of a hub preset at `dtype` (default: the dtype it runs in on a GPU).

    Raises `MissingConfig` for a preset without a hub repository, without copied configs, or
    with an image-prompt adapter (its image encoder's config is not copied).
    """
    if not preset.repo:
        raise MissingConfig(f"{preset.task}/{preset.name} is not a hub repository ({preset.reference})")
    if preset.ip_adapter:
        raise MissingConfig(f"{preset.task}/{preset.name}: the IP-Adapter's image encoder config is not copied")
    if not has_configs(preset.repo):
        raise MissingConfig(f"{preset.task}/{preset.name}: no published configs for {preset.repo} in {CONFIGS_DIR}")
    return repo_footprint(preset.repo, dtype or gpu_dtype(preset), preset.name)



def request_footprints(preset: ModelPreset, detector: ModelPreset | None = None) -> list[Footprint]:
    """What one request of `preset` loads, as separate cache entries: the model, the preview
    decoder preset it names (live previews are on by default), and `detector` if given (the
    classifier that scores the output at publish)."""
    from pipelines.presets import load_presets

    parts = [preset_footprint(preset)]
    if preset.preview:
        parts.append(preset_footprint(load_presets("preview_decoder")[preset.preview]))
    if detector is not None:
        parts.append(preset_footprint(detector))
    return parts

@dataclass(frozen=True)
class Placement:
    """How the model layer loads a preset of a given footprint on a CUDA device with `budget` bytes."""

    offload: str         # none, model (one component on the device at a time), sequential (one layer)
    resident: int        # bytes it keeps on the device: what the model cache charges for it
    read: int            # bytes read from disk to load it (all of it, whatever the offload)


def placement(preset: ModelPreset, budget: int, footprint: Footprint | None = None) -> Placement:
    """The model layer's own decision (`pipelines.models.plan_load`) for this preset's real sizes
    on a CUDA GPU with a cache of `budget` bytes, and what the cache is then charged for it
    (`charged_bytes`: the whole model, its largest component, or its largest layer)."""
    from pipelines.models import OFFLOADABLE_TASKS, plan_load

    fp = footprint or preset_footprint(preset)
    sizes = {c.name: c.nbytes for c in fp.components}
    plan = plan_load(preset, sizes, "cuda", fp.dtype, "none", budget, offloadable=preset.task in OFFLOADABLE_TASKS,
                     loadable_bytes=None)
    if plan.offload == "sequential":  # the layer size is known only once loaded: here, from the meta build
        resident = max(c.largest_leaf for c in fp.components)
    else:
        resident = fp.nbytes if plan.offload == "none" else max(sizes.values())
    return Placement(plan.offload, resident, fp.nbytes)
