"""Model presets: data in presets/models/<task>.toml, read with tomllib, checked strictly.

A preset names a model for one task and tier: where its weights come from (a hub id and
revision, a local folder, or a tiny random-weight family built on this machine), the dtype it
prefers, its license, and the request defaults and limits that suit it. Unknown keys are an
error, so a typo in a preset file never silently does nothing.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pipelines.errors import PresetError

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
TIERS = ("tiny", "cpu", "standard", "quality")
LIMIT_KEYS = {
    "min_size", "max_size", "size_multiple", "max_batch", "max_steps", "max_pixels",
    "max_frames", "frame_rule", "max_duration_s", "max_chars", "max_prompt_chars", "modes", "min_duration_s",
    "work_size", "max_chunk_chars", "timesteps",
}


@dataclass(frozen=True)
class ModelPreset:
    """One entry of a presets/models/<task>.toml file."""

    name: str
    task: str
    label: str
    tier: str
    family: str
    license: str
    commercial_use: bool
    repo: str | None = None          # hub id, loaded through the HF cache
    revision: str = "main"
    local_dir: str | None = None     # a folder in the on-disk layout of a download
    tiny: str | None = None          # tiny family built locally with random weights
    variant: str | None = None       # weights variant on the hub ("fp16")
    weight_file: str = ""            # one checkpoint file in the repo or folder (upscalers read with spandrel)
    gated: bool = False              # the hub asks to accept its licence first (a token then fetches it)
    dtype: str = "auto"              # what the model prefers on a GPU: auto, fp16, bf16, fp32
    license_url: str = ""
    notes: str = ""
    fast: bool = False               # a few-step preset
    preview: str | None = None       # a preview_decoder preset for live previews
    lora: dict[str, Any] = field(default_factory=dict)  # a few-step adapter fused at load (pipelines/lora.py)
    ip_adapter: dict[str, Any] = field(default_factory=dict)  # image-prompt adapter loaded at load (pipelines/ip_adapter.py)
    openvino: dict[str, Any] = field(default_factory=dict)  # OpenVINO options on a CPU: {weights = "int8"}
    defaults: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    # Classifier presets only: which labels mean "generated", and the calibrated score bands.
    detector: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """Where the weights come from, as a person would write it."""
        if self.tiny:
            return f"tiny random-weight {self.tiny} (built locally)"
        if self.local_dir:
            return self.local_dir
        return f"{self.repo}@{self.revision}"

    @property
    def model_id(self) -> str:
        return self.repo or self.local_dir or f"tiny/{self.tiny}"

    def limit(self, key: str, default: Any = None) -> Any:
        return self.limits.get(key, default)


_KEYS = {f.name for f in fields(ModelPreset)} - {"name", "task"}
_REQUIRED = {"label", "tier", "family", "license", "commercial_use"}


def parse_presets(task: str, data: dict[str, Any], request_fields: set[str] | None = None) -> dict[str, ModelPreset]:
    """Turn the TOML tables of one task into presets; raise `PresetError` on anything unknown."""
    presets = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise PresetError(f"{task}: preset {name!r} must be a table")
        unknown = set(entry) - _KEYS
        if unknown:
            raise PresetError(f"{task}: preset {name!r} has unknown keys {sorted(unknown)}")
        missing = _REQUIRED - set(entry)
        if missing:
            raise PresetError(f"{task}: preset {name!r} lacks {sorted(missing)}")
        sources = [k for k in ("repo", "local_dir", "tiny") if entry.get(k)]
        if len(sources) != 1:
            raise PresetError(f"{task}: preset {name!r} needs exactly one of repo, local_dir, tiny")
        if entry["tier"] not in TIERS:
            raise PresetError(f"{task}: preset {name!r} has tier {entry['tier']!r}; tiers are {TIERS}")
        bad_limits = set(entry.get("limits", {})) - LIMIT_KEYS
        if bad_limits:
            raise PresetError(f"{task}: preset {name!r} has unknown limits {sorted(bad_limits)}")
        if "ip_adapter" in entry:
            from pipelines.ip_adapter import check_spec

            check_spec(f"{task}: preset {name!r}", entry["ip_adapter"])
        if "openvino" in entry:
            from pipelines.openvino_backend import check_options

            check_options(f"{task}: preset {name!r}", entry["openvino"])
        if request_fields is not None:
            bad_defaults = set(entry.get("defaults", {})) - request_fields
            if bad_defaults:
                raise PresetError(f"{task}: preset {name!r} has defaults that are not request fields: {sorted(bad_defaults)}")
        presets[name] = ModelPreset(name=name, task=task, **entry)
    return presets


def load_presets(task: str, request_fields: set[str] | None = None, presets_dir: Path = PRESETS_DIR) -> dict[str, ModelPreset]:
    """Read presets/models/<task>.toml."""
    path = presets_dir / "models" / f"{task}.toml"
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise PresetError(f"no preset file for task {task!r} ({path})") from None
    except tomllib.TOMLDecodeError as e:
        raise PresetError(f"{path}: {e}") from None
    return parse_presets(task, data, request_fields)


@dataclass(frozen=True)
class StylePreset:
    name: str
    label: str
    prompt: str = "{prompt}"       # template; {prompt} is the visitor's text
    negative_prompt: str = ""

    def apply(self, prompt: str, negative_prompt: str) -> tuple[str, str]:
        """The prompts as sent to the model."""
        styled = self.prompt.replace("{prompt}", prompt)
        negative = ", ".join(p for p in (negative_prompt.strip(), self.negative_prompt) if p)
        return styled, negative


def load_styles(presets_dir: Path = PRESETS_DIR) -> dict[str, StylePreset]:
    """Read presets/styles.toml; unknown keys are an error."""
    with open(presets_dir / "styles.toml", "rb") as f:
        data = tomllib.load(f)
    allowed = {f.name for f in fields(StylePreset)} - {"name"}
    styles = {}
    for name, entry in data.items():
        unknown = set(entry) - allowed
        if unknown:
            raise PresetError(f"style {name!r} has unknown keys {sorted(unknown)}")
        if "{prompt}" not in entry.get("prompt", "{prompt}"):
            raise PresetError(f"style {name!r}: its prompt template must contain {{prompt}}")
        styles[name] = StylePreset(name=name, **entry)
    return styles
