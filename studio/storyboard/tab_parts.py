"""The Storyboard tab's parts, built inside the tab's layout (Gradio only; the tab wires them to
the handlers in studio.storyboard.handlers)."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from studio.storyboard import view
from studio.storyboard.board import FPS_CHOICES, MOTIONS, SEED_POLICIES
from studio.storyboard.events import MUSIC_TASK, PANEL_TASK, VOICE_TASK
from studio.storyboard.script import DEFAULT_DURATION_S
from studio.storyboard.service import frame_size
from studio.widgets import model_picker

DIALOGUE_HELP = "One line each: `ANNA: Who's there?`; a line without a speaker is the narrator's."
CONFIRM_REFERENCE = "Use the reference even if the AI-content check flags it (I have the right to use it)"
SCRIPT_HELP = ("One shot per line, or markdown: `## scene`, `- [close-up, 3s] shot`, `ANNA: dialogue`, "
               "`> narration`. A leading `CU:`/`WIDE -` is the camera note; `(2.5s)` the duration.")


def build_boards(templates) -> SimpleNamespace:
    """The visitor's boards (pick, delete) and a new board from a script or a template."""
    boards = gr.Dropdown([], value=None, label="Your boards", allow_custom_value=True, elem_id="sb-boards")
    with gr.Row():
        sure = gr.Checkbox(label="Yes, delete this board", value=False, elem_id="sb-delete-sure")
        delete = gr.Button("Delete board", variant="stop", size="sm", elem_id="sb-delete-board")
    with gr.Accordion("New board from a script", open=True):
        template = gr.Dropdown([(t.label, t.name) for t in templates.values()], value="blank",
                               label="Start from a template")
        title = gr.Textbox(label="Title", placeholder="Taken from the first scene heading if empty")
        script = gr.Textbox(label="Script or shot list", lines=10, info=SCRIPT_HELP, elem_id="sb-script")
        create = gr.Button("Create board", variant="primary", elem_id="sb-create")
    return SimpleNamespace(boards=boards, sure=sure, delete=delete, template=template, title=title, script=script,
                           create=create)


def build_settings(studio, styles, preset, hint: str) -> SimpleNamespace:
    """How every panel of the board is made: style, look, model, seeds, size, timing, the reference."""
    with gr.Accordion("Board settings", open=False):
        style = gr.Dropdown([(s.label, s.name) for s in styles.values()], value="storyboard-sketch",
                            label="Style (applied to every shot)")
        look = gr.Textbox(label="Look notes added to every shot", placeholder="Anna: yellow raincoat")
        model, license_md = model_picker(studio, PANEL_TASK)
        with gr.Row():
            seed_policy = gr.Radio(list(SEED_POLICIES), value="same", label="Seed policy")
            seed = gr.Number(value=None, precision=0, minimum=0, label="Board seed (empty: random)")
        size = frame_size(preset)
        with gr.Row():
            width = gr.Number(value=size[0], precision=0, step=8, label="Width")
            height = gr.Number(value=size[1], precision=0, step=8, label="Height")
            steps = gr.Number(value=preset.defaults.get("steps", 25), precision=0, label="Steps")
        with gr.Row():
            duration = gr.Number(value=DEFAULT_DURATION_S, label="Shot length when unwritten (s)")
            motion = gr.Dropdown(list(MOTIONS), value="none", label="Camera move when unwritten")
            fps = gr.Dropdown(list(FPS_CHOICES), value=24, label="Animatic fps")
        reference = gr.File(label="Character or style reference image (optional)", type="filepath",
                            file_types=["image"], elem_id="sb-reference")
        gr.Markdown(hint, elem_id="sb-reference-hint")
        strength = gr.Slider(0, 1, value=0.6, step=0.05, label="Reference strength",
                             info="0: ignore it · 0.5-0.7: the prompt stays in charge · 1: follow it closely")
        confirm = gr.Checkbox(label=CONFIRM_REFERENCE, value=False)
        apply = gr.Button("Apply settings to this board")
    parts = SimpleNamespace(style=style, look=look, model=model, license_md=license_md, seed_policy=seed_policy,
                            seed=seed, width=width, height=height, steps=steps, duration=duration, motion=motion,
                            fps=fps, reference=reference, strength=strength, confirm=confirm, apply=apply)
    parts.inputs = [style, look, model, seed_policy, seed, width, height, steps, fps]  # BoardTab.settings_of's order
    return parts


def build_board_view() -> SimpleNamespace:
    """The open board: status line, summary, panels, the run's buttons and the shot table."""
    status = gr.Markdown(elem_id="sb-status", elem_classes=["studio-status"])
    summary = gr.Markdown(view.summary_markdown(None), elem_id="sb-summary")
    panels = gr.Gallery(label="Panels", columns=3, height=420, elem_id="sb-panels", preview=False,
                        interactive=False, buttons=["download", "fullscreen"])
    with gr.Row():
        generate = gr.Button("Generate all panels", variant="primary", elem_id="sb-generate")
        only_missing = gr.Checkbox(label="Only shots without an up-to-date panel", value=False)
        cancel = gr.Button("Cancel", variant="stop", elem_id="sb-cancel")
    # "board:run:n" of the panel run under way: each change makes one more panel (BoardTab.on_next)
    chain = gr.Textbox(value="", visible="hidden", elem_id="sb-chain")
    table = gr.Dataframe(headers=view.SHOT_HEADERS, value=[], interactive=False, wrap=True,
                         max_height=300, label="Shots (select one to edit it)", elem_id="sb-shots")
    return SimpleNamespace(status=status, summary=summary, panels=panels, generate=generate,
                           only_missing=only_missing, cancel=cancel, chain=chain, table=table)


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
            burn = gr.Checkbox(label="Burn subtitles into the picture", value=False, elem_id="sb-burn",
                               info="Off: a subtitle track players can switch on and off")
        file = gr.File(label="Export (signed Content Credentials)", interactive=False, elem_id="sb-file")
        player = gr.Video(label="Animatic", interactive=False, elem_id="sb-player")
        subtitles = gr.File(label="The animatic's subtitles (SRT, WebVTT; each with its .c2pa credentials)",
                            file_count="multiple", interactive=False, elem_id="sb-subtitles")
        table = gr.Dataframe(headers=view.EXPORT_HEADERS, value=[], interactive=False, max_height=240,
                             label="Your storyboard exports (select one)", elem_id="sb-exports")
        params = gr.JSON(label="Exact parameters of the selected export")
        with gr.Row():
            share = gr.Button("Make a read-only share link")
            unshare = gr.Button("Stop sharing")
        link = gr.Textbox(label="Share link", interactive=False, buttons=["copy"], elem_id="sb-share-link")
    return SimpleNamespace(pdf=pdf, zip=zip_, animatic=animatic, burn=burn, file=file, player=player,
                           subtitles=subtitles, table=table, params=params, share=share, unshare=unshare, link=link)


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


def reference_hint(service) -> str:
    """Which board models can follow the reference image."""
    names = service.reference_models()
    follow = ", ".join(f"`{n}`" for n in names) if names else "none on this studio"
    return (f"Models that follow the reference (IP-Adapter): {follow}. With other models it is recorded as an "
            "ingredient of every panel but does not steer the images.")
