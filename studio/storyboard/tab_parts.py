"""The Storyboard tab's panels, built inside the tab's layout (Gradio only; the tab wires them)."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from studio.storyboard import view
from studio.storyboard.board import MOTIONS
from studio.storyboard.service import MUSIC_TASK, VOICE_TASK
from studio.widgets import model_picker

DIALOGUE_HELP = "One line each: `ANNA: Who's there?`; a line without a speaker is the narrator's."


def build_editor() -> SimpleNamespace:
    """Edit, regenerate, insert, delete and move one shot."""
    with gr.Accordion("Edit a shot", open=False) as box:
        with gr.Row():
            number = gr.Number(value=1, precision=0, minimum=1, label="Shot #", elem_id="sb-shot-number")
            camera = gr.Textbox(label="Camera note", placeholder="close-up, slow push in")
            duration = gr.Number(value=3.0, label="Seconds")
            motion = gr.Dropdown(list(MOTIONS), value="none", label="Animatic move")
        prompt = gr.Textbox(label="What the shot shows (its prompt)", lines=2, elem_id="sb-shot-prompt")
        dialogue = gr.Textbox(label="Dialogue", lines=3, info=DIALOGUE_HELP)
        with gr.Row():
            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
            locked = gr.Checkbox(label="Lock this seed (regenerating keeps it)", value=False)
        with gr.Row():
            save = gr.Button("Save shot")
            regenerate = gr.Button("Regenerate this panel", variant="primary", elem_id="sb-regenerate")
            delete = gr.Button("Delete shot", variant="stop")
        with gr.Row():
            new_prompt = gr.Textbox(label="New shot after this one", placeholder="what the new shot shows")
            insert = gr.Button("Insert")
            move_to = gr.Number(value=1, precision=0, minimum=1, label="Move to position")
            move = gr.Button("Move")
        params = gr.JSON(label="This panel's exact parameters")
    return SimpleNamespace(box=box, number=number, camera=camera, duration=duration, motion=motion, prompt=prompt,
                           dialogue=dialogue, seed=seed, locked=locked, save=save, regenerate=regenerate,
                           delete=delete, new_prompt=new_prompt, insert=insert, move_to=move_to, move=move,
                           params=params)


def build_sound(studio) -> SimpleNamespace:
    """Voice-over (one voice per speaker) and the music bed."""
    with gr.Accordion("Voice-over and music", open=False):
        voice_model, voice_license = model_picker(studio, VOICE_TASK)
        voices = gr.Textbox(label="Voices (one per line: SPEAKER = voice; empty: assigned for you)", lines=3)
        with gr.Row():
            make_voices = gr.Button("Make the voice-over", variant="primary", elem_id="sb-voices")
            fit = gr.Button("Fit shots to dialogue")
        music_model, music_license = model_picker(studio, MUSIC_TASK)
        music_prompt = gr.Textbox(label="Music bed", placeholder="slow tense strings, low drones, 70 bpm")
        music_level = gr.Slider(-30, 0, value=-12, step=1, label="Music under the voices (dB)")
        make_music = gr.Button("Make the music bed", elem_id="sb-music")
    return SimpleNamespace(voice_model=voice_model, voice_license=voice_license, voices=voices,
                           make_voices=make_voices, fit=fit, music_model=music_model, music_license=music_license,
                           music_prompt=music_prompt, music_level=music_level, make_music=make_music)


def build_export() -> SimpleNamespace:
    """Exports (each signed, with its panels and takes as ingredients), the visitor's list, sharing."""
    with gr.Accordion("Export and share", open=True):
        with gr.Row():
            pdf = gr.Button("PDF contact sheet", elem_id="sb-pdf")
            zip_ = gr.Button("ZIP of panels", elem_id="sb-zip")
            animatic = gr.Button("Animatic MP4", elem_id="sb-animatic")
        file = gr.File(label="Export (signed Content Credentials)", interactive=False, elem_id="sb-file")
        player = gr.Video(label="Animatic", interactive=False, elem_id="sb-player")
        table = gr.Dataframe(headers=view.EXPORT_HEADERS, value=[], interactive=False, max_height=240,
                             label="Your storyboard exports (select one)", elem_id="sb-exports")
        params = gr.JSON(label="Exact parameters of the selected export")
        with gr.Row():
            share = gr.Button("Make a read-only share link")
            unshare = gr.Button("Stop sharing")
        link = gr.Textbox(label="Share link", interactive=False, buttons=["copy"], elem_id="sb-share-link")
    return SimpleNamespace(pdf=pdf, zip=zip_, animatic=animatic, file=file, player=player, table=table,
                           params=params, share=share, unshare=unshare, link=link)


def build_shared() -> SimpleNamespace:
    """A board someone shared: read-only."""
    with gr.Accordion("Open a shared board (read-only)", open=False) as box:
        with gr.Row():
            link = gr.Textbox(label="Share link or token", scale=4, elem_id="sb-shared-link")
            open_ = gr.Button("Open", scale=1)
        summary = gr.Markdown(elem_id="sb-shared-summary")
        panels = gr.Gallery(label="Shared panels", columns=4, height=300, preview=False, interactive=False,
                            elem_id="sb-shared-panels")
        table = gr.Dataframe(headers=view.SHOT_HEADERS, value=[], interactive=False, wrap=True, max_height=240)
        files = gr.File(label="Its exports", file_count="multiple", interactive=False)
    return SimpleNamespace(box=box, link=link, open=open_, summary=summary, panels=panels, table=table, files=files)


def base_url(request: gr.Request | None) -> str:
    """The studio's address as the visitor reached it (behind a proxy too), for share links."""
    headers = getattr(request, "headers", None) or {}
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860"
    proto = headers.get("x-forwarded-proto") or "http"
    return f"{proto}://{host}/"
