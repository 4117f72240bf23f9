"""Storyboard templates: presets/storyboard_templates.toml, read with tomllib and checked strictly."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from pipelines.errors import PresetError
from pipelines.presets import PRESETS_DIR


@dataclass(frozen=True)
class Template:
    """A starting script and the board settings that suit it."""

    name: str
    label: str
    script: str = ""
    style: str = "storyboard-sketch"
    look: str = ""
    motion: str = "none"


def load_templates(path: Path = PRESETS_DIR / "storyboard_templates.toml") -> dict[str, Template]:
    """The templates by name; an unknown key or a missing label is a `PresetError`."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    allowed = {f.name for f in fields(Template)} - {"name"}
    templates = {}
    for name, entry in data.items():
        unknown = set(entry) - allowed
        if unknown:
            raise PresetError(f"storyboard template {name!r} has unknown keys {sorted(unknown)}")
        if "label" not in entry:
            raise PresetError(f"storyboard template {name!r} lacks a label")
        templates[name] = Template(name=name, **entry)
    return templates
