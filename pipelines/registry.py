"""Task registry: a plain dict of task name -> module, imported only when first used.

A task module defines `Request` (a dataclass), `load(source, device, dtype, runtime, **kwargs)
-> (pipe, notices)`, `run(pipe, request, progress) -> Result` and `CONTRACT`, a
`pipelines.contract.Task` declaring its artifacts and optional capabilities; see
pipelines/contract.py and pipelines/text_to_image.py. Importing a task module does not import torch.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from pipelines.contract import Task

TASKS: dict[str, str] = {
    "text_to_image": "pipelines.text_to_image",
    "preview_decoder": "pipelines.preview_decoder",
    "fill": "pipelines.fill",
    "variation": "pipelines.variation",
    "upscale": "pipelines.upscale",
    "control": "pipelines.control",
    "speech": "pipelines.speech",
    "music": "pipelines.music", "sound_effects": "pipelines.sound_effects",
    "video": "pipelines.video",
    "tagging": "pipelines.tagging",
    "detect_image": "pipelines.detect_image", "detect_audio": "pipelines.detect_audio",
    "transcribe": "pipelines.transcribe", "translate": "pipelines.translate",
    "dubbing": "pipelines.dubbing",
}


def task_module(task: str) -> ModuleType:
    """The module implementing `task`."""
    try:
        return importlib.import_module(TASKS[task])
    except KeyError:
        raise KeyError(f"unknown task {task!r}; known: {sorted(TASKS)}") from None


def contract(task: str) -> Task:
    """The task's declared contract (pipelines/contract.py)."""
    return task_module(task).CONTRACT


def request_fields(task: str) -> set[str]:
    """Names of the fields a caller sets on the task's request (preset defaults must be among them)."""
    return contract(task).field_names()
