"""The Video tab: short clips from text or from a still (an upload or one of my images).

The model picker decides which modes are offered; what will be made (frame count, duration,
size) is shown before the run, so rounding to the model's rules is never a surprise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from pipelines import video
from pipelines.errors import InputError, StudioError
from pipelines.media import InputFile
from pipelines.presets import ModelPreset
from pipelines.uploads import IMAGE_KINDS
from studio.sessions import Session, ensure
from studio.service import Studio
from studio.widgets import (TabHandle, action_row, default_preset, form_number, license_markdown, model_picker,
                            pick_item, resolve_seed, seed_controls, status_markdown, stream_job, wire_cancel, wire_run)

TASK = "video"
MODE_CHOICES = [("From text", "text"), ("From a still", "image")]
LENGTH_CHOICES = [("Frames", "frames"), ("Seconds", "seconds")]
# Stages as the visitor reads them; "signing" is where provenance encodes the MP4, then signs it.
STAGE_LABELS = {"signing": "encoding MP4 and signing", "checking inputs": "checking the still"}


def gallery_value(studio: Studio, session: Session) -> list[tuple[str, str]]:
    """The visitor's clips, newest first, as (path, caption)."""
    return [(i.path, i.caption) for i in studio.gallery.newest(session.id, TASK, pages=session.pages)]


def still_choices(studio: Studio, session: Session) -> list[tuple[str, str]]:
    """(caption, gallery id) of every image the visitor made, in any tab, newest first."""
    items = reversed(studio.gallery.list(session.id, mime_prefix="image/"))
    return [(f"{i.task.replace('_', ' ')} · {i.caption} · {i.id[:8]}", i.id) for i in items]


def resolve_still(studio: Studio, session: Session, mode: str, upload: str | None, still_id: str | None) -> str:
    """The still's path for mode "image": the upload (its own bytes, so its credentials can be
    read) or one of this visitor's gallery images; "" for mode "text"."""
    if mode != "image":
        return ""
    if upload:
        return upload
    if still_id:
        item = studio.gallery.get(session.id, still_id)
        if item is None or not item.mime.startswith("image/"):
            raise InputError("That image is not among your images (it may belong to another session); "
                             "upload it as the still instead.")
        return item.path
    raise InputError("Choose a still to animate: upload an image or pick one of your images.")


def plan_markdown(studio: Studio, model: str, width, height, length_by, frames, duration, fps) -> str:
    """What a run will make with these settings, or why it cannot, shown before the run."""
    try:
        preset = studio.models.preset(TASK, model)
        p = video.output_plan(preset, form_number(width), form_number(height),
                              form_number(frames) if length_by == "frames" else 0,
                              form_number(duration, float) if length_by == "seconds" else 0.0, form_number(fps))
    except StudioError as e:
        return f"⚠️ {e}"
    lines = [f"**Will make:** {p.describe()}"] + [f"ℹ️ {n}" for n in p.notices]
    return "  \n".join(lines)


def _mode_update(preset: ModelPreset, current: str | None) -> tuple[dict, str]:
    modes = preset.limit("modes", ["text"])
    value = current if current in modes else modes[0]
    return gr.update(choices=[c for c in MODE_CHOICES if c[1] in modes], value=value), value


@dataclass
class Still:
    """Where the still comes from: an upload or one of the visitor's images, with a preview."""

    group: Any
    file: Any
    pick: Any
    preview: Any
    confirmed: Any


def still_picker(visible: bool) -> Still:
    with gr.Group(visible=visible) as group:
        with gr.Row():
            file = gr.File(label="Still (upload)", file_types=["image"], type="filepath", height=110,
                           elem_id="video-still-file")
            pick = gr.Dropdown([], value=None, label="…or one of my images", allow_custom_value=True,
                               elem_id="video-still-pick")
        preview = gr.Image(label="Still", interactive=False, height=160, type="filepath")
        confirmed = gr.Checkbox(label="I have the right to use this still even if it looks AI-generated")
    return Still(group, file, pick, preview, confirmed)


def video_settings(preset: ModelPreset) -> dict[str, Any]:
    """Seed, length (by frames or seconds), frame rate, size, steps, guidance and motion."""
    d, by_frames = preset.defaults, bool(preset.defaults.get("frames"))
    w: dict[str, Any] = {}
    with gr.Accordion("Settings", open=True):
        w["seed_mode"], w["seed"] = seed_controls()
        with gr.Row():
            w["length_by"] = gr.Radio(LENGTH_CHOICES, value="frames" if by_frames else "seconds", label="Length by")
            w["frames"] = gr.Number(value=d.get("frames", 0) or 25, precision=0, minimum=0, label="Frames",
                                    visible=by_frames)
            w["duration"] = gr.Number(value=d.get("duration_s", 2.0), minimum=0, step=0.5, label="Duration (s)",
                                      visible=not by_frames)
            w["fps"] = gr.Number(value=d.get("fps", 24), precision=0, label="Frames per second")
        with gr.Row():
            step = preset.limit("size_multiple", 16)
            w["width"] = gr.Number(value=d.get("width", 704), precision=0, step=step, label="Width (px)")
            w["height"] = gr.Number(value=d.get("height", 480), precision=0, step=step, label="Height (px)")
        w["steps"] = gr.Slider(1, preset.limit("max_steps", 100), value=d.get("steps", 30), step=1, label="Steps")
        w["guidance"] = gr.Slider(0, 20, value=d.get("guidance", 3.0), step=0.5, label="Guidance")
        w["motion"] = gr.Slider(1, 255, value=d.get("motion", 127), step=1,
                                label="Motion (Stable Video Diffusion: higher moves more)",
                                visible=preset.family == "svd")
    return w


def first_plan(studio: Studio, preset: ModelPreset) -> str:
    d = preset.defaults
    return plan_markdown(studio, preset.name, d.get("width", 704), d.get("height", 480),
                         "frames" if d.get("frames") else "seconds", d.get("frames") or 25, d.get("duration_s", 2.0),
                         d.get("fps", 24))


def run_handler(studio: Studio):
    """The Generate event: the still resolved and the request checked now, then the job."""
    def run(session: Session, mode, prompt, negative_prompt, upload, still_id, confirmed, model, seed_mode, seed,
            steps, guidance, width, height, length_by, frames, duration, fps, motion, progress=gr.Progress()):
        session = ensure(session)
        try:
            if mode == "image" and upload:  # type, damage and pixels from the header, before decoding
                studio.probe_upload(upload, IMAGE_KINDS, "still")
            still = resolve_still(studio, session, mode, upload, still_id)
            request = video.Request(
                prompt=prompt or "", model=model, mode=mode, image_path=still, negative_prompt=negative_prompt or "",
                seed=resolve_seed(seed_mode, seed, session, TASK), steps=form_number(steps),
                guidance=form_number(guidance, float), width=form_number(width), height=form_number(height),
                frames=form_number(frames) if length_by == "frames" else 0,
                duration_s=form_number(duration, float) if length_by == "seconds" else 0.0, fps=form_number(fps),
                motion=form_number(motion))
            # A clear message now, not after the queue; an unusable still is refused here, before
            # it is examined as an upload.
            request = studio.checked(TASK, request)
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
        inputs = [InputFile(still, "inputTo", "still")] if still else []
        yield gr.update(), gr.update(), "⏳ Queued…", gr.update(), session
        for event in stream_job(studio, session, TASK, request, progress, inputs=inputs, confirmed=bool(confirmed)):
            if hasattr(event, "items"):
                session.last_seed[TASK] = request.seed
                newest = event.items[-1]
                yield (newest.path, gallery_value(studio, session), status_markdown(event),
                       {"id": newest.id, **newest.params}, session)
            else:
                yield (gr.update(), *progress_view(studio, session, event), gr.update(), session)

    return run


def progress_view(studio: Studio, session: Session, event) -> tuple:
    """(gallery, status) while a clip is made: its first frame as it stands, every few steps, in front
    of the visitor's clips."""
    stage = STAGE_LABELS.get(event.stage, event.stage)
    count = f" {int(event.done)}/{int(event.total)}" if event.total > 1 else ""
    caption = f"preview · first frame · step {int(event.done)}/{int(event.total)}"
    tiles = ([(event.preview, caption)] + gallery_value(studio, session)) if event.preview else gr.update()
    return tiles, f"⏳ {stage}{count}…"


def model_handler(studio: Studio):
    """A model change: its licence, the modes it offers, and its defaults and limits."""
    def on_model(name: str, current_mode: str):
        p = studio.models.preset(TASK, name)
        d = p.defaults
        mode_update, new_mode = _mode_update(p, current_mode)
        by_frames = bool(d.get("frames"))
        step = p.limit("size_multiple", 16)
        uses_prompt = p.family != "svd"
        prompt_update = gr.update(label="Prompt" if uses_prompt else "Prompt (not used: this model animates the "
                                  "still alone)", interactive=uses_prompt)
        return (license_markdown(studio, p), mode_update, gr.update(visible=new_mode == "image"), prompt_update,
                gr.update(value=d.get("steps", 30), maximum=p.limit("max_steps", 100)), d.get("guidance", 3.0),
                gr.update(value=d.get("width", 704), step=step), gr.update(value=d.get("height", 480), step=step),
                "frames" if by_frames else "seconds", gr.update(value=d.get("frames") or 25, visible=by_frames),
                gr.update(value=d.get("duration_s", 2.0), visible=not by_frames), d.get("fps", 24),
                gr.update(value=d.get("motion", 127), visible=p.family == "svd"))

    return on_model


def wire_still(studio: Studio, session_state: gr.State, still: Still) -> None:
    """An upload or a picked image shows in the preview and clears the other."""
    def on_pick(session: Session, still_id):
        session = ensure(session)
        item = studio.gallery.get(session.id, still_id) if still_id else None
        if item is None:
            return gr.update(), gr.update(), session
        return item.path, None, session

    still.file.upload(lambda path: (path, None), [still.file], [still.preview, still.pick], api_name=False,
                      queue=False)
    still.pick.input(on_pick, [session_state, still.pick], [still.preview, still.file, session_state],
                     api_name=False, queue=False)


def wire_view(studio: Studio, session_state: gr.State, tab, still: Still, sizing: list, plan_md, mode, length_by,
              frames, duration) -> None:
    """What is shown follows the choices: the plan, the still picker and the length's unit; opening the
    tab refreshes the visitor's images to pick from."""
    for component in sizing:
        component.change(lambda *values: plan_markdown(studio, *values), sizing, [plan_md], api_name=False,
                         queue=False)
    mode.change(lambda value: gr.update(visible=value == "image"), [mode], [still.group], api_name=False,
                queue=False)
    length_by.change(lambda value: (gr.update(visible=value == "frames"), gr.update(visible=value == "seconds")),
                     [length_by], [frames, duration], api_name=False, queue=False)

    def on_tab(session: Session, *values):
        session = ensure(session)
        return gr.update(choices=still_choices(studio, session)), plan_markdown(studio, *values), session

    tab.select(on_tab, [session_state, *sizing], [still.pick, plan_md, session_state], api_name=False, queue=False)


def select_handler(studio: Studio):
    def on_select(session: Session, evt: gr.SelectData):
        session = ensure(session)
        item = pick_item(studio, session, TASK, evt)
        if item is None:
            return gr.update(), None, session
        return item.path, {"id": item.id, **item.params}, session

    return on_select


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    preset = default_preset(studio, TASK)
    modes = preset.limit("modes", ["text"])
    with gr.Tab("Video", id=TASK) as tab:
        with gr.Row():
            with gr.Column(scale=2):
                mode = gr.Radio([c for c in MODE_CHOICES if c[1] in modes], value=modes[0], label="Make video",
                                elem_id="video-mode")
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id="video-prompt",
                                    placeholder="a paper boat drifting down a rain-soaked street, slow dolly shot")
                negative = gr.Textbox(label="Negative prompt", lines=1, placeholder="blurry, jitter, text")
                still = still_picker(modes[0] == "image")
                model, license_md = model_picker(studio, TASK)
                generate, cancel = action_row("Generate clip", "video-generate", "video-cancel")
                plan_md = gr.Markdown(first_plan(studio, preset), elem_id="video-plan")
                w = video_settings(preset)
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="video-status", elem_classes=["studio-status"])
                player = gr.Video(label="Clip", interactive=False, loop=True, height=360, elem_id="video-player")
                gallery = gr.Gallery(label="My clips", columns=4, height=260, elem_id="video-gallery",
                                     buttons=["download", "fullscreen"], preview=False, interactive=False)
                params = gr.JSON(label="Selected clip: id and exact parameters", elem_id="video-params")

        form = [mode, prompt, negative, still.file, still.pick, still.confirmed, model, w["seed_mode"], w["seed"],
                w["steps"], w["guidance"], w["width"], w["height"], w["length_by"], w["frames"], w["duration"],
                w["fps"], w["motion"]]
        run_event = wire_run(studio, run_handler(studio), [session_state, *form],
                             [player, gallery, status, params, session_state], status, generate, "generate_video",
                             submit=prompt)
        wire_cancel(studio, cancel, session_state, status, TASK, "cancel_video")
        model.change(model_handler(studio), [model, mode],
                     [license_md, mode, still.group, prompt, *[w[k] for k in ("steps", "guidance", "width", "height",
                      "length_by", "frames", "duration", "fps", "motion")]], api_name=False, queue=False)
        sizing = [model, *[w[k] for k in ("width", "height", "length_by", "frames", "duration", "fps")]]
        wire_view(studio, session_state, tab, still, sizing, plan_md, mode, w["length_by"], w["frames"], w["duration"])
        wire_still(studio, session_state, still)
        gallery.select(select_handler(studio), [session_state], [player, params, session_state], api_name=False,
                       queue=False)
    return TabHandle(tab, refresh=lambda session: gallery_value(studio, session), gallery=gallery, run_event=run_event)
