"""The Sound effects tab: Stable Audio Open or AudioLDM 2 from a prompt and a negative prompt.

The tab is built from the task's contract (studio/task_tab.py); this module only says how its fields
look (labels, ranges that depend on the chosen model) and keeps its API's parameter order.
"""
from __future__ import annotations

import gradio as gr

from studio.service import Studio
from studio.task_tab import Look, TabSpec, build_task_tab
from studio.widgets import TabHandle

TASK = "sound_effects"
ORDER = ("prompt", "negative_prompt", "model", "seed", "duration_s", "steps", "guidance", "loudness_lufs")


def duration_info(preset, default_max: float = 10.0) -> str:
    """The duration range the model takes (checked by the request, so API callers get it too)."""
    return f"0.5 to {float(preset.limit('max_duration_s', default_max)):g} s with this model"


def spec(studio: Studio) -> TabSpec:
    """How the Sound effects tab shows its task."""
    # The steps slider spans every preset; the request checks the chosen model's own limit.
    most_steps = max(p.limit("max_steps", 500) for p in studio.models.presets(TASK).values())
    looks = {
        "prompt": Look(label="Prompt", elem_id="sfx-prompt",
                       placeholder="heavy wooden door creaks open in a stone hall, distant echo"),
        "negative_prompt": Look(label="Negative prompt", placeholder="music, speech, low quality", lines=1),
        "duration_s": Look(label="Duration (seconds)", info=duration_info, step=0.5, elem_id="sfx-duration"),
        "steps": Look(label="Steps", lo=1, hi=most_steps,
                      info=lambda p: f"1 to {p.limit('max_steps', 500)} with this model"),
        "guidance": Look(label="Guidance", lo=0, hi=20, step=0.5),
        "loudness_lufs": Look(label="Loudness of the file (LUFS)", lo=-30, hi=-6, step=0.5),
    }
    return TabSpec(TASK, "Sound effects", "sfx", "generate_sound_effect", "cancel_sound_effect", order=ORDER,
                   looks=looks, api_names={"duration_s": "duration", "loudness_lufs": "loudness"})


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    return build_task_tab(studio, session_state, TASK, spec(studio))
