"""Task registry: a plain dict of task name -> module, imported only when first used.

A task module defines `Request` (a dataclass), `load(source, device, dtype, preset)` and
`run(pipe, request, progress) -> Result`; see pipelines/text_to_image.py.
"""
from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

TASKS: dict[str, str] = {
    "text_to_image": "pipelines.text_to_image",
    "preview_decoder": "pipelines.preview_decoder",
    "fill": "pipelines.fill",
    "speech": "pipelines.speech",
    "music": "pipelines.music", "sound_effects": "pipelines.sound_effects",
    "video": "pipelines.video",
    "detect_image": "pipelines.detect_image", "detect_audio": "pipelines.detect_audio",
}


def task_module(task: str) -> ModuleType:
    """The module implementing `task`."""
    try:
        return importlib.import_module(TASKS[task])
    except KeyError:
        raise KeyError(f"unknown task {task!r}; known: {sorted(TASKS)}") from None


def request_fields(task: str) -> set[str]:
    """Names of the fields of the task's request type (preset defaults must be among them)."""
    return {f.name for f in dataclasses.fields(task_module(task).Request)}
