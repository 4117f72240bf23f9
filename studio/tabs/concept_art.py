"""The Concept art tab: text to image, with styles, seeds, a gallery and "reuse these settings".

The tab is built from the task's contract (studio/task_tab.py); this module says how the fields it
knows look and keeps its API's parameter order. Fields it does not name (a reference image and its
strength, say) are laid out by the generic code, by their kind, after the ones it knows.
"""
from __future__ import annotations

import gradio as gr

from pipelines.presets import load_styles
from pipelines.text_to_image import scheduler_choices
from studio.service import Studio
from studio.task_tab import Look, TabSpec, build_task_tab
from studio.widgets import TabHandle

TASK = "text_to_image"
ORDER = ("prompt", "negative_prompt", "style", "model", "seed", "steps", "guidance", "width", "height", "batch",
         "scheduler")
# Filled in by the studio from the style presets (recorded in the parameters), never typed by a visitor.
HIDDEN = frozenset({"styled_prompt", "styled_negative"})


def stage_text(event) -> str:
    if event.preview:
        return f"Denoising {int(event.done)}/{int(event.total)}…"
    return f"{event.stage.capitalize()}…"


def spec(studio: Studio) -> TabSpec:
    """How the Concept art tab shows its task."""
    styles = [(s.label, s.name) for s in load_styles().values()]
    looks = {
        "prompt": Look(label="Prompt", placeholder="a lighthouse on a cliff at dusk, storm clouds"),
        "negative_prompt": Look(label="Negative prompt", placeholder="blurry, text, watermark", lines=1),
        "style": Look(label="Style", choices=styles),
        "steps": Look(label="Steps", lo=1, hi=lambda p: p.limit("max_steps", 150)),
        "guidance": Look(label="Guidance", lo=0, hi=30, step=0.5),
        "width": Look(label="Width (px)", step=8),
        "height": Look(label="Height (px)", step=8),
        "batch": Look(label="Batch", lo=1, hi=8),
        "scheduler": Look(label="Scheduler", choices=lambda p: scheduler_choices(p.family), settings=True),
    }
    return TabSpec(TASK, "Concept art", "t2i", "generate_image", "cancel_image", order=ORDER, looks=looks,
                   hidden=HIDDEN, reuse_fixed={"batch": 1}, stage_text=stage_text)


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    return build_task_tab(studio, session_state, TASK, spec(studio))
