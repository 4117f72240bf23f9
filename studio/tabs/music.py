"""The Music tab: MusicGen from a prompt, optionally following an uploaded or recorded melody.

The tab is built from the task's contract (studio/task_tab.py): the melody is the request's audio
upload, probed and checked by the detector like every input. This module says how the fields look
and keeps the API's parameter order.
"""
from __future__ import annotations

import gradio as gr

from studio.service import Studio
from studio.tabs.sound_effects import duration_info
from studio.task_tab import CONFIRMED, Look, TabSpec, build_task_tab
from studio.widgets import TabHandle

TASK = "music"
ORDER = ("prompt", "model", "melody_path", CONFIRMED, "seed", "duration_s", "guidance", "temperature", "top_k",
         "loudness_lufs")


def stage_text(event) -> str:
    if event.stage == "seconds of music":
        return f"⏳ composing: {event.done:.1f} of {event.total:.1f} s of music"
    return f"⏳ {event.stage}…"


def spec(studio: Studio) -> TabSpec:
    """How the Music tab shows its task."""
    looks = {
        "prompt": Look(label="Prompt (genre, mood, instruments, tempo)", elem_id="music-prompt",
                       placeholder="warm lo-fi hip hop, mellow Rhodes, brushed drums, 80 bpm, rainy"),
        "melody_path": Look(label="Melody to follow (optional; MusicGen Melody presets)", elem_id="music-melody"),
        "duration_s": Look(label="Duration (seconds)", info=lambda p: duration_info(p, 30.0), step=0.5,
                           elem_id="music-duration"),
        "guidance": Look(label="Guidance (1 = none)", lo=1, hi=15, step=0.5),
        "temperature": Look(label="Temperature", lo=0.05, hi=3.0, step=0.05),
        "top_k": Look(label="Top-k (0 = off)", lo=0, hi=2048),
        "loudness_lufs": Look(label="Loudness of the file (LUFS)", lo=-30, hi=-6, step=0.5),
    }
    return TabSpec(TASK, "Music", "music", "generate_music", "cancel_music", run_label="Compose", order=ORDER,
                   looks=looks, stage_text=stage_text, submit=False,
                   api_names={"melody_path": "melody", CONFIRMED: "confirm", "duration_s": "duration",
                              "loudness_lufs": "loudness"})


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    return build_task_tab(studio, session_state, TASK, spec(studio))
